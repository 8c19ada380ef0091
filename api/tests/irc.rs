//! The IRC gateway end to end: a real ngircd on loopback, the bot connected to it, scripted IRC
//! users, tokens issued through GraphQL, and the read models and audit log in PostgreSQL.

mod support;

use std::time::Duration;

use gateways::irc::bot::Bot;
use gateways::irc::settings::IrcSettings;
use serde_json::{Value, json};
use support::{Session, TestApp};
use testkit::irc::{IrcLine, IrcTestClient, Ngircd};
use tokio::sync::watch;

const BOT: &str = "sbbot";
const CHANNEL: &str = "#lobby";
const WAIT: Duration = Duration::from_secs(10);

struct World {
    app: TestApp,
    ircd: Ngircd,
    bot: Bot,
    room_id: String,
    admin: Session,
    _stop: watch::Sender<bool>,
}

/// An app with an admin (the first account), a room bound to `#lobby`, ngircd, and the bot
/// connected and on the channel.
async fn world() -> World {
    world_with(None).await
}

/// Like [`world`], the room also bound to an SMS number when given (a bridge).
async fn world_with(sms_number: Option<&str>) -> World {
    world_configured(sms_number, |_| {}).await
}

/// Like [`world_with`], with the bot's settings adjusted.
async fn world_configured(sms_number: Option<&str>, adjust: impl FnOnce(&mut IrcSettings)) -> World {
    let app = TestApp::spawn().await;
    let admin = app.member("alice").await;
    // The bot reads its channels from the rooms read model.
    let room_id = app.create_room(&admin, "lobby", Some(CHANNEL), sms_number).await;
    let ircd = Ngircd::start().await.expect("ngircd starts");
    let mut settings = IrcSettings {
        server: "127.0.0.1".into(),
        port: ircd.port(),
        nick: BOT.into(),
        reconnect_min: Duration::from_millis(200),
        reconnect_max: Duration::from_secs(1),
        burst_messages: 200,
        burst_window: Duration::from_secs(1),
        public_url: "http://switchboard.test".into(),
        ..IrcSettings::default()
    };
    adjust(&mut settings);
    let bot = Bot::start(settings, app.log(), app.app.read.clone());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(gateways::irc::connection::run(bot.clone(), stopped.clone()));
    tokio::spawn(gateways::irc::relay::run(bot.clone(), app.log(), stopped));
    let world = World { app, ircd, bot, room_id, admin, _stop: stop };
    wait_until(|| world.bot.has_joined(CHANNEL)).await;
    world
}

async fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "condition not met within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl World {
    async fn client(&self, nick: &str) -> IrcTestClient {
        IrcTestClient::connect(self.ircd.port(), nick).await.expect("an IRC client connects")
    }

    async fn joined(&self, nick: &str) -> IrcTestClient {
        let mut client = self.client(nick).await;
        client.join(CHANNEL).await.expect("joins the channel");
        client
    }

    async fn token(&self, session: &Session, purpose: &str) -> String {
        let data = self
            .app
            .data(Some(&session.token), "mutation($p: IrcTokenPurpose!) { issueIrcToken(purpose: $p) { token } }", json!({ "p": purpose }))
            .await;
        data["issueIrcToken"]["token"].as_str().unwrap().to_owned()
    }

    /// Registers the IRC identity and logs in, by private messages to the bot.
    async fn log_in(&self, client: &mut IrcTestClient, session: &Session) {
        let register = self.token(session, "REGISTER").await;
        client.privmsg(BOT, &format!(".register {register}")).await.unwrap();
        expect_from_bot(client, "registered").await;
        let login = self.token(session, "LOGIN").await;
        client.privmsg(BOT, &format!(".login {login}")).await.unwrap();
        expect_from_bot(client, "logged in").await;
    }

    /// Event types recorded in the room's stream, oldest first.
    async fn room_events(&self) -> Vec<Value> {
        let data = self
            .app
            .data(
                Some(&self.admin.token),
                "query($s: String!) { events(filter: {stream: $s}, first: 500) { edges { node { type payload gateway } } } }",
                json!({ "s": format!("room-{}", self.room_id) }),
            )
            .await;
        data["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
    }

    async fn wait_for_room_event(&self, what: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = self.room_events().await.into_iter().find(|e| what(e)) {
                return found;
            }
            assert!(tokio::time::Instant::now() < deadline, "no such room event within {WAIT:?}: {:#?}", self.room_events().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The next PRIVMSG or NOTICE from the bot containing `needle` (to a channel or privately).
async fn expect_from_bot(client: &mut IrcTestClient, needle: &str) -> IrcLine {
    let wanted = needle.to_owned();
    client
        .expect(WAIT, move |line| {
            line.nick() == Some(BOT)
                && (line.command == "PRIVMSG" || line.command == "NOTICE")
                && line.params.last().is_some_and(|t| t.contains(&wanted))
        })
        .await
        .unwrap_or_else(|e| panic!("the bot did not say {:?}: {e}", needle))
}

fn count_type(events: &[Value], event_type: &str) -> usize {
    events.iter().filter(|e| e["type"] == event_type).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_is_recorded_with_the_irc_gateway_and_seen_and_quotes_answer() {
    let w = world().await;
    let mut bob = w.joined("bob").await;
    bob.privmsg(CHANNEL, "hello from irc").await.unwrap();
    bob.send_raw(&format!("PRIVMSG {CHANNEL} :\u{1}ACTION waves\u{1}")).await.unwrap();
    let said = w.wait_for_room_event(|e| e["type"] == "room.message_posted" && e["payload"]["body"] == "hello from irc").await;
    assert_eq!(said["gateway"], "irc");
    w.wait_for_room_event(|e| e["type"] == "room.message_posted" && e["payload"]["kind"] == "action").await;

    // Asking before the read model has caught up would rightly answer "never seen".
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let data = w.app.data(Some(&w.admin.token), "{ lastSeen(nick: \"bob\") { activity } }", json!({})).await;
        if data["lastSeen"]["activity"] == "action" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "last-seen never showed bob's action: {data}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut carol = w.joined("carol").await;
    carol.privmsg(CHANNEL, ".seen bob").await.unwrap();
    let seen = expect_from_bot(&mut carol, "bob was last seen").await;
    assert!(seen.raw.contains("waves") || seen.raw.contains("hello from irc"), "says what bob did: {}", seen.raw);
    carol.privmsg(CHANNEL, ".seen nobody_here").await.unwrap();
    expect_from_bot(&mut carol, "never seen nobody_here").await;
    carol.privmsg(CHANNEL, &format!(".seen {BOT}")).await.unwrap();
    expect_from_bot(&mut carol, "that's me").await;
    // Colours and bold are everyday IRC: the words are recorded, the formatting codes are not.
    bob.privmsg(CHANNEL, "\u{2}bold\u{2} and \u{3}04red\u{3} words").await.unwrap();
    w.wait_for_room_event(|e| e["payload"]["body"] == "bold and red words").await;

    // Quotes need a logged-in member; searching and reading do not.
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    alice.privmsg(CHANNEL, ".quote add bob hello from irc, said bob").await.unwrap();
    expect_from_bot(&mut alice, "quote #1 added").await;
    alice.privmsg(CHANNEL, ".quote add bob hello from IRC, said bob").await.unwrap();
    expect_from_bot(&mut alice, "already in the book").await;
    carol.privmsg(CHANNEL, ".quote add bob sneaky").await.unwrap();
    expect_from_bot(&mut carol, "you need level").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    carol.privmsg(CHANNEL, ".quote 1").await.unwrap();
    expect_from_bot(&mut carol, "#1 <bob> hello from irc, said bob").await;
    carol.privmsg(CHANNEL, ".quote search said").await.unwrap();
    expect_from_bot(&mut carol, "#1 <bob>").await;
    carol.privmsg(CHANNEL, ".frobnicate").await.unwrap();
    expect_from_bot(&mut carol, "unknown command").await;
    carol.privmsg(BOT, ".help").await.unwrap();
    expect_from_bot(&mut carol, "anyone:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bound_to_the_mask_and_end_on_nick_change_quit_and_leaked_tokens() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    alice.privmsg(CHANNEL, ".status").await.unwrap();
    expect_from_bot(&mut alice, "not logged in").await;
    w.log_in(&mut alice, &w.admin).await;
    alice.privmsg(CHANNEL, ".status").await.unwrap();
    expect_from_bot(&mut alice, "you are logged in; level 5").await;

    // A token said in a channel is burnt at once, and the person is told privately.
    let token = w.token(&w.admin, "LOGIN").await;
    alice.privmsg(CHANNEL, &format!(".login {token}")).await.unwrap();
    expect_from_bot(&mut alice, "no longer works").await;
    alice.privmsg(BOT, &format!(".login {token}")).await.unwrap();
    expect_from_bot(&mut alice, "login refused").await;

    // A nick change ends the session (even changing back does not restore it).
    alice.nick("alice2").await.unwrap();
    alice.nick("alice").await.unwrap();
    alice.privmsg(CHANNEL, ".status").await.unwrap();
    expect_from_bot(&mut alice, "not logged in").await;

    // Each end is an event (recorded by the bot's control task, just after the fact).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sessions = w
            .app
            .data(
                Some(&w.admin.token),
                "{ events(filter: {type: \"user.irc_session_ended\"}, first: 10) { edges { node { payload } } } }",
                json!({}),
            )
            .await;
        let reasons: Vec<Value> =
            sessions["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["payload"]["reason"].clone()).collect();
        if reasons.contains(&json!("nick_change")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no session ended by a nick change: {reasons:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_ban_and_banned_accounts_are_banned_again_on_join() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let mut bob = w.joined("bob").await;

    // A guest cannot ban; the refusal says why.
    bob.privmsg(CHANNEL, ".ban alice").await.unwrap();
    expect_from_bot(&mut bob, "you need level 3").await;

    alice.privmsg(CHANNEL, ".ban bob 1h spamming").await.unwrap();
    bob.expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("bob")).await.expect("bob is kicked");
    let ban = w.wait_for_room_event(|e| e["type"] == "room.user_banned").await;
    assert_eq!(ban["payload"]["target"]["mask"], "bob!*@*");
    assert!(ban["payload"]["until"].is_string(), "a timed ban");
    bob.send_raw(&format!("JOIN {CHANNEL}")).await.unwrap();
    bob.expect(WAIT, |l| l.command == "474").await.expect("the server keeps bob out (+b)");

    // Someone lifts the +b behind the room's back (an IRC operator): the room's ban still holds,
    // so the bot bans and kicks bob again the moment he joins.
    let mut oper = w.joined("oper").await;
    oper.oper().await.expect("OPER");
    oper.send_raw(&format!("MODE {CHANNEL} -b bob!*@*")).await.unwrap();
    oper.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("-b")).await.expect("+b lifted");
    bob.send_raw(&format!("JOIN {CHANNEL}")).await.unwrap();
    bob.expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("bob")).await.expect("auto-ban kicks bob");
    oper.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+b") && l.raw.contains("bob!*@*")).await.expect("and bans him again");

    // Logging in needs a shared channel (the bot must be able to see the session end).
    let carol_session = w.app.member("carol").await;
    let mut carol = w.client("carol").await;
    let login = w.token(&carol_session, "LOGIN").await;
    carol.privmsg(BOT, &format!(".login {login}")).await.unwrap();
    expect_from_bot(&mut carol, "join a Switchboard channel first").await;

    // An account banned through GraphQL is banned on the channel by nick and kicked.
    carol.join(CHANNEL).await.unwrap();
    w.log_in(&mut carol, &carol_session).await;
    w.app
        .data(
            Some(&w.admin.token),
            "mutation($r: UUID!, $n: String!) { ban(room: $r, target: {nick: $n}, reason: \"trouble\") { position } }",
            json!({ "r": w.room_id, "n": "carol" }),
        )
        .await;
    carol
        .expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("carol"))
        .await
        .expect("the relay kicks carol");
    carol.privmsg(BOT, ".status").await.unwrap();
    expect_from_bot(&mut carol, "not logged in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_survives_a_server_restart_and_records_nothing_twice() {
    let mut w = world().await;
    let mut bob = w.joined("bob").await;
    bob.privmsg(CHANNEL, "before the restart").await.unwrap();
    w.wait_for_room_event(|e| e["payload"]["body"] == "before the restart").await;

    w.ircd.restart().await.expect("ngircd restarts");
    wait_until(|| !w.bot.has_joined(CHANNEL)).await;
    wait_until(|| w.bot.has_joined(CHANNEL)).await;
    let mut bob = w.joined("bob").await;
    bob.privmsg(CHANNEL, "after the restart").await.unwrap();
    w.wait_for_room_event(|e| e["payload"]["body"] == "after the restart").await;

    let events = w.room_events().await;
    let bot_joins = events.iter().filter(|e| e["type"] == "room.member_joined" && e["payload"]["is_bot"] == true).count();
    assert_eq!(bot_joins, 1, "the bot's rejoin records no second join");
    assert_eq!(count_type(&events, "room.message_posted"), 2, "each line once");
    let bob_joins = events.iter().filter(|e| e["type"] == "room.member_joined" && e["payload"]["member"]["nick"] == "bob").count();
    let bob_leaves = events.iter().filter(|e| e["type"] == "room.member_left" && e["payload"]["member"]["nick"] == "bob").count();
    assert_eq!((bob_joins, bob_leaves), (2, 1), "bob left with the server and came back: {events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_control_characters_and_floods_do_not_break_the_bot() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let mut bob = w.joined("bob").await;

    // The bot splits what it says so no relayed line exceeds 512 bytes.
    let long: String = (0..65).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    alice.privmsg(CHANNEL, &format!(".say {CHANNEL} {long}")).await.unwrap();
    let mut received = String::new();
    while received.split_whitespace().count() < 65 {
        let line = bob.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "PRIVMSG").await.expect("the split message arrives");
        assert!(line.raw.len() + 2 <= 512, "a line of {} bytes", line.raw.len() + 2);
        received.push_str(line.params.last().unwrap());
        received.push(' ');
    }
    assert_eq!(received.split_whitespace().collect::<Vec<_>>().join(" "), long);

    // Hostile input: an over-long line (ngircd disconnects its sender: "Request too long"),
    // invalid UTF-8, control characters, a flood.
    let mut mallory = w.joined("mallory").await;
    mallory.send_bytes(b"PRIVMSG #lobby :caf\xe9 latin-1\r\n").await.unwrap();
    mallory.send_raw(&format!("PRIVMSG {CHANNEL} :{}", "x".repeat(700))).await.unwrap();
    bob.privmsg(CHANNEL, "bell\u{7} and \u{1b}[31m escape").await.unwrap();
    for n in 0..300 {
        bob.privmsg(CHANNEL, &format!("flood {n}")).await.unwrap();
    }
    let mut carol = w.joined("carol").await;
    carol.privmsg(CHANNEL, ".version").await.unwrap();
    expect_from_bot(&mut carol, "Switchboard").await;
    // CTCP per convention, answered by NOTICE; a hostile PING argument is bounded.
    carol.send_raw(&format!("PRIVMSG {BOT} :\u{1}VERSION\u{1}")).await.unwrap();
    carol
        .expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "NOTICE" && l.raw.contains("\u{1}VERSION Switchboard"))
        .await
        .expect("CTCP VERSION");
    carol.send_raw(&format!("PRIVMSG {BOT} :\u{1}PING {}\u{1}", "9".repeat(400))).await.unwrap();
    let pong =
        carol.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "NOTICE" && l.raw.contains("\u{1}PING 9")).await.expect("CTCP PING");
    assert!(pong.raw.len() + 2 <= 512, "{} bytes", pong.raw.len() + 2);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let floods =
            w.room_events().await.iter().filter(|e| e["payload"]["body"].as_str().is_some_and(|b| b.starts_with("flood "))).count();
        if floods == 300 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{floods} of 300 flood lines recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_bound_to_a_channel_and_a_number_bridges_both_ways() {
    const NUMBER: &str = "+15550100000";
    const DAVE: &str = "+15551230001";
    let w = world_with(Some(NUMBER)).await;
    let (_stop, stopped) = watch::channel(false);
    let processor = gateways::sms::processor::SmsProcessor::new(w.app.log(), w.app.app.read.clone());
    let bridge = gateways::sms::bridge::SmsBridge::new(w.app.log(), w.app.app.read.clone());
    let stopped2 = stopped.clone();
    tokio::spawn(async move { processor.run(stopped2).await });
    tokio::spawn(async move { bridge.run(stopped).await });
    let executor = store::CommandExecutor::new(std::sync::Arc::new(w.app.store.clone()));
    let text = |n: u32, body: &str| gateways::sms::inbound::InboundSms {
        message_sid: format!("SM{n:032x}"),
        from: domain::PhoneNumber::parse(DAVE).unwrap(),
        to: domain::PhoneNumber::parse(NUMBER).unwrap(),
        body: body.to_owned(),
        media: vec![],
        twilio: Default::default(),
    };
    let mut bob = w.joined("bob").await;
    gateways::sms::inbound::record(&executor, &w.app.app.read, &text(1, "#join dave")).await.unwrap();
    // Dave is a member once his welcome is queued.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !bodies(&w).await.iter().any(|b| b.contains("dave")) {
        assert!(tokio::time::Instant::now() < deadline, "dave never joined: {:?}", bodies(&w).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // IRC → SMS.
    bob.privmsg(CHANNEL, "hi sms people").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !bodies(&w).await.iter().any(|b| b == "[bob] hi sms people") {
        assert!(tokio::time::Instant::now() < deadline, "bob's line never reached dave: {:?}", bodies(&w).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // SMS → IRC.
    gateways::sms::inbound::record(&executor, &w.app.app.read, &text(2, "hello irc")).await.unwrap();
    bob.expect(WAIT, |l| l.nick() == Some(BOT) && l.params.last().is_some_and(|t| t == "[dave] hello irc"))
        .await
        .expect("dave's text is said on the channel");
    assert_eq!(
        bodies(&w).await.iter().filter(|b| b.contains("hello irc")).count(),
        0,
        "an SMS text is not bridged back to SMS by the bridge"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_phone_gets_the_bridged_lines_in_the_order_they_were_said() {
    const NUMBER: &str = "+15550100000";
    const PHONES: [(&str, &str); 3] = [("dave", "+15551230001"), ("erin", "+15551230002"), ("frank", "+15551230003")];
    let w = world_with(Some(NUMBER)).await;
    let (_stop, stopped) = watch::channel(false);
    let processor = gateways::sms::processor::SmsProcessor::new(w.app.log(), w.app.app.read.clone());
    let bridge = gateways::sms::bridge::SmsBridge::new(w.app.log(), w.app.app.read.clone());
    // Twilio answers each message after its own random delay: a sender that sends one phone's
    // texts side by side would see them accepted out of order.
    let twilio = testkit::twilio::TwilioStandIn::start().await;
    twilio.answer_jitter(Duration::from_millis(40));
    let client = gateways::sms::twilio::TwilioClient::new(gateways::sms::twilio::TwilioConfig {
        base_url: twilio.base_url.clone(),
        account_sid: testkit::twilio::ACCOUNT_SID.into(),
        auth_token: testkit::twilio::AUTH_TOKEN.into(),
        status_callback: None,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let options = gateways::sms::outbound::OutboundOptions { per_number_per_second: None, ..Default::default() };
    let sender = gateways::sms::outbound::DeliverySender::new(w.app.log(), client, options);
    let stopped2 = stopped.clone();
    let stopped3 = stopped.clone();
    tokio::spawn(async move { processor.run(stopped2).await });
    tokio::spawn(async move { bridge.run(stopped3).await });
    tokio::spawn(async move { sender.run(stopped).await });
    let executor = store::CommandExecutor::new(std::sync::Arc::new(w.app.store.clone()));
    let text = |n: u32, from: &str, body: &str| gateways::sms::inbound::InboundSms {
        message_sid: format!("SM{n:032x}"),
        from: domain::PhoneNumber::parse(from).unwrap(),
        to: domain::PhoneNumber::parse(NUMBER).unwrap(),
        body: body.to_owned(),
        media: vec![],
        twilio: Default::default(),
    };
    let to = |phone: &str| twilio.sent().into_iter().filter(|m| m.to == phone).map(|m| m.body).collect::<Vec<_>>();
    let mut bob = w.joined("bob").await;
    for (n, (name, phone)) in PHONES.iter().enumerate() {
        gateways::sms::inbound::record(&executor, &w.app.app.read, &text(n as u32 + 1, phone, &format!("#join {name}"))).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while !PHONES.iter().all(|(_, phone)| !to(phone).is_empty()) {
        assert!(tokio::time::Instant::now() < deadline, "not every phone was welcomed: {:?}", twilio.sent());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Ten lines in a row on IRC, and a text from dave long enough to go out in two parts.
    for n in 0..10 {
        bob.privmsg(CHANNEL, &format!("line {n}")).await.unwrap();
    }
    // With the "[dave] " before it, 1,605 characters: a part of 1,600 and one of 5 ("xxend").
    let long = format!("long {}end", "x".repeat(1_590));
    gateways::sms::inbound::record(&executor, &w.app.app.read, &text(10, PHONES[0].1, &long)).await.unwrap();
    let is_part = |b: &String| b.starts_with("[dave] long ") || b == "xxend";

    let lines: Vec<String> = (0..10).map(|n| format!("[bob] line {n}")).collect();
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    loop {
        let done = PHONES.iter().all(|(name, phone)| {
            let got = to(phone);
            got.iter().filter(|b| b.starts_with("[bob] line ")).count() == 10
                && (*name == "dave" || got.iter().filter(|b| is_part(b)).count() == 2)
        });
        if done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not everything was texted: {:?}", twilio.sent());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (name, phone) in PHONES {
        let got = to(phone);
        let said: Vec<&String> = got.iter().filter(|b| b.starts_with("[bob] line ")).collect();
        assert_eq!(said, lines.iter().collect::<Vec<_>>(), "{name} got bob's lines out of order");
        if name != "dave" {
            let parts: Vec<&String> = got.iter().filter(|b| is_part(b)).collect();
            assert_eq!(parts[1], "xxend", "{name} got the second part first");
        }
    }
    assert_eq!(twilio.overlapping_sends(), Vec::<String>::new(), "a phone's next text went out before the last was accepted");
    assert_eq!(twilio.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_guests_lines_are_texted_to_phones_up_to_an_hourly_limit_and_the_guest_is_told() {
    const NUMBER: &str = "+15550100000";
    const DAVE: &str = "+15551230001";
    let w = world_with(Some(NUMBER)).await;
    let (_stop, stopped) = watch::channel(false);
    let limits = gateways::sms::limits::CostLimits { guest_lines_per_hour: 2, ..Default::default() };
    let processor = gateways::sms::processor::SmsProcessor::new(w.app.log(), w.app.app.read.clone());
    let bridge = gateways::sms::bridge::SmsBridge::new(w.app.log(), w.app.app.read.clone()).with_limits(limits);
    let stopped2 = stopped.clone();
    tokio::spawn(async move { processor.run(stopped2).await });
    tokio::spawn(async move { bridge.run(stopped).await });
    let executor = store::CommandExecutor::new(std::sync::Arc::new(w.app.store.clone()));
    let join = gateways::sms::inbound::InboundSms {
        message_sid: format!("SM{:032x}", 1),
        from: domain::PhoneNumber::parse(DAVE).unwrap(),
        to: domain::PhoneNumber::parse(NUMBER).unwrap(),
        body: "#join dave".into(),
        media: vec![],
        twilio: Default::default(),
    };
    let mut guest = w.joined("guest").await;
    gateways::sms::inbound::record(&executor, &w.app.app.read, &join).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !bodies(&w).await.iter().any(|b| b.contains("dave")) {
        assert!(tokio::time::Instant::now() < deadline, "dave never joined: {:?}", bodies(&w).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for n in 1..=4 {
        guest.privmsg(CHANNEL, &format!("line {n}")).await.unwrap();
    }
    let notice = gateways::irc::relay::guest_limit_notice(2);
    guest
        .expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "NOTICE" && l.params.last().is_some_and(|t| *t == notice))
        .await
        .expect("the guest is told their lines are no longer texted");
    // All four lines are recorded in the room; only two were texted.
    let deadline = tokio::time::Instant::now() + WAIT;
    while w.room_events().await.iter().filter(|e| e["payload"]["body"].as_str().is_some_and(|b| b.starts_with("line "))).count() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "the guest's lines were not all recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texted = || async { bodies(&w).await.into_iter().filter(|b| b.starts_with("[guest] line")).collect::<Vec<_>>() };
    while texted().await.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the first two lines were not texted: {:?}", bodies(&w).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut texted = texted().await;
    texted.sort();
    assert_eq!(texted, vec!["[guest] line 1".to_owned(), "[guest] line 2".to_owned()]);
}

/// The bodies of the deliveries queued so far.
async fn bodies(w: &World) -> Vec<String> {
    let data = w.app.data(Some(&w.admin.token), "{ deliveries(first: 50) { edges { node { toNumber body } } } }", json!({})).await;
    data["deliveries"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["body"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_command_of_the_spec_works_for_its_level() {
    let w = world().await;
    let mut alice = w.joined("alice").await; // superuser (the first account)
    w.log_in(&mut alice, &w.admin).await;
    let bob_session = w.app.member("bob").await;
    let mut bob = w.joined("bob").await; // a logged-in member
    w.log_in(&mut bob, &bob_session).await;
    let mut carol = w.joined("carol").await; // a guest

    // .about set / .about, .meet (members)
    bob.privmsg(CHANNEL, ".about set I like trains").await.unwrap();
    expect_from_bot(&mut bob, "about text saved").await;
    alice.privmsg(CHANNEL, ".about bob").await.unwrap();
    expect_from_bot(&mut alice, "bob: I like trains").await;
    carol.privmsg(CHANNEL, ".about bob").await.unwrap();
    expect_from_bot(&mut carol, "logged in").await;
    bob.privmsg(CHANNEL, ".meet carol").await.unwrap();
    expect_from_bot(&mut carol, "Sign up at http://switchboard.test").await;

    // .info add / .info / .info set / .info del; only the creator or an operator may change it.
    bob.privmsg(CHANNEL, ".info add rules Be kind.").await.unwrap();
    expect_from_bot(&mut bob, "rules added").await;
    bob.privmsg(CHANNEL, ".info add rules again").await.unwrap();
    expect_from_bot(&mut bob, "already exists").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        carol.privmsg(CHANNEL, ".info rules").await.unwrap();
        let line =
            carol.expect(WAIT, |l| l.nick() == Some(BOT) && l.params.last().is_some_and(|t| t.starts_with("carol: "))).await.unwrap();
        if line.raw.contains("rules: Be kind. (set by") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the info item never showed: {}", line.raw);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    carol.privmsg(CHANNEL, ".info set rules anarchy").await.unwrap();
    expect_from_bot(&mut carol, "you need level").await;
    alice.privmsg(CHANNEL, ".info set rules Be kind, please.").await.unwrap();
    expect_from_bot(&mut alice, "rules replaced").await;
    bob.privmsg(CHANNEL, ".info del rules").await.unwrap();
    expect_from_bot(&mut bob, "rules deleted").await;

    // Moderation by the superuser: voice, topic, mute/unmute, kick.
    alice.privmsg(CHANNEL, ".voice carol").await.unwrap();
    carol.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+v carol")).await.expect("+v");
    alice.privmsg(CHANNEL, ".topic Welcome to the lobby").await.unwrap();
    carol.expect(WAIT, |l| l.command == "TOPIC" && l.raw.contains("Welcome to the lobby")).await.expect("topic set");
    alice.privmsg(CHANNEL, ".mute carol 10m").await.unwrap();
    expect_from_bot(&mut alice, "carol is muted for 10 minutes").await;
    alice.privmsg(CHANNEL, ".unmute carol").await.unwrap();
    expect_from_bot(&mut alice, "carol may speak again").await;
    bob.privmsg(CHANNEL, ".kick carol").await.unwrap();
    expect_from_bot(&mut bob, "you need level 3").await;

    // A ban request by a member, approved by staff.
    bob.privmsg(CHANNEL, ".requestban carol spamming links").await.unwrap();
    let opened = expect_from_bot(&mut bob, "ban request").await;
    let id = opened.params.last().unwrap().split_whitespace().nth(3).unwrap().to_owned();
    alice.privmsg(CHANNEL, &format!(".approve {id}")).await.unwrap();
    expect_from_bot(&mut alice, "approved").await;
    carol.expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("carol")).await.expect("carol is banned");

    // Staff: bind a new channel, list, act, unbind.
    alice.privmsg(CHANNEL, ".join #annex").await.unwrap();
    expect_from_bot(&mut alice, "#annex is now a Switchboard room").await;
    alice.privmsg(CHANNEL, ".channels").await.unwrap();
    expect_from_bot(&mut alice, "#annex #lobby").await;
    alice.privmsg(CHANNEL, &format!(".act {CHANNEL} waves at everyone")).await.unwrap();
    bob.expect(WAIT, |l| l.nick() == Some(BOT) && l.raw.contains("\u{1}ACTION waves at everyone\u{1}")).await.expect("the bot acts");
    alice.privmsg(CHANNEL, ".part #annex").await.unwrap();
    expect_from_bot(&mut alice, "#annex unbound").await;
    bob.privmsg(CHANNEL, ".channels").await.unwrap();
    expect_from_bot(&mut bob, "you need level 4").await;

    // Superuser only: .whois, privately.
    alice.privmsg(CHANNEL, ".whois bob").await.unwrap();
    expect_from_bot(&mut alice, "bob: user").await;
    expect_from_bot(&mut alice, "about: I like trains").await;

    // .logout ends the session (an event).
    bob.privmsg(BOT, ".logout").await.unwrap();
    expect_from_bot(&mut bob, "logged out").await;
    bob.privmsg(CHANNEL, ".status").await.unwrap();
    expect_from_bot(&mut bob, "not logged in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_only_room_keeps_its_channel_closed_and_the_bot_invites_members_who_log_in() {
    let w = world().await;
    let vip = w
        .app
        .data(
            Some(&w.admin.token),
            "mutation { createRoom(input: {name: \"vip\", inviteOnly: true, ircChannel: \"#vip\"}) { roomId } }",
            json!({}),
        )
        .await;
    let vip_id = vip["createRoom"]["roomId"].as_str().unwrap().to_owned();
    wait_until(|| w.bot.has_joined("#vip")).await;
    let mut carol = w.joined("carol").await;
    carol.send_raw("JOIN #vip").await.unwrap();
    carol.expect(WAIT, |l| l.command == "473").await.expect("a guest cannot join the +i channel");

    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    alice.expect(WAIT, |l| l.command == "INVITE" && l.params.last().map(String::as_str) == Some("#vip")).await.expect("invited at login");
    alice.join("#vip").await.expect("the invitation lets alice in");

    // Opening the room in GraphQL opens the channel.
    w.app
        .data(
            Some(&w.admin.token),
            "mutation($r: UUID!) { setInviteOnly(room: $r, inviteOnly: false) { position } }",
            json!({ "r": vip_id }),
        )
        .await;
    alice.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("-i")).await.expect("-i");
    carol.join("#vip").await.expect("now anyone may join");
}

/// The next line the bot says to `client` that starts with `prefix` (a reply in the channel
/// starts with the asker's nick), whatever it says.
async fn next_reply(client: &mut IrcTestClient, prefix: &str) -> String {
    let wanted = prefix.to_owned();
    let line = client
        .expect(WAIT, move |l| l.nick() == Some(BOT) && l.command == "PRIVMSG" && l.params.last().is_some_and(|t| t.starts_with(&wanted)))
        .await
        .unwrap_or_else(|e| panic!("no reply starting {prefix:?}: {e}"));
    line.params.last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seen_names_the_channel_and_what_the_bot_just_wrote_reads_back_by_nick() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let mut bob = w.joined("bob").await;
    bob.privmsg(CHANNEL, "back in five").await.unwrap();
    w.wait_for_room_event(|e| e["payload"]["body"] == "back in five").await;
    let mut carol = w.joined("carol").await;
    carol.privmsg(CHANNEL, ".seen bob").await.unwrap();
    let seen = next_reply(&mut carol, "carol: bob was last seen").await;
    assert!(seen.ends_with("in #lobby, saying: back in five"), "names the channel: {seen}");

    // Said right after each other, the read finds the write (the bot waits for its own
    // consistency token), and who wrote it is a nick, never an id.
    alice.privmsg(CHANNEL, ".quote add bob it works on my machine").await.unwrap();
    alice.privmsg(CHANNEL, ".quote 1").await.unwrap();
    assert_eq!(next_reply(&mut alice, "alice: ").await, "alice: quote #1 added");
    let quote = next_reply(&mut alice, "alice: ").await;
    assert!(quote.starts_with("alice: #1 <bob> it works on my machine (added by alice, "), "{quote}");
    alice.privmsg(CHANNEL, ".info add rules Be kind.").await.unwrap();
    alice.privmsg(CHANNEL, ".info rules").await.unwrap();
    assert_eq!(next_reply(&mut alice, "alice: ").await, "alice: rules added");
    assert_eq!(next_reply(&mut alice, "alice: ").await, "alice: rules: Be kind. (set by alice, just now)");
    alice.privmsg(CHANNEL, ".info set rules Be kinder.").await.unwrap();
    alice.privmsg(CHANNEL, ".info rules").await.unwrap();
    assert_eq!(next_reply(&mut alice, "alice: ").await, "alice: rules replaced");
    assert_eq!(next_reply(&mut alice, "alice: ").await, "alice: rules: Be kinder. (set by alice, just now)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_banned_while_logged_in_is_banned_again_when_it_rejoins_logged_out() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let carol_session = w.app.member("carol").await;
    let mut carol = w.joined("carol").await;
    w.log_in(&mut carol, &carol_session).await;

    // A ban on carol's account; the kick that comes with it ends her session.
    alice.privmsg(CHANNEL, ".ban carol being rude").await.unwrap();
    carol.expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("carol")).await.expect("carol is kicked");
    let ban = w.wait_for_room_event(|e| e["type"] == "room.user_banned").await;
    assert_eq!(ban["payload"]["target"]["user_id"], carol_session.user_id.as_str(), "an account ban: {ban}");

    // An IRC operator lifts the +b behind the room's back; carol comes back, not logged in.
    let mut oper = w.joined("oper").await;
    oper.oper().await.expect("OPER");
    oper.send_raw(&format!("MODE {CHANNEL} -b carol!*@*")).await.unwrap();
    oper.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("-b")).await.expect("+b lifted");
    carol.send_raw(&format!("JOIN {CHANNEL}")).await.unwrap();
    carol
        .expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("carol"))
        .await
        .expect("the auto-ban kicks carol at once");
    oper.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+b") && l.raw.contains("carol!*@*")).await.expect("and bans her again");
    let enforced = w.wait_for_room_event(|e| e["type"] == "room.ban_enforced").await;
    assert_eq!(enforced["payload"]["ban_id"], ban["payload"]["ban_id"], "which ban: {enforced}");
    assert_eq!(enforced["payload"]["member"]["nick"], "carol", "on whom: {enforced}");
    let joined =
        w.room_events().await.iter().filter(|e| e["type"] == "room.member_joined" && e["payload"]["member"]["nick"] == "carol").count();
    assert_eq!(joined, 1, "the refused join is not recorded as a join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_changed_by_a_channel_operator_outside_switchboard_is_put_back() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    alice.privmsg(CHANNEL, ".topic Welcome to the lobby").await.unwrap();
    alice.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "TOPIC" && l.raw.contains("Welcome")).await.expect("topic set");
    let mut dave = w.joined("dave").await;

    // Dave is made a channel operator but has no Switchboard account: his topic is undone.
    alice.privmsg(CHANNEL, ".op dave").await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+o dave")).await.expect("+o dave");
    dave.send_raw(&format!("TOPIC {CHANNEL} :dave was here")).await.unwrap();
    dave.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "TOPIC" && l.raw.contains("Welcome to the lobby"))
        .await
        .expect("the bot puts the room's topic back");

    // So is an IRC operator's.
    let mut oper = w.joined("oper").await;
    oper.oper().await.expect("OPER");
    oper.send_raw(&format!("TOPIC {CHANNEL} :oper was here")).await.unwrap();
    oper.expect(WAIT, |l| l.command == "TOPIC" && l.raw.contains("oper was here")).await.expect("the server takes the oper's topic");
    oper.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "TOPIC" && l.raw.contains("Welcome to the lobby"))
        .await
        .expect("the bot puts the room's topic back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_has_the_accounts_real_level_and_only_members_get_irc_tokens() {
    let w = world().await;
    // An account whose email is not verified is a guest: no token.
    w.app.sign_up("erin").await;
    let erin = w.app.log_in("erin").await;
    let code = w.app.error_code(Some(&erin.token), "mutation { issueIrcToken(purpose: REGISTER) { token } }", json!({})).await;
    assert_eq!(code, "FORBIDDEN");

    w.app
        .data(
            Some(&w.admin.token),
            "mutation { createRoom(input: {name: \"vip\", inviteOnly: true, ircChannel: \"#vip\"}) { roomId } }",
            json!({}),
        )
        .await;
    wait_until(|| w.bot.has_joined("#vip")).await;
    // Bob got his tokens as a member, then was demoted to guest.
    let bob_session = w.app.member("bob").await;
    let register = w.token(&bob_session, "REGISTER").await;
    let login = w.token(&bob_session, "LOGIN").await;
    w.app.set_level(&w.admin, "bob", "GUEST").await;
    let mut bob = w.joined("bob").await;
    bob.privmsg(BOT, &format!(".register {register}")).await.unwrap();
    expect_from_bot(&mut bob, "registered").await;
    bob.privmsg(BOT, &format!(".login {login}")).await.unwrap();
    expect_from_bot(&mut bob, "logged in as bob; level 0 (guest)").await;
    bob.expect_none(Duration::from_millis(500), |l| l.command == "INVITE").await.expect("a guest is not invited");
    bob.send_raw("JOIN #vip").await.unwrap();
    bob.expect(WAIT, |l| l.command == "473").await.expect("the +i channel stays closed to a guest");
    bob.privmsg(CHANNEL, ".quote add alice hello").await.unwrap();
    expect_from_bot(&mut bob, "you need level 1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_from_another_host_do_not_lock_the_owner_out_and_unknown_tokens_are_refused_at_once() {
    let w = world().await;
    let carol_session = w.app.member("carol").await;
    let mut carol = w.joined("carol").await;
    let register = w.token(&carol_session, "REGISTER").await;
    carol.privmsg(BOT, &format!(".register {register}")).await.unwrap();
    expect_from_bot(&mut carol, "registered").await;
    carol.part(CHANNEL).await.unwrap();
    carol.nick("carol_").await.unwrap();

    // Mallory takes carol's nick from another host and guesses five times.
    let mut mallory = IrcTestClient::connect_from("127.0.0.2".parse().unwrap(), w.ircd.port(), "carol").await.expect("connects");
    mallory.join(CHANNEL).await.unwrap();
    for n in 0..5 {
        let started = tokio::time::Instant::now();
        mallory.privmsg(BOT, &format!(".login irc_guess{n}")).await.unwrap();
        expect_from_bot(&mut mallory, "login refused").await;
        assert!(started.elapsed() < Duration::from_secs(1), "an unknown token is refused at once, not after {:?}", started.elapsed());
    }
    mallory.privmsg(BOT, ".login irc_guess5").await.unwrap();
    expect_from_bot(&mut mallory, "too many failed logins").await;
    mallory.quit("bye").await.unwrap();

    // Carol, from her own host, logs in.
    carol.nick("carol").await.unwrap();
    carol.join(CHANNEL).await.unwrap();
    let login = w.token(&carol_session, "LOGIN").await;
    carol.privmsg(BOT, &format!(".login {login}")).await.unwrap();
    expect_from_bot(&mut carol, "logged in as carol").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_and_mutes_from_graphql_reach_the_channel_and_modes_are_recorded() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let mut dave = w.joined("dave").await;
    w.wait_for_room_event(|e| e["type"] == "room.member_joined" && e["payload"]["member"]["nick"] == "dave").await;

    let moderate = |mutation: &'static str| {
        let w = &w;
        async move {
            w.app.data(Some(&w.admin.token), mutation, json!({ "r": w.room_id })).await;
        }
    };
    alice.privmsg(CHANNEL, ".voice dave").await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+v dave")).await.expect("+v");
    moderate("mutation($r: UUID!) { mute(room: $r, nick: \"dave\") { position } }").await;
    dave.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "MODE" && l.raw.contains("-v dave")).await.expect("muted: -v");
    moderate("mutation($r: UUID!) { unmute(room: $r, nick: \"dave\") { position } }").await;
    dave.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "MODE" && l.raw.contains("+v dave")).await.expect("unmuted: +v");

    alice.privmsg(CHANNEL, ".devoice dave").await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("-v dave")).await.expect("-v");
    alice.privmsg(CHANNEL, ".op dave").await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+o dave")).await.expect("+o");
    alice.privmsg(CHANNEL, ".deop dave").await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("-o dave")).await.expect("-o");
    let deop = w.wait_for_room_event(|e| e["type"] == "room.channel_mode_changed" && e["payload"]["mode"] == "deop").await;
    assert_eq!(deop["payload"]["nick"], "dave");
    let modes: Vec<Value> =
        w.room_events().await.iter().filter(|e| e["type"] == "room.channel_mode_changed").map(|e| e["payload"]["mode"].clone()).collect();
    assert_eq!(modes, [json!("voice"), json!("devoice"), json!("op"), json!("deop")]);

    moderate("mutation($r: UUID!) { kick(room: $r, nick: \"dave\", reason: \"take a break\") { position } }").await;
    let kick = dave
        .expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("dave"))
        .await
        .expect("kicked from the channel");
    assert_eq!(kick.params.last().map(String::as_str), Some("take a break"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_control_queue_answers_too_busy_and_loses_no_command_it_took() {
    let w = world_configured(None, |s| s.control_queue = 2).await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;

    // The event log held (locked by another transaction; KurrentDB's stalled): the bot's first
    // `.quote add` waits on it, so the commands after it wait in the control queue.
    let mut locker = w.app.db.client().await;
    let lock = locker.transaction().await.unwrap();
    match &w.app.kurrent {
        Some(kurrent) => kurrent.stall(true),
        None => lock.batch_execute("LOCK TABLE es_events IN ACCESS EXCLUSIVE MODE").await.unwrap(),
    }
    alice.privmsg(CHANNEL, ".quote add bob first words").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for words in ["second words", "third words", "fourth words"] {
        alice.privmsg(CHANNEL, &format!(".quote add bob {words}")).await.unwrap();
    }
    // Two fit in the queue; the fourth is refused, and said so at once.
    expect_from_bot(&mut alice, "too busy to take that now; nothing was done").await;
    lock.rollback().await.unwrap();
    if let Some(kurrent) = &w.app.kurrent {
        kurrent.stall(false);
    }

    // Every command the queue took is carried out, in order.
    for id in 1..=3 {
        expect_from_bot(&mut alice, &format!("quote #{id} added")).await;
    }
    alice.privmsg(CHANNEL, ".quote 3").await.unwrap();
    expect_from_bot(&mut alice, "#3 <bob> third words").await;
    alice.privmsg(CHANNEL, ".quote search fourth").await.unwrap();
    expect_from_bot(&mut alice, "no quote matches").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_changed_where_the_bot_is_not_a_channel_operator_is_put_back_once_it_is() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    alice.privmsg(CHANNEL, ".topic Welcome to the lobby").await.unwrap();
    alice.expect(WAIT, |l| l.nick() == Some(BOT) && l.command == "TOPIC" && l.raw.contains("Welcome")).await.expect("topic set");
    let mut dave = w.joined("dave").await;
    alice.privmsg(CHANNEL, ".op dave").await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains("+o dave")).await.expect("+o dave");

    // Dave, a channel operator without a Switchboard account, takes the bot's +o on a +t
    // channel and sets his own topic: the bot's attempt to put the topic back is refused.
    dave.send_raw(&format!("MODE {CHANNEL} +t")).await.unwrap();
    dave.send_raw(&format!("MODE {CHANNEL} -o {BOT}")).await.unwrap();
    dave.expect(WAIT, |l| l.command == "MODE" && l.raw.contains(&format!("-o {BOT}"))).await.expect("the bot deopped");
    dave.send_raw(&format!("TOPIC {CHANNEL} :dave was here")).await.unwrap();
    dave.expect(WAIT, |l| l.command == "TOPIC" && l.raw.contains("dave was here")).await.expect("the server takes dave's topic");
    let restored = |l: &IrcLine| l.nick() == Some(BOT) && l.command == "TOPIC" && l.raw.contains("Welcome to the lobby");
    assert!(dave.expect(Duration::from_secs(1), restored).await.is_err(), "not a channel operator, the bot cannot set it");

    // An IRC operator gives the bot +o back: the room's topic returns at once.
    let mut oper = w.joined("oper").await;
    oper.oper().await.expect("OPER");
    oper.send_raw(&format!("MODE {CHANNEL} +o {BOT}")).await.unwrap();
    dave.expect(WAIT, restored).await.expect("the bot puts the room's topic back once it is a channel operator");

    // Once taken, a later +o sends nothing more.
    oper.send_raw(&format!("MODE {CHANNEL} -o {BOT}")).await.unwrap();
    oper.send_raw(&format!("MODE {CHANNEL} +o {BOT}")).await.unwrap();
    assert!(dave.expect(Duration::from_secs(1), restored).await.is_err(), "the topic is set only once");
}

/// A second bound room, #games, with the bot on it, and bob there, logged in, with the about
/// text "I like trains" kept private (as every profile starts).
async fn bob_in_games_with_a_private_about_text(w: &World) -> IrcTestClient {
    w.app.create_room(&w.admin, "games", Some("#games"), None).await;
    wait_until(|| w.bot.has_joined("#games")).await;
    let bob_session = w.app.member("bob").await;
    let mut bob = w.joined("bob").await;
    w.log_in(&mut bob, &bob_session).await;
    bob.join("#games").await.unwrap();
    bob.privmsg("#games", ".about set I like trains").await.unwrap();
    expect_from_bot(&mut bob, "about text saved").await;
    bob
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_persons_about_text_is_told_only_to_people_in_a_room_with_them() {
    let w = world().await;
    // Bob (private, as every profile starts) logs in and moves to #games only.
    let mut bob = bob_in_games_with_a_private_about_text(&w).await;
    bob.send_raw(&format!("PART {CHANNEL}")).await.unwrap();

    // Eve, a member in the lobby only, does not get it.
    let eve_session = w.app.member("eve").await;
    let mut eve = w.joined("eve").await;
    w.log_in(&mut eve, &eve_session).await;
    eve.privmsg(CHANNEL, ".about bob").await.unwrap();
    let hidden = expect_from_bot(&mut eve, "bob").await;
    assert!(hidden.raw.ends_with("eve: bob keeps their profile private"), "{}", hidden.raw);

    // In #games with him, she does; so does staff anywhere, and bob himself.
    eve.join("#games").await.unwrap();
    eve.privmsg("#games", ".about bob").await.unwrap();
    expect_from_bot(&mut eve, "eve: bob: I like trains").await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    alice.privmsg(CHANNEL, ".about bob").await.unwrap();
    expect_from_bot(&mut alice, "alice: bob: I like trains").await;
    bob.privmsg("#games", ".about").await.unwrap();
    expect_from_bot(&mut bob, "bob: bob: I like trains").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_after_a_join_is_answered_after_the_join_is_recorded_however_slow_the_log() {
    let w = world().await;
    let _bob = bob_in_games_with_a_private_about_text(&w).await;
    let eve_session = w.app.member("eve").await;
    let mut eve = w.joined("eve").await;
    w.log_in(&mut eve, &eve_session).await;

    // Appends held (inserts locked out, reads still served; KurrentDB's stalled): eve's JOIN
    // waits in the room worker, and her question right behind it must wait for it too —
    // answered from the read model as it is, bob would be private to her.
    let mut locker = w.app.db.client().await;
    let lock = locker.transaction().await.unwrap();
    match &w.app.kurrent {
        Some(kurrent) => kurrent.stall(true),
        None => lock.batch_execute("LOCK TABLE es_events IN EXCLUSIVE MODE").await.unwrap(),
    }
    eve.join("#games").await.unwrap();
    eve.privmsg("#games", ".about bob").await.unwrap();
    let early = eve.expect(Duration::from_millis(1_500), |l| l.raw.contains("eve: bob")).await.ok();
    assert!(early.is_none(), "answered before the JOIN was recorded: {early:?}");
    lock.rollback().await.unwrap();
    if let Some(kurrent) = &w.app.kurrent {
        kurrent.stall(false);
    }
    expect_from_bot(&mut eve, "eve: bob: I like trains").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_approved_from_a_request_and_lifted_in_graphql_takes_its_mask_off_the_channel() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let bob_session = w.app.member("bob").await;
    let mut bob = w.joined("bob").await;
    w.log_in(&mut bob, &bob_session).await;
    let mut carol = w.joined("carol").await;

    bob.privmsg(CHANNEL, ".requestban carol spamming links").await.unwrap();
    expect_from_bot(&mut bob, "ban request").await;
    let approve = "mutation($r: UUID!, $q: UUID!) { approveBanRequest(room: $r, request: $q) { position } }";
    // The bot answered once the request was recorded; the read model lists it a moment later.
    let deadline = tokio::time::Instant::now() + WAIT;
    let request = loop {
        let requests =
            w.app.data(Some(&w.admin.token), "query($r: UUID!) { room(id: $r) { banRequests { id } } }", json!({ "r": w.room_id })).await;
        if let Some(id) = requests["room"]["banRequests"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "the request is never listed: {requests}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    w.app.data(Some(&w.admin.token), approve, json!({ "r": w.room_id, "q": request })).await;
    let banned = alice.expect(WAIT, |l| l.command == "MODE" && l.raw.contains(" +b ")).await.expect("+b on the channel");
    let mask = banned.params.last().unwrap().clone();
    assert!(mask.eq_ignore_ascii_case("carol!*@*"), "{}", banned.raw);
    carol.expect(WAIT, |l| l.command == "KICK" && l.params.get(1).map(String::as_str) == Some("carol")).await.expect("carol is kicked");

    let unban = "mutation($r: UUID!) { unban(room: $r, target: {nick: \"carol\"}) { position } }";
    w.app.data(Some(&w.admin.token), unban, json!({ "r": w.room_id })).await;
    let lifted = alice.expect(WAIT, |l| l.command == "MODE" && l.raw.contains(" -b ")).await.expect("-b on the channel");
    assert_eq!(lifted.params.last().unwrap(), &mask, "the mask that was set is taken off: {}", lifted.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_who_logs_in_on_the_channel_becomes_the_accounts_member_and_stays_muted() {
    let w = world().await;
    let mut alice = w.joined("alice").await;
    w.log_in(&mut alice, &w.admin).await;
    let dave_session = w.app.member("dave").await;
    let mut dave = w.joined("dave").await;
    w.wait_for_room_event(|e| e["type"] == "room.member_joined" && e["payload"]["member"]["nick"] == "dave").await;
    w.app
        .data(Some(&w.admin.token), "mutation($r: UUID!) { mute(room: $r, nick: \"dave\") { position } }", json!({ "r": w.room_id }))
        .await;

    w.log_in(&mut dave, &dave_session).await;
    let identified = w.wait_for_room_event(|e| e["type"] == "room.member_identified" && e["payload"]["nick"] == "dave").await;
    assert_eq!(identified["payload"]["nick"], "dave");
    let dave_id = dave_session.user_id.clone();
    assert_eq!(identified["payload"]["user_id"], dave_id);

    // The read model lists the account, not a guest, and the mute follows the account.
    let query = "query($r: UUID!) { room(id: $r) { members { memberKey userId nick } mutes { memberKey } } }";
    let deadline = tokio::time::Instant::now() + WAIT;
    let room = loop {
        let data = w.app.data(Some(&w.admin.token), query, json!({ "r": w.room_id })).await;
        let room = data["room"].clone();
        let keys: Vec<&str> = room["members"].as_array().unwrap().iter().filter_map(|m| m["memberKey"].as_str()).collect();
        if keys.contains(&format!("user:{dave_id}").as_str()) {
            break room;
        }
        assert!(tokio::time::Instant::now() < deadline, "dave never listed by account: {room}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !room["members"].as_array().unwrap().iter().any(|m| m["memberKey"] == "guest:dave"),
        "no guest entry is left beside the account: {room}"
    );
    assert_eq!(room["mutes"], json!([{ "memberKey": format!("user:{dave_id}") }]));

    // Logging in lifted nothing: what dave says is still not recorded (alice's line, sent after
    // she saw dave's, is recorded after it would have been).
    dave.privmsg(CHANNEL, "am I heard now?").await.unwrap();
    alice.expect(WAIT, |l| l.command == "PRIVMSG" && l.raw.ends_with("am I heard now?")).await.expect("alice sees dave's line");
    alice.privmsg(CHANNEL, "marker").await.unwrap();
    w.wait_for_room_event(|e| e["payload"]["body"] == "marker").await;
    let said: Vec<Value> =
        w.room_events().await.into_iter().filter(|e| e["type"] == "room.message_posted").map(|e| e["payload"]["body"].clone()).collect();
    assert!(!said.contains(&json!("am I heard now?")), "a muted member's line was recorded: {said:?}");
}

/// A bridge with the SMS processor and bridge running, and `dave` in the room by SMS.
struct SmsBridgeWorld {
    w: World,
    executor: store::CommandExecutor<store::AnyEventStore>,
    texts: std::sync::atomic::AtomicU32,
    _stop: watch::Sender<bool>,
}

const BRIDGE_NUMBER: &str = "+15550100000";
const DAVE_PHONE: &str = "+15551230001";

impl SmsBridgeWorld {
    async fn start() -> Self {
        let w = world_with(Some(BRIDGE_NUMBER)).await;
        let (stop, stopped) = watch::channel(false);
        let processor = gateways::sms::processor::SmsProcessor::new(w.app.log(), w.app.app.read.clone());
        let bridge = gateways::sms::bridge::SmsBridge::new(w.app.log(), w.app.app.read.clone());
        let stopped2 = stopped.clone();
        tokio::spawn(async move { processor.run(stopped2).await });
        tokio::spawn(async move { bridge.run(stopped).await });
        let executor = store::CommandExecutor::new(std::sync::Arc::new(w.app.store.clone()));
        let world = Self { w, executor, texts: Default::default(), _stop: stop };
        world.dave_texts("#join dave", "dave").await;
        world
    }

    /// Dave texts `body` to the room; returns once a text to him containing `answer` is queued.
    async fn dave_texts(&self, body: &str, answer: &str) {
        let n = self.texts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let before = self.to_dave().await.len();
        let inbound = gateways::sms::inbound::InboundSms {
            message_sid: format!("SM{n:032x}"),
            from: domain::PhoneNumber::parse(DAVE_PHONE).unwrap(),
            to: domain::PhoneNumber::parse(BRIDGE_NUMBER).unwrap(),
            body: body.to_owned(),
            media: vec![],
            twilio: Default::default(),
        };
        gateways::sms::inbound::record(&self.executor, &self.w.app.app.read, &inbound).await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.to_dave().await;
            if got[before.min(got.len())..].iter().any(|b| b.contains(answer)) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no answer with {answer:?} to {body:?}: {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The texts queued to dave, oldest first.
    async fn to_dave(&self) -> Vec<String> {
        let data =
            self.w.app.data(Some(&self.w.admin.token), "{ deliveries(first: 200) { edges { node { toNumber body } } } }", json!({})).await;
        let mut texts: Vec<String> = data["deliveries"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["toNumber"] == DAVE_PHONE)
            .map(|e| e["node"]["body"].as_str().unwrap_or_default().to_owned())
            .collect();
        // Deliveries are listed newest first.
        texts.reverse();
        texts
    }

    /// Each speaker says `line` on the channel, then `marker` says "marker"; returns the bridged
    /// lines dave was texted among them, once the marker reached him.
    async fn lines_to_dave(&self, speakers: &mut [&mut IrcTestClient], line: &str, marker: &mut IrcTestClient) -> Vec<String> {
        let before = self.to_dave().await.len();
        for speaker in speakers.iter_mut() {
            speaker.privmsg(CHANNEL, line).await.unwrap();
        }
        // The bridge texts in log order: once the marker recorded after them is texted, so are
        // they.
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.w.room_events().await.iter().filter(|e| e["payload"]["body"] == line).count() < speakers.len() {
            assert!(tokio::time::Instant::now() < deadline, "not every {line:?} was recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        marker.privmsg(CHANNEL, "marker").await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.to_dave().await;
            let got = &got[before.min(got.len())..];
            if let Some(at) = got.iter().position(|b| b.ends_with("] marker")) {
                let mut heard: Vec<String> = got[..at].iter().filter(|b| b.ends_with(line)).cloned().collect();
                heard.sort();
                return heard;
            }
            assert!(tokio::time::Instant::now() < deadline, "the marker never reached dave: {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_mutes_and_unmutes_irc_members_whatever_their_account_and_login() {
    let s = SmsBridgeWorld::start().await;
    let w = &s.w;
    // bob: an account, logged in on IRC. carl: an account, on IRC without logging in. gus: a
    // guest with no account. zed: a guest nobody mutes, whose line marks the end of a round.
    let bob_session = w.app.member("bob").await;
    w.app.member("carl").await;
    let mut bob = w.joined("bob").await;
    w.log_in(&mut bob, &bob_session).await;
    let mut carl = w.joined("carl").await;
    let mut gus = w.joined("gus").await;
    let mut zed = w.joined("zed").await;
    for nick in ["carl", "gus", "zed"] {
        w.wait_for_room_event(|e| e["type"] == "room.member_joined" && e["payload"]["member"]["nick"] == nick).await;
    }
    let heard = s.lines_to_dave(&mut [&mut bob, &mut carl, &mut gus], "round 1", &mut zed).await;
    assert_eq!(heard, ["[bob] round 1", "[carl] round 1", "[gus] round 1"]);

    s.dave_texts("#mute bob on", "You no longer get bob's texts.").await;
    s.dave_texts("#mute carl on", "You no longer get carl's texts.").await;
    s.dave_texts("#mute GUS on", "You no longer get GUS's texts.").await;
    s.dave_texts("#mute nobody on", "nobody is called nobody").await;
    let heard = s.lines_to_dave(&mut [&mut bob, &mut carl, &mut gus], "round 2", &mut zed).await;
    assert_eq!(heard, Vec::<String>::new(), "muted members' lines were texted to dave");

    // Staff see whom dave muted, accounts by id and the guest by nick.
    let data = w
        .app
        .data(Some(&w.admin.token), "query($r: UUID!) { room(id: $r) { personalMutes { muteeKey muteeNick } } }", json!({ "r": w.room_id }))
        .await;
    let mut keys: Vec<String> =
        data["room"]["personalMutes"].as_array().unwrap().iter().map(|m| m["muteeKey"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    assert_eq!(keys.len(), 3, "{data}");
    assert!(keys.contains(&"guest:gus".to_owned()), "{data}");
    assert!(keys.contains(&format!("user:{}", bob_session.user_id)), "{data}");

    s.dave_texts("#mute bob off", "You get bob's texts again.").await;
    s.dave_texts("#unmute carl", "You get carl's texts again.").await;
    s.dave_texts("#unmute gus", "You get gus's texts again.").await;
    let heard = s.lines_to_dave(&mut [&mut bob, &mut carl, &mut gus], "round 3", &mut zed).await;
    assert_eq!(heard, ["[bob] round 3", "[carl] round 3", "[gus] round 3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_guest_stays_muted_on_logging_in_and_a_guest_who_leaves_is_forgotten() {
    let s = SmsBridgeWorld::start().await;
    let w = &s.w;
    let carl_session = w.app.member("carl").await;
    let mut carl = w.joined("carl").await;
    let mut gus = w.joined("gus").await;
    let mut zed = w.joined("zed").await;
    for nick in ["carl", "gus", "zed"] {
        w.wait_for_room_event(|e| e["type"] == "room.member_joined" && e["payload"]["member"]["nick"] == nick).await;
    }
    s.dave_texts("#mute carl on", "You no longer get carl's texts.").await;
    s.dave_texts("#mute gus on", "You no longer get gus's texts.").await;

    // carl logs in: the mute of the guest moves to the account.
    w.log_in(&mut carl, &carl_session).await;
    w.wait_for_room_event(|e| e["type"] == "room.member_identified" && e["payload"]["nick"] == "carl").await;
    let heard = s.lines_to_dave(&mut [&mut carl, &mut gus], "still muted", &mut zed).await;
    assert_eq!(heard, Vec::<String>::new());

    // gus leaves; whoever comes back as gus is someone new to dave.
    gus.part(CHANNEL).await.unwrap();
    w.wait_for_room_event(|e| e["type"] == "room.member_left" && e["payload"]["member"]["nick"] == "gus").await;
    gus.join(CHANNEL).await.unwrap();
    let heard = s.lines_to_dave(&mut [&mut carl, &mut gus], "back again", &mut zed).await;
    assert_eq!(heard, ["[gus] back again"]);
}
