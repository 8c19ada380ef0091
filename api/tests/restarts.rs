//! Stopping Switchboard while both sides of a bridged room talk loses no line and repeats none.
//! The whole application runs as `switchboard serve` wires it (every part: the IRC bot on a
//! private ngIRCd, the SMS processor, the bridge, the sender to the Twilio stand-in), and is
//! stopped the way SIGTERM stops it (`Application::run_until`'s signal) right after texts were
//! accepted and lines said on IRC, then started again on the same database, several times.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::TestApp;
use switchboard::app::Parts;
use testkit::irc::{IrcLine, IrcTestClient, Ngircd};
use testkit::twilio::{ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn};

const BOT: &str = "sbbot";
const CHANNEL: &str = "#lobby";
const NUMBER: &str = "+15550100000";
const DAVE: &str = "+15551230001";
const ERIN: &str = "+15551230002";
const ROUNDS: usize = 6;
const PER_ROUND: usize = 3;
const WAIT: Duration = Duration::from_secs(30);

/// Posts a text as Twilio would (signed); `true` when Switchboard accepted it (2xx).
async fn text(app: &TestApp, sid: u32, from: &str, body: &str) -> bool {
    let sid = format!("SM{sid:032x}");
    let (status, _) =
        app.post_signed("/sms/twilio", AUTH_TOKEN, &[("MessageSid", &sid), ("From", from), ("To", NUMBER), ("Body", body)]).await;
    (200..300).contains(&status)
}

fn from_bot(line: &IrcLine) -> Option<&str> {
    (line.nick() == Some(BOT) && line.command == "PRIVMSG").then(|| line.params.last().map(String::as_str)).flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_while_both_sides_talk_loses_and_repeats_no_line_across_the_bridge() {
    let ircd = Ngircd::start().await.expect("ngircd starts");
    let twilio = TwilioStandIn::start().await;
    // Olga watches the channel (there before the bot, so she sees it come and go); bob, an IRC
    // guest, talks on it.
    let mut olga = IrcTestClient::connect(ircd.port(), "olga").await.unwrap();
    olga.join(CHANNEL).await.unwrap();
    let mut app = TestApp::spawn_parts(Parts::ALL, |s| {
        s.irc.server = Some("127.0.0.1".into());
        s.irc.port = ircd.port();
        s.irc.nick = BOT.into();
        s.irc.burst_messages = 200;
        s.irc.burst_window_seconds = 1;
        s.twilio.account_sid = Some(ACCOUNT_SID.into());
        s.twilio.base_url = twilio.base_url.clone();
        s.twilio.messages_per_second = 0.0;
        s.twilio.guest_lines_per_hour = 0;
        s.api.twilio_auth_token = Some(api::Hidden::new(AUTH_TOKEN));
        s.server.restart_delay_ms = 200;
    })
    .await;
    let admin = app.member("alice").await;
    app.create_room(&admin, "lobby", Some(CHANNEL), Some(NUMBER)).await;
    olga.expect(WAIT, |l| l.command == "JOIN" && l.nick() == Some(BOT)).await.expect("the bot joins the channel");
    let mut bob = IrcTestClient::connect(ircd.port(), "bob").await.unwrap();
    bob.join(CHANNEL).await.unwrap();
    let mut sid = 0;
    for (phone, name) in [(DAVE, "dave"), (ERIN, "erin")] {
        sid += 1;
        assert!(text(&app, sid, phone, &format!("#join {name}")).await);
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while ![DAVE, ERIN].iter().all(|phone| twilio.sent().iter().any(|m| m.to == *phone)) {
        assert!(tokio::time::Instant::now() < deadline, "not both phones joined: {:?}", twilio.sent());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut accepted = Vec::new();
    let mut said = Vec::new();
    let mut seen: Vec<IrcLine> = Vec::new();
    for round in 0..ROUNDS {
        for n in 0..PER_ROUND {
            let body = format!("sms {round}.{n}");
            sid += 1;
            if text(&app, sid, DAVE, &body).await {
                accepted.push(body);
            }
            let line = format!("irc {round}.{n}");
            bob.privmsg(CHANNEL, &line).await.unwrap();
            said.push(line);
        }
        // Stopped while the texts are still on their way to the channel and the lines to the
        // phones, at a different moment each round.
        tokio::time::sleep(Duration::from_millis(30 * round as u64)).await;
        app.restart().await;
        olga.expect(WAIT, |l| l.command == "JOIN" && l.nick() == Some(BOT)).await.expect("the bot is back on the channel");
        seen.extend(olga.drain());
    }
    assert_eq!(accepted.len(), ROUNDS * PER_ROUND, "every text was accepted");

    // Every accepted text said on the channel once; every line texted to each phone once, in
    // the order it was said.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        seen.extend(olga.drain());
        let on_irc: Vec<&str> = seen.iter().filter_map(from_bot).collect();
        let all_said = accepted.iter().all(|body| on_irc.contains(&format!("[dave] {body}").as_str()));
        let sent = twilio.sent();
        let all_texted = said
            .iter()
            .all(|line| [DAVE, ERIN].iter().all(|phone| sent.iter().any(|m| m.to == *phone && m.body == format!("[bob] {line}"))));
        if all_said && all_texted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lost across the restarts; said on IRC: {on_irc:?}; texted: {:?}",
            sent.iter().map(|m| (&m.to, &m.body)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything repeated would have arrived by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    seen.extend(olga.drain());
    let mut times_said: HashMap<&str, usize> = HashMap::new();
    for text in seen.iter().filter_map(from_bot) {
        *times_said.entry(text).or_default() += 1;
    }
    for body in &accepted {
        assert_eq!(times_said.get(format!("[dave] {body}").as_str()), Some(&1), "{body:?} said on IRC: {times_said:?}");
    }
    let sent = twilio.sent();
    for phone in [DAVE, ERIN] {
        let texted: Vec<&str> = sent.iter().filter(|m| m.to == phone && m.body.starts_with("[bob] ")).map(|m| m.body.as_str()).collect();
        let expected: Vec<String> = said.iter().map(|line| format!("[bob] {line}")).collect();
        assert_eq!(texted, expected.iter().map(String::as_str).collect::<Vec<_>>(), "texted to {phone}");
    }
    let to_erin: Vec<&str> = sent.iter().filter(|m| m.to == ERIN && m.body.starts_with("[dave] ")).map(|m| m.body.as_str()).collect();
    let expected: Vec<String> = accepted.iter().map(|body| format!("[dave] {body}")).collect();
    assert_eq!(to_erin, expected.iter().map(String::as_str).collect::<Vec<_>>(), "dave's texts to erin");
    assert_eq!(twilio.violations(), Vec::<String>::new());
    app.stop().await;
}
