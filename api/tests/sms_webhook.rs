//! The Twilio webhook over real HTTP: signed texts are recorded once per MessageSid; unsigned,
//! mis-signed and malformed ones are refused with a clear status and append nothing.

mod support;

use serde_json::{Value, json};
use support::{TestApp, form_encode as encode};

const TOKEN: &str = "test-auth-token";
const ROOM_NUMBER: &str = "+15559870000";

fn sign(app: &TestApp, params: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    gateways::sms::signature::expected_signature(TOKEN, &format!("{}/sms/twilio", app.app.settings.public_url), &owned)
}

async fn post(app: &TestApp, body: impl Into<reqwest::Body>, signature: Option<&str>) -> (u16, String) {
    let mut request = app.http.post(app.url("/sms/twilio")).header("content-type", "application/x-www-form-urlencoded").body(body);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn message<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MessageSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+15551230000"),
        ("To", ROOM_NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
    ]
}

async fn inbound_events(app: &TestApp, admin: &support::Session) -> Vec<Value> {
    let data = app
        .data(Some(&admin.token), "{ events(filter: {type: \"sms.inbound_received\"}) { edges { node { payload gateway } } } }", json!({}))
        .await;
    data["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// An app that accepts webhooks signed with [`TOKEN`], its admin, and a room bound to
/// [`ROOM_NUMBER`] that the rooms read model already knows (its id is returned).
async fn app_with_sms_room() -> (TestApp, support::Session, Value) {
    let app = TestApp::spawn_with(|s| s.twilio_auth_token = Some(api::Hidden::new(TOKEN))).await;
    let admin = app.member("admin").await;
    let created = app
        .data(
            Some(&admin.token),
            "mutation($n: String!) { createRoom(input: {name: \"sms\", smsNumber: $n}) { roomId position } }",
            json!({ "n": ROOM_NUMBER }),
        )
        .await;
    app.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": created["createRoom"]["position"] }))
        .await;
    (app, admin, created["createRoom"]["roomId"].clone())
}

/// Runs the SMS processor on the app's log until the returned handle is dropped.
fn start_processor(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let processor = gateways::sms::processor::SmsProcessor::new(app.log(), app.app.read.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { processor.run(stopped).await });
    stop
}

#[tokio::test]
async fn a_signed_text_is_recorded_once_however_often_twilio_retries_it_and_bad_ones_append_nothing() {
    let (app, admin, room_id) = app_with_sms_room().await;

    let sid = "SM0123456789abcdef0123456789abcdef";
    let params = message(sid, "hello from a phone 👋");
    let signature = sign(&app, &params);
    for _ in 0..3 {
        let (status, body) = post(&app, encode(&params), Some(&signature)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Response/>"), "empty TwiML: {body}");
    }
    // The log is read once every append before its head is readable (the watermark).
    let log = app.log();
    log.wait_for(log.head().await.unwrap(), std::time::Duration::from_secs(10)).await.unwrap();
    let recorded = inbound_events(&app, &admin).await;
    assert_eq!(recorded.len(), 1, "Twilio's retries add nothing: {recorded:?}");
    assert_eq!(recorded[0]["payload"]["body"], "hello from a phone 👋");
    assert_eq!(recorded[0]["payload"]["room_id"], room_id);
    assert_eq!(recorded[0]["gateway"], "sms");

    // Unsigned, mis-signed, tampered: 403.
    let other = message("SM11111111111111111111111111111111", "forged");
    assert_eq!(post(&app, encode(&other), None).await.0, 403);
    assert_eq!(post(&app, encode(&other), Some("bm90IGEgc2lnbmF0dXJlIGF0IGFsbA==")).await.0, 403);
    assert_eq!(post(&app, encode(&other), Some("%%%")).await.0, 403);
    let mut tampered = other.clone();
    let good = sign(&app, &other);
    tampered[4].1 = "tampered";
    assert_eq!(post(&app, encode(&tampered), Some(&good)).await.0, 403);

    // Signed but malformed: 400; signed for a number no room has: 404.
    let no_body: Vec<(&str, &str)> = other.iter().copied().filter(|(k, _)| *k != "Body").collect();
    let (status, text) = post(&app, encode(&no_body), Some(&sign(&app, &no_body))).await;
    assert_eq!((status, text.as_str()), (400, "the form has no Body field"));
    let (status, _) = post(&app, b"Body=%FF%FE&MessageSid=x".to_vec(), Some(&good)).await;
    assert_eq!(status, 400, "invalid UTF-8");
    let long = "x".repeat(2000);
    let too_long = message("SM22222222222222222222222222222222", &long);
    assert_eq!(post(&app, encode(&too_long), Some(&sign(&app, &too_long))).await.0, 400);
    let mut elsewhere = message("SM33333333333333333333333333333333", "who is there?");
    elsewhere[3].1 = "+15550000000";
    assert_eq!(post(&app, encode(&elsewhere), Some(&sign(&app, &elsewhere))).await.0, 404);
    // A huge body never reaches the parser.
    assert_eq!(post(&app, vec![b'a'; 400 * 1024], None).await.0, 413);

    assert_eq!(inbound_events(&app, &admin).await.len(), 1, "nothing else was recorded");
}

#[tokio::test]
async fn without_a_twilio_token_the_webhook_says_sms_is_not_configured() {
    let app = TestApp::spawn().await;
    let (status, text) = post(&app, "Body=hi", None).await;
    assert_eq!(status, 503);
    assert!(text.contains("not configured"), "{text}");
}

/// The deliveries queued so far, as `(to, body)`, oldest first.
async fn deliveries(app: &TestApp) -> Vec<(String, String)> {
    deliveries_from(app).await.into_iter().map(|(_, to, body)| (to, body)).collect()
}

/// One text field of a logged event's payload.
fn field(event: &store::RecordedEvent, name: &str) -> String {
    event.payload.to_value()[name].as_str().unwrap_or_default().to_owned()
}

/// Waits until `count` deliveries are queued (the processor works from the log, asynchronously).
async fn wait_for_deliveries(app: &TestApp, count: usize) -> Vec<(String, String)> {
    for _ in 0..500 {
        let queued = deliveries(app).await;
        if queued.len() >= count {
            return queued;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("expected {count} deliveries, got {:?}", deliveries(app).await);
}

const ALICE: &str = "+15550000001";
const BOB: &str = "+15550000002";
const CAROL: &str = "+15550000003";
const DAVE: &str = "+15550000004";

async fn text(app: &TestApp, sid_n: u32, from: &str, body: &str) {
    text_to(app, sid_n, from, ROOM_NUMBER, body).await;
}

/// Texts `body` from `from` to the room number `to`, as Twilio would post it.
async fn text_to(app: &TestApp, sid_n: u32, from: &str, to: &str, body: &str) {
    let sid = format!("SM{sid_n:032x}");
    let params = vec![("MessageSid", sid.as_str()), ("From", from), ("To", to), ("Body", body)];
    let (status, reply) = post(app, encode(&params), Some(&sign(app, &params))).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn people_join_by_sms_chat_with_fan_out_and_mutes_and_stops_are_respected() {
    let (app, admin, room) = app_with_sms_room().await;
    let processor = start_processor(&app);

    // A stranger gets one onboarding reply; nothing is fanned out.
    text(&app, 1, ALICE, "hello?").await;
    let queued = wait_for_deliveries(&app, 1).await;
    assert_eq!(queued[0].0, ALICE);
    assert!(queued[0].1.contains("#join"), "{queued:?}");

    text(&app, 2, ALICE, "#join alice").await;
    text(&app, 3, BOB, "#JOIN bob").await;
    text(&app, 4, CAROL, "#join carol").await;
    let queued = wait_for_deliveries(&app, 4).await;
    assert!(queued[1..4].iter().all(|(_, body)| body.starts_with("Welcome, ")), "{queued:?}");
    // A taken nick is refused with the reason.
    text(&app, 5, DAVE, "#join Bob").await;
    let queued = wait_for_deliveries(&app, 5).await;
    assert_eq!(queued[4], (DAVE.to_owned(), "The nick bob is taken.".to_owned()), "{queued:?}");

    // Alice talks: bob and carol receive it, alice does not.
    text(&app, 6, ALICE, "hi all").await;
    let queued = wait_for_deliveries(&app, 7).await;
    let mut fan_out: Vec<(String, String)> = queued[5..7].to_vec();
    fan_out.sort();
    assert_eq!(fan_out, vec![(BOB.to_owned(), "[alice] hi all".to_owned()), (CAROL.to_owned(), "[alice] hi all".to_owned())]);

    // Twilio retrying the same message changes nothing.
    text(&app, 6, ALICE, "hi all").await;

    // Bob mutes alice; carol stops with the carrier keyword (no reply: the carrier confirms).
    text(&app, 7, BOB, "#mute alice on").await;
    let queued = wait_for_deliveries(&app, 8).await;
    assert_eq!(queued[7], (BOB.to_owned(), "You no longer get alice's texts.".to_owned()));
    text(&app, 8, CAROL, "STOP").await;
    text(&app, 9, ALICE, "anyone?").await;
    // The only thing that could follow is a fan-out to carol or bob, which must not happen:
    // send a marker that produces exactly one delivery and check nothing came before it.
    text(&app, 10, DAVE, "#help").await;
    let queued = wait_for_deliveries(&app, 9).await;
    assert_eq!(queued.len(), 9, "{queued:?}");
    assert_eq!(queued[8].0, DAVE, "alice's text reached nobody: {queued:?}");

    // A room mute set in the API after alice's texts (the processor keeps the room's state
    // between texts): her next text is refused, with the reason, and reaches nobody.
    let muted =
        app.data(Some(&admin.token), "mutation($r: UUID!) { mute(room: $r, nick: \"alice\") { position } }", json!({ "r": room })).await;
    assert!(muted["mute"]["position"].is_string(), "{muted}");
    text(&app, 11, ALICE, "can you hear me?").await;
    let queued = wait_for_deliveries(&app, 10).await;
    assert_eq!(queued[9], (ALICE.to_owned(), "Muted in this room.".to_owned()), "{queued:?}");

    // The processor replays every text from the start (as after a crash before any checkpoint):
    // nothing is decided again. Alice's earlier texts stay said (no "muted" reply for them,
    // though she is muted now), and no delivery is queued twice.
    processor.send(true).unwrap();
    let client = app.store.pool().get().await.unwrap();
    let checkpoint = "SELECT tx_id::text, global_position FROM es_checkpoints WHERE subscriber = 'gateway:sms:inbound'";
    let reached: (String, i64) = client.query_one(checkpoint, &[]).await.map(|r| (r.get(0), r.get(1))).unwrap();
    client
        .execute("UPDATE es_checkpoints SET log_era = 0, tx_id = '0', global_position = 0 WHERE subscriber = 'gateway:sms:inbound'", &[])
        .await
        .unwrap();
    let _processor = start_processor(&app);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now: (String, i64) = client.query_one(checkpoint, &[]).await.map(|r| (r.get(0), r.get(1))).unwrap();
        if now.0.parse::<u64>().unwrap() >= reached.0.parse::<u64>().unwrap() && now.1 >= reached.1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the replay did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries(&app).await, queued, "the replay queued nothing new");
}

/// Waits until the stand-in has accepted `count` messages.
async fn wait_for_sent(twilio: &testkit::twilio::TwilioStandIn, count: usize) -> Vec<testkit::twilio::SentSms> {
    for _ in 0..500 {
        let sent = twilio.sent();
        if sent.len() >= count {
            return sent;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("expected {count} messages at Twilio, got {:?}", twilio.sent());
}

#[tokio::test]
async fn queued_texts_reach_twilio_once_through_outages_and_opt_outs_stop_the_member() {
    use testkit::twilio::{ACCOUNT_SID, AUTH_TOKEN, Failure, TwilioStandIn};
    let (app, admin, _) = app_with_sms_room().await;
    let twilio = TwilioStandIn::start().await;
    let client = gateways::sms::twilio::TwilioClient::new(gateways::sms::twilio::TwilioConfig {
        base_url: twilio.base_url.clone(),
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        status_callback: Some(format!("{}/sms/twilio/status", app.app.settings.public_url)),
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    let options = gateways::sms::outbound::OutboundOptions {
        per_number_per_second: None,
        first_backoff: std::time::Duration::from_millis(10),
        max_backoff: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let sender = gateways::sms::outbound::DeliverySender::new(app.log(), client, options);
    let _processor = start_processor(&app);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { sender.run(stopped).await });
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    text(&app, 3, CAROL, "#join carol").await;
    let sent = wait_for_sent(&twilio, 3).await;
    assert!(sent.iter().all(|s| s.from == ROOM_NUMBER && s.body.starts_with("Welcome, ")), "{sent:?}");

    // Twilio is down for a moment: the fan-out is retried and arrives exactly once each.
    twilio.fail_next(Failure::ServerError);
    twilio.fail_next(Failure::RateLimited);
    text(&app, 4, ALICE, "hi all").await;
    let sent = wait_for_sent(&twilio, 5).await;
    let mut fan_out: Vec<(String, String)> = sent[3..].iter().map(|s| (s.to.clone(), s.body.clone())).collect();
    fan_out.sort();
    assert_eq!(fan_out, vec![(BOB.to_owned(), "[alice] hi all".to_owned()), (CAROL.to_owned(), "[alice] hi all".to_owned())]);
    assert!(twilio.attempts() >= 7, "the failed attempts reached Twilio too");

    // One recipient has unsubscribed at the carrier (21610): that delivery fails for good and
    // the member is stopped, so the next text reaches only the other.
    twilio.fail_next(Failure::Unsubscribed);
    text(&app, 5, ALICE, "still there?").await;
    let sent = wait_for_sent(&twilio, 6).await;
    let reached = sent[5].to.clone();
    let stopped_number = if reached == BOB { CAROL } else { BOB };
    let users = "{ users(filter: {gateway: \"sms\"}) { edges { node { nick phone smsStopped } } } }";
    let mut stopped_seen = false;
    for _ in 0..200 {
        let data = app.data(Some(&admin.token), users, json!({})).await;
        stopped_seen = data["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["phone"] == stopped_number && e["node"]["smsStopped"] == true);
        if stopped_seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(stopped_seen, "the opted-out member is marked stopped");
    text(&app, 6, ALICE, "third").await;
    let sent = wait_for_sent(&twilio, 7).await;
    assert_eq!((sent[6].to.as_str(), sent[6].body.as_str()), (reached.as_str(), "[alice] third"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(twilio.sent().len(), 7, "nothing else was sent: {:?}", twilio.sent());
    // Every request carried its delivery id as Twilio's idempotency token.
    assert!(twilio.sent().iter().all(|s| s.idempotency_key.is_some()));
    assert_eq!(twilio.violations(), Vec::<String>::new(), "every request satisfied Twilio's contract");

    // Twilio reports progress through signed status callbacks, out of order and repeated; the
    // status only moves forward, and a forged callback is refused.
    let message = &twilio.sent()[6];
    for status in ["delivered", "sent", "delivered"] {
        assert_eq!(status_callback(&app, message, status, None).await, 200);
    }
    let callback_url = message.status_callback.clone().unwrap();
    let path = callback_url.trim_start_matches(app.app.settings.public_url.as_str());
    let forged = app
        .http
        .post(app.url(path))
        .header("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .form(&[("MessageStatus", "failed")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let deliveries = "query($p: Position) { deliveries(first: 1, waitFor: $p) { edges { node { twilioSid status history { status } } } } }";
    let mut last = None;
    for _ in 0..200 {
        let data = app.data(Some(&admin.token), deliveries, json!({})).await;
        let node = data["deliveries"]["edges"][0]["node"].clone();
        if node["status"] == "delivered" {
            last = Some(node);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let node = last.expect("the delivery reached status delivered");
    assert_eq!(node["twilioSid"], message.sid.as_str());
    let history: Vec<&str> = node["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(history.last(), Some(&"delivered"));
    assert!(!history.contains(&"sent"), "the late `sent` changed nothing: {history:?}");
}

/// Posts a status callback for `message` as Twilio would: to the URL it was given, signed.
async fn status_callback(app: &TestApp, message: &testkit::twilio::SentSms, status: &str, error_code: Option<&str>) -> u16 {
    let url = message.status_callback.clone().expect("a status callback URL");
    let mut params = vec![("MessageSid", message.sid.as_str()), ("MessageStatus", status), ("AccountSid", testkit::twilio::ACCOUNT_SID)];
    if let Some(code) = error_code {
        params.push(("ErrorCode", code));
    }
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let signature = gateways::sms::signature::expected_signature(TOKEN, &url, &owned);
    let path = url.trim_start_matches(app.app.settings.public_url.as_str());
    let response = app
        .http
        .post(app.url(path))
        .header("X-Twilio-Signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&params))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn members_change_nick_look_people_up_invite_resend_and_only_operators_grant_operator() {
    let (app, admin, _) = app_with_sms_room().await;
    let _processor = start_processor(&app);
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    wait_for_deliveries(&app, 2).await;

    text(&app, 3, BOB, "#update bobby").await;
    let queued = wait_for_deliveries(&app, 3).await;
    assert_eq!(queued[2], (BOB.to_owned(), "You are now bobby.".to_owned()));
    // The old nick is free again.
    text(&app, 4, DAVE, "#join bob").await;
    let queued = wait_for_deliveries(&app, 4).await;
    assert_eq!(queued[3].0, DAVE);
    assert!(queued[3].1.starts_with("Welcome, bob!"), "{queued:?}");

    // #who shows when someone joined; the phone only for public profiles.
    for _ in 0..100 {
        // The users read model must know bobby first.
        let data = app.data(Some(&admin.token), "{ user(nick: \"bobby\") { id } }", json!({})).await;
        if !data["user"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    text(&app, 5, ALICE, "#who bobby").await;
    let queued = wait_for_deliveries(&app, 5).await;
    assert!(queued[4].1.starts_with("bobby: member since "), "{queued:?}");
    assert!(!queued[4].1.contains(BOB), "private by default: {queued:?}");

    // Invitations are normalised to E.164 and texted to the invitee.
    text(&app, 6, ALICE, "#invite +1 (415) 555-0199").await;
    let queued = wait_for_deliveries(&app, 7).await;
    let mut last_two = queued[5..7].to_vec();
    last_two.sort();
    assert_eq!(last_two[0], ("+14155550199".to_owned(), last_two[0].1.clone()));
    assert!(last_two[0].1.contains("alice invites you"), "{last_two:?}");
    assert_eq!(last_two[1], ("+15550000001".to_owned(), "Invitation sent to +14155550199.".to_owned()));

    // A member cannot make anyone an operator.
    text(&app, 7, ALICE, "#admin bobby on").await;
    let queued = wait_for_deliveries(&app, 8).await;
    assert_eq!(queued[7].0, ALICE);
    assert!(queued[7].1.contains("level 3"), "{queued:?}");

    // #resend repeats the last room texts this member received.
    text(&app, 8, ALICE, "one").await;
    text(&app, 9, ALICE, "two").await;
    let queued = wait_for_deliveries(&app, 12).await; // bobby and bob get each
    assert!(queued[8..12].iter().all(|(_, body)| body.starts_with("[alice] ")), "{queued:?}");
    for _ in 0..100 {
        // The deliveries read model must have them before #resend can find them.
        let client = app.db.client().await;
        let n: i64 = client
            .query_one("SELECT count(*) FROM read.deliveries WHERE to_number = $1 AND body LIKE '[alice] %'", &[&BOB])
            .await
            .unwrap()
            .get(0);
        if n == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    text(&app, 10, BOB, "#resend 5").await;
    let queued = wait_for_deliveries(&app, 14).await;
    assert_eq!(
        queued[12..14].to_vec(),
        vec![(BOB.to_owned(), "[alice] one".to_owned()), (BOB.to_owned(), "[alice] two".to_owned())],
        "{queued:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_while_twilio_is_answering_and_restarted_never_sends_a_text_twice() {
    use testkit::twilio::{ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn};
    let (app, admin, _) = app_with_sms_room().await;
    let twilio = TwilioStandIn::start().await;
    let sender = || {
        let client = gateways::sms::twilio::TwilioClient::new(gateways::sms::twilio::TwilioConfig {
            base_url: twilio.base_url.clone(),
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
            status_callback: None,
            timeout: std::time::Duration::from_secs(5),
        })
        .unwrap();
        let options = gateways::sms::outbound::OutboundOptions { per_number_per_second: None, ..Default::default() };
        gateways::sms::outbound::DeliverySender::new(app.log(), client, options)
    };
    let _processor = start_processor(&app);
    // Twilio accepts at once but answers late: the sender is killed inside that window.
    twilio.answer_after(std::time::Duration::from_millis(500));
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let first = sender();
    let running = tokio::spawn({
        let stopped = stopped.clone();
        async move { first.run(stopped).await }
    });
    let members: Vec<String> = (0..6).map(|i| format!("+1555020{i:04}")).collect();
    for (i, phone) in members.iter().enumerate() {
        text(&app, 100 + i as u32, phone, &format!("#join member{i}")).await;
    }
    text(&app, 200, &members[0], "hello, everyone").await;
    let expected = members.len() + (members.len() - 1); // a welcome each, then the fan-out
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while twilio.sent().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "nothing reached Twilio");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    running.abort(); // a crash: in-flight requests are dropped, their answers never read
    let _ = running.await;

    twilio.answer_after(std::time::Duration::ZERO);
    let second = sender();
    tokio::spawn(async move { second.run(stopped).await });
    let sids = "{ deliveries(first: 100) { edges { node { toNumber body twilioSid } } } }";
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let data = app.data(Some(&admin.token), sids, json!({})).await;
        let edges = data["deliveries"]["edges"].as_array().unwrap().clone();
        let with_sid = edges.iter().filter(|e| e["node"]["twilioSid"].is_string()).count();
        if edges.len() == expected && with_sid == expected {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{with_sid} of {expected} deliveries have a SID: {edges:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sent = twilio.sent();
    let mut distinct: Vec<(String, String)> = sent.iter().map(|s| (s.to.clone(), s.body.clone())).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(sent.len(), expected, "each text accepted once: {sent:#?}");
    assert_eq!(distinct.len(), expected);
    assert!(twilio.replayed() >= 1, "the restarted sender retried what Twilio had accepted, with the same idempotency token");
}

/// The fan-out deliveries to `to` that carry `[nick] …`, joined back into one text per message.
fn fanned_to(queued: &[(String, String)], to: &str) -> String {
    queued.iter().filter(|(number, _)| number == to).map(|(_, body)| body.as_str()).collect()
}

#[tokio::test]
async fn a_text_with_nul_characters_is_recorded_without_them_and_a_full_length_text_in_any_script_reaches_the_room() {
    let (app, admin, room) = app_with_sms_room().await;
    let _processor = start_processor(&app);
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    wait_for_deliveries(&app, 2).await;

    // PostgreSQL's JSON refuses NUL: the text is recorded (200, not a 500 Twilio would retry)
    // without it, and reaches the room.
    text(&app, 3, ALICE, "nul\0 in\0side").await;
    let queued = wait_for_deliveries(&app, 3).await;
    assert_eq!(queued[2], (BOB.to_owned(), "[alice] nul inside".to_owned()), "{queued:?}");
    let recorded = inbound_events(&app, &admin).await;
    assert!(recorded.iter().any(|e| e["payload"]["body"] == "nul inside"), "{recorded:?}");

    // 1,600 characters, Twilio's limit, in scripts whose characters take 3 and 4 bytes.
    let cjk = "漢字".repeat(800);
    let emoji = "👋".repeat(1_600);
    text(&app, 4, ALICE, &cjk).await;
    text(&app, 5, ALICE, &emoji).await;
    // Each fans out as two texts of at most 1,600 characters ("[alice] " makes it longer).
    let queued = wait_for_deliveries(&app, 7).await;
    assert!(queued[3..].iter().all(|(to, body)| to == BOB && body.chars().count() <= 1_600), "{queued:?}");
    assert_eq!(fanned_to(&queued[3..], BOB), format!("[alice] {cjk}[alice] {emoji}"), "both texts reach bob in full");
    let mut bodies = Vec::new();
    for _ in 0..200 {
        let history =
            app.data(Some(&admin.token), "query($r: UUID!) { messages(room: $r) { edges { node { body } } } }", json!({ "r": room })).await;
        bodies =
            history["messages"]["edges"].as_array().unwrap().iter().filter_map(|e| e["node"]["body"].as_str().map(String::from)).collect();
        if bodies.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(bodies, vec!["nul inside".to_owned(), cjk, emoji], "the room has them as said");
}

/// Creates another room bound to `number` and waits until the rooms read model knows it.
async fn add_sms_room(app: &TestApp, admin: &support::Session, name: &str, number: &str, invite_only: bool) -> Value {
    let created = app
        .data(
            Some(&admin.token),
            "mutation($name: String!, $n: String!, $i: Boolean!) { createRoom(input: {name: $name, smsNumber: $n, inviteOnly: $i}) { roomId position } }",
            json!({ "name": name, "n": number, "i": invite_only }),
        )
        .await;
    app.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": created["createRoom"]["position"] }))
        .await;
    created["createRoom"]["roomId"].clone()
}

/// The deliveries queued so far, as `(from, to, body)`, oldest first.
async fn deliveries_from(app: &TestApp) -> Vec<(String, String, String)> {
    let queued = app.log_events_of(&store::Filter::event_types(["delivery.queued"])).await;
    queued.iter().map(|e| (field(e, "from"), field(e, "to"), field(e, "body"))).collect()
}

/// Waits for the `n`th delivery (1-based) and returns it as `(from, to, body)`.
async fn delivery(app: &TestApp, n: usize) -> (String, String, String) {
    wait_for_deliveries(app, n).await;
    deliveries_from(app).await.swap_remove(n - 1)
}

fn sms(from: &str, to: &str, body: &str) -> (String, String, String) {
    (from.to_owned(), to.to_owned(), body.to_owned())
}

const GAMES_NUMBER: &str = "+15559870001";
const CLUB_NUMBER: &str = "+15559870002";

#[tokio::test]
async fn one_phone_is_a_member_of_several_rooms_and_stops_mutes_and_resends_are_per_room() {
    let (app, admin, lobby) = app_with_sms_room().await;
    let games = add_sms_room(&app, &admin, "games", GAMES_NUMBER, false).await;
    add_sms_room(&app, &admin, "club", CLUB_NUMBER, true).await;
    let _processor = start_processor(&app);
    let welcome = |nick: &str| format!("Welcome, {nick}! Your texts now go to the room. #help lists the commands.");

    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    wait_for_deliveries(&app, 2).await;
    // Alice and bob join the games room with the same phones: they are the same people there.
    text_to(&app, 3, ALICE, GAMES_NUMBER, "#join alice").await;
    assert_eq!(delivery(&app, 3).await, sms(GAMES_NUMBER, ALICE, &welcome("alice")));
    text_to(&app, 4, BOB, GAMES_NUMBER, "#join bobby").await;
    assert_eq!(
        delivery(&app, 4).await,
        sms(
            GAMES_NUMBER,
            BOB,
            "Welcome, bob! Your texts now go to the room. Your nick stays bob; #update <nick> changes it. #help lists the commands."
        )
    );
    // The invite-only club does not show its members to someone who is not one of them.
    text_to(&app, 5, ALICE, CLUB_NUMBER, "#list").await;
    let (from, to, body) = delivery(&app, 5).await;
    assert_eq!((from.as_str(), to.as_str()), (CLUB_NUMBER, ALICE));
    assert!(body.starts_with("Welcome! To join this room, reply #join"), "{body}");
    text_to(&app, 6, ALICE, CLUB_NUMBER, "#join alice").await;
    assert_eq!(delivery(&app, 6).await, sms(CLUB_NUMBER, ALICE, "This room is invite-only; ask a member for an invitation."));

    // A carrier STOP to the lobby's number stops the lobby's texts only.
    text(&app, 7, ALICE, "STOP").await;
    text(&app, 8, BOB, "in the lobby").await;
    text_to(&app, 9, BOB, GAMES_NUMBER, "in games").await;
    assert_eq!(delivery(&app, 7).await, sms(GAMES_NUMBER, ALICE, "[bob] in games"), "the lobby's text reached nobody");
    text(&app, 10, BOB, "#list").await;
    assert_eq!(delivery(&app, 8).await, sms(ROOM_NUMBER, BOB, "In the room: alice (stopped), bob"));
    text_to(&app, 11, BOB, GAMES_NUMBER, "#list").await;
    assert_eq!(delivery(&app, 9).await, sms(GAMES_NUMBER, BOB, "In the room: alice, bob"));

    // A mute in games is games' only; START in the lobby resumes the lobby.
    text_to(&app, 12, ALICE, GAMES_NUMBER, "#mute bob on").await;
    assert_eq!(delivery(&app, 10).await, sms(GAMES_NUMBER, ALICE, "You no longer get bob's texts."));
    text(&app, 13, ALICE, "START").await;
    assert_eq!(delivery(&app, 11).await, sms(ROOM_NUMBER, ALICE, "Welcome back: room texts resume."));
    text_to(&app, 14, BOB, GAMES_NUMBER, "muted in games").await;
    text(&app, 15, BOB, "heard in the lobby").await;
    assert_eq!(delivery(&app, 12).await, sms(ROOM_NUMBER, ALICE, "[bob] heard in the lobby"));

    // #resend repeats the texts of the room whose number was texted.
    for _ in 0..200 {
        let client = app.db.client().await;
        let n: i64 = client
            .query_one("SELECT count(*) FROM read.deliveries WHERE to_number = $1 AND body LIKE '[bob] %'", &[&ALICE])
            .await
            .unwrap()
            .get(0);
        if n == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    text_to(&app, 16, ALICE, GAMES_NUMBER, "#resend 5").await;
    assert_eq!(delivery(&app, 13).await, sms(GAMES_NUMBER, ALICE, "[bob] in games"));
    text(&app, 17, DAVE, "#help").await;
    let (_, to, _) = delivery(&app, 14).await;
    assert_eq!(to, DAVE, "games resent its one text, not the lobby's: {:?}", deliveries_from(&app).await);

    // GraphQL says which rooms' texts are stopped: games, then the lobby too, then after START
    // in the lobby still games (so still stopped).
    let stops = |expected: Vec<&Value>, stopped: bool| {
        let (app, admin) = (&app, &admin);
        let expected = json!(expected);
        async move {
            let query = "{ users(filter: {gateway: \"sms\"}) { edges { node { phone smsStopped smsStoppedRooms } } } }";
            let mut seen = Value::Null;
            for _ in 0..200 {
                let data = app.data(Some(&admin.token), query, json!({})).await;
                seen = data["users"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["phone"] == ALICE).unwrap()["node"].clone();
                if seen["smsStoppedRooms"] == expected && seen["smsStopped"] == stopped {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("alice's stops: {seen}, expected {expected} (stopped: {stopped})");
        }
    };
    let mut both = [&lobby, &games];
    both.sort_by_key(|id| id.as_str().unwrap().to_owned());
    text_to(&app, 18, ALICE, GAMES_NUMBER, "#stop").await;
    stops(vec![&games], true).await;
    text(&app, 19, ALICE, "STOP").await;
    stops(both.to_vec(), true).await;
    text(&app, 20, ALICE, "START").await;
    stops(vec![&games], true).await;
}

#[tokio::test]
async fn list_marks_who_stopped_and_a_member_banned_and_unbanned_can_join_again() {
    let (app, admin, room) = app_with_sms_room().await;
    let _processor = start_processor(&app);
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    text(&app, 3, CAROL, "#join carol").await;
    wait_for_deliveries(&app, 3).await;
    text(&app, 4, BOB, "#stop").await;
    assert_eq!(delivery(&app, 4).await, sms(ROOM_NUMBER, BOB, "Stopped: you get no room texts. #start resumes."));
    text(&app, 5, ALICE, "#list").await;
    assert_eq!(delivery(&app, 5).await, sms(ROOM_NUMBER, ALICE, "In the room: alice, bob (stopped), carol"));

    let ban = "mutation($r: UUID!) { ban(room: $r, target: {nick: \"carol\"}) { position } }";
    assert!(app.data(Some(&admin.token), ban, json!({ "r": room })).await["ban"]["position"].is_string());
    text(&app, 6, CAROL, "#join carol").await;
    assert_eq!(delivery(&app, 6).await, sms(ROOM_NUMBER, CAROL, "Banned from this room."));
    let unban = "mutation($r: UUID!) { unban(room: $r, target: {nick: \"carol\"}) { position } }";
    assert!(app.data(Some(&admin.token), unban, json!({ "r": room })).await["unban"]["position"].is_string());
    text(&app, 7, CAROL, "#join carol").await;
    assert_eq!(
        delivery(&app, 7).await,
        sms(ROOM_NUMBER, CAROL, "Welcome, carol! Your texts now go to the room. #help lists the commands.")
    );
    text(&app, 8, ALICE, "#list").await;
    assert_eq!(delivery(&app, 8).await, sms(ROOM_NUMBER, ALICE, "In the room: alice, bob (stopped), carol"));
}

#[tokio::test]
async fn invite_reads_numbers_as_people_type_them_refuses_costly_ones_and_invites_and_resends_are_limited() {
    use gateways::sms::limits::CostLimits;
    let (app, _admin, _) = app_with_sms_room().await;
    let limits = CostLimits { invites_per_day: 2, resent_texts_per_hour: 2, ..CostLimits::default() };
    let processor = gateways::sms::processor::SmsProcessor::new(app.log(), app.app.read.clone()).with_limits(limits);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { processor.run(stopped).await });
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    wait_for_deliveries(&app, 2).await;

    // Without `+`, the number is read in the room number's country (+1: the US).
    text(&app, 3, ALICE, "#invite (415) 555-0134").await;
    wait_for_deliveries(&app, 4).await;
    let queued = deliveries_from(&app).await;
    assert!(queued.contains(&sms(ROOM_NUMBER, ALICE, "Invitation sent to +14155550134.")), "{queued:?}");
    assert!(queued.iter().any(|(_, to, body)| to == "+14155550134" && body.contains("alice invites you")), "{queued:?}");
    text(&app, 4, ALICE, "#invite +44 20 7946 0958").await;
    wait_for_deliveries(&app, 6).await;
    assert!(deliveries_from(&app).await.contains(&sms(ROOM_NUMBER, ALICE, "Invitation sent to +442079460958.")));
    // The third invitation in a day is over this member's limit: answered, nobody texted.
    text(&app, 6, ALICE, "#invite 415.555.0177").await;
    let limit_reply = "Invitation limit reached: a member can send 2 a day from this room. Try again later.";
    assert_eq!(delivery(&app, 7).await, sms(ROOM_NUMBER, ALICE, limit_reply));
    // Numbers no phone can have, premium-rate numbers and short codes get a reason.
    text(&app, 7, BOB, "#invite (555) 000-0009").await;
    assert_eq!(delivery(&app, 8).await, sms(ROOM_NUMBER, BOB, "+15550000009 is not a number any phone can have; check it and try again."));
    text(&app, 8, BOB, "#invite 1-900-555-0134").await;
    assert_eq!(delivery(&app, 9).await, sms(ROOM_NUMBER, BOB, "+19005550134 is a premium-rate number; Switchboard does not text those."));
    text(&app, 9, BOB, "#invite 32665").await;
    assert_eq!(delivery(&app, 10).await, sms(ROOM_NUMBER, BOB, "32665 is a short code; Switchboard texts only phone numbers."));
    text(&app, 10, BOB, "#invite call me").await;
    assert_eq!(
        delivery(&app, 11).await,
        sms(ROOM_NUMBER, BOB, "That is not a phone number. Write it as you would dial it, e.g. (415) 555-0134 or +44 20 7946 0958.")
    );

    // #resend: two texts an hour per member here.
    text(&app, 11, BOB, "one").await;
    text(&app, 12, BOB, "two").await;
    text(&app, 13, BOB, "three").await;
    wait_for_deliveries(&app, 14).await;
    for _ in 0..200 {
        let client = app.db.client().await;
        let n: i64 = client
            .query_one("SELECT count(*) FROM read.deliveries WHERE to_number = $1 AND body LIKE '[bob] %'", &[&ALICE])
            .await
            .unwrap()
            .get(0);
        if n == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    text(&app, 14, ALICE, "#resend 2").await;
    wait_for_deliveries(&app, 16).await;
    text(&app, 15, ALICE, "#resend 1").await;
    let resend_limit = "Resend limit reached: a member can have 2 texts resent an hour from this room. Try again later.";
    assert_eq!(delivery(&app, 17).await, sms(ROOM_NUMBER, ALICE, resend_limit));
    let all = deliveries_from(&app).await;
    assert_eq!(all.len(), 17, "{all:?}");
    assert_eq!(all[14..16].iter().map(|(_, _, b)| b.as_str()).collect::<Vec<_>>(), vec!["[bob] two", "[bob] three"]);
}

#[tokio::test]
async fn an_mms_keeps_its_media_and_twilios_other_fields_and_reaches_the_room_as_links() {
    let (app, admin, room) = app_with_sms_room().await;
    let _processor = start_processor(&app);
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    wait_for_deliveries(&app, 2).await;

    let picture = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM0123/Media/ME0001";
    let clip = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM0123/Media/ME0002";
    let sid = "MM0123456789abcdef0123456789abcdef";
    let with_words = vec![
        ("MessageSid", sid),
        ("From", ALICE),
        ("To", ROOM_NUMBER),
        ("Body", "look at this"),
        ("NumMedia", "2"),
        ("MediaUrl0", picture),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", clip),
        ("MediaContentType1", "video/mp4"),
        ("FromCity", "OAKLAND"),
        ("FromState", "CA"),
        ("FromZip", "94612"),
        ("FromCountry", "US"),
        ("ToCity", "SAN FRANCISCO"),
        ("ToState", "CA"),
        ("ToZip", "94105"),
        ("ToCountry", "US"),
        ("NumSegments", "1"),
    ];
    let (status, reply) = post(&app, encode(&with_words), Some(&sign(&app, &with_words))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(delivery(&app, 3).await, sms(ROOM_NUMBER, BOB, &format!("[alice] look at this\n{picture}\n{clip}")));

    // A picture alone is a message of its link.
    let alone = vec![
        ("MessageSid", "MM0123456789abcdef0123456789abcdee"),
        ("From", ALICE),
        ("To", ROOM_NUMBER),
        ("Body", ""),
        ("NumMedia", "1"),
        ("MediaUrl0", picture),
        ("MediaContentType0", "image/png"),
    ];
    let (status, reply) = post(&app, encode(&alone), Some(&sign(&app, &alone))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(delivery(&app, 4).await, sms(ROOM_NUMBER, BOB, &format!("[alice] {picture}")));

    let recorded = inbound_events(&app, &admin).await;
    let mms = recorded.iter().find(|e| e["payload"]["message_sid"] == sid).expect("the MMS is recorded");
    assert_eq!(
        mms["payload"]["media"],
        json!([{ "url": picture, "content_type": "image/jpeg" }, { "url": clip, "content_type": "video/mp4" }])
    );
    assert_eq!(
        mms["payload"]["twilio"],
        json!({
            "from": { "city": "OAKLAND", "state": "CA", "zip": "94612", "country": "US" },
            "to": { "city": "SAN FRANCISCO", "state": "CA", "zip": "94105", "country": "US" },
            "segments": 1
        })
    );
    // The room's message (what the IRC relay says on the channel) carries the links too.
    let mut bodies = Vec::new();
    for _ in 0..200 {
        let history =
            app.data(Some(&admin.token), "query($r: UUID!) { messages(room: $r) { edges { node { body } } } }", json!({ "r": room })).await;
        bodies =
            history["messages"]["edges"].as_array().unwrap().iter().filter_map(|e| e["node"]["body"].as_str().map(String::from)).collect();
        if bodies.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(bodies, vec![format!("look at this\n{picture}\n{clip}"), picture.to_owned()]);

    // Media Twilio would not send are refused before anything is recorded.
    let mut bad = alone.clone();
    bad[0].1 = "MM0123456789abcdef0123456789abcded";
    bad[5].1 = "javascript:alert(1)";
    let (status, text) = post(&app, encode(&bad), Some(&sign(&app, &bad))).await;
    assert_eq!((status, text.as_str()), (400, "the MediaUrl<n> field is invalid: not an https URL"));
}

#[tokio::test]
async fn texts_that_arrive_together_are_posted_in_one_batch_in_order_with_refusals_answered_in_place() {
    let (app, admin, room) = app_with_sms_room().await;
    let processor = start_processor(&app);
    text(&app, 1, ALICE, "#join alice").await;
    text(&app, 2, BOB, "#join bob").await;
    text(&app, 3, CAROL, "#join carol").await;
    wait_for_deliveries(&app, 3).await;
    processor.send(true).unwrap();
    let muted =
        app.data(Some(&admin.token), "mutation($r: UUID!) { mute(room: $r, nick: \"carol\") { position } }", json!({ "r": room })).await;

    // Texts that come in together while nothing handles them: one run. It starts after the mute
    // (the log's head may still be behind it while other transactions are open).
    let store = app.log();
    let after: store::Position = muted["mute"]["position"].as_str().unwrap().parse().unwrap();
    text(&app, 4, ALICE, "one").await;
    text(&app, 5, CAROL, "two, from the muted one").await;
    text(&app, 6, BOB, "three").await;
    text(&app, 7, ALICE, "#help").await;
    text(&app, 8, BOB, "four").await;
    let filter = store::Filter::event_types(["sms.inbound_received"]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let run = loop {
        let run = store.read_all(after, &filter, 100).await.unwrap().events;
        if run.len() >= 5 || tokio::time::Instant::now() >= deadline {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(run.len(), 5);

    let processor = gateways::sms::processor::SmsProcessor::new(app.log(), app.app.read.clone());
    processor.handle_new_run(&run).await.unwrap();
    // Appended; visible in the gap-free log once no earlier transaction is open.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while deliveries(&app).await.iter().filter(|(_, body)| body == "[bob] four").count() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let queued = deliveries(&app).await[3..].to_vec();
    let to = |number: &str| queued.iter().filter(|(n, _)| n == number).map(|(_, body)| body.as_str()).collect::<Vec<_>>();
    assert_eq!(to(BOB), ["[alice] one"]);
    assert_eq!(to(CAROL)[..2], ["[alice] one", "Muted in this room."], "the refusal comes after the text before it: {queued:?}");
    assert_eq!(to(CAROL)[2..], ["[bob] three", "[bob] four"]);
    assert_eq!(to(ALICE)[0], "[bob] three");
    assert!(to(ALICE)[1].starts_with("Commands:"), "the #help answer after the texts before it: {queued:?}");
    assert_eq!(to(ALICE)[2], "[bob] four");
    assert_eq!(queued.len(), 8, "{queued:?}");

    // The posts are the room's, in the order the texts came; handled again, by either path,
    // nothing is posted or queued twice.
    processor.handle_new_run(&run).await.unwrap();
    processor.handle_run(&run).await.unwrap();
    assert_eq!(deliveries(&app).await[3..], queued[..]);
    let posted = app.log_events_of(&store::Filter::event_types(["room.message_posted"])).await;
    let posted: Vec<String> = posted.iter().map(|e| field(e, "body")).collect();
    assert_eq!(posted, ["one", "three", "four"]);
}

/// `createRoom` and `bindSmsNumber` with `configureTwilio` point the number's texts at this
/// server in the Twilio account (the stand-in checks each request against Twilio's contract);
/// without it Twilio is not touched, and a number the account does not have binds nothing.
#[tokio::test]
async fn rooms_point_their_numbers_at_this_server_in_twilio_when_asked() {
    use testkit::twilio::{ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn};
    let twilio = TwilioStandIn::start().await;
    let (first, second, foreign) = ("+15550101001", "+15550101002", "+15550101999");
    twilio.add_number(first);
    twilio.add_number(second);
    let base_url = twilio.base_url.clone();
    let app = TestApp::spawn_parts(switchboard::app::Parts::API_ONLY, |s| {
        s.api.twilio_auth_token = Some(api::Hidden::new(AUTH_TOKEN));
        s.twilio.account_sid = Some(ACCOUNT_SID.into());
        s.twilio.base_url = base_url;
    })
    .await;
    let admin = app.member("admin").await;
    let here = format!("{}/sms/twilio", app.app.settings.public_url);
    let posts_to = |number: &str| twilio.number(number).and_then(|n| n.sms_url);

    let created = app
        .data(
            Some(&admin.token),
            "mutation($n: String!) { createRoom(input: {name: \"first\", smsNumber: $n, configureTwilio: true}) { roomId } }",
            json!({ "n": first }),
        )
        .await;
    assert!(created["createRoom"]["roomId"].is_string());
    assert_eq!(posts_to(first).as_deref(), Some(here.as_str()));
    assert_eq!(twilio.number(first).unwrap().sms_method, "POST");

    let room = app.data(Some(&admin.token), "mutation { createRoom(input: {name: \"second\"}) { roomId position } }", json!({})).await;
    // Binding looks the room up in the read model.
    app.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": room["createRoom"]["position"] })).await;
    let room = room["createRoom"]["roomId"].clone();
    let bind = "mutation($r: UUID!, $n: String!, $c: Boolean!) { bindSmsNumber(room: $r, number: $n, configureTwilio: $c) { position } }";
    app.data(Some(&admin.token), bind, json!({ "r": room, "n": second, "c": false })).await;
    assert_eq!(posts_to(second), None, "without configureTwilio Twilio is not touched");
    app.data(Some(&admin.token), "mutation($r: UUID!) { unbindSmsNumber(room: $r) { position } }", json!({ "r": room })).await;
    app.data(Some(&admin.token), bind, json!({ "r": room, "n": second, "c": true })).await;
    assert_eq!(posts_to(second).as_deref(), Some(here.as_str()));
    assert_eq!(twilio.number_updates(), 2);
    app.data(Some(&admin.token), "mutation($r: UUID!) { unbindSmsNumber(room: $r) { position } }", json!({ "r": room })).await;
    app.data(Some(&admin.token), bind, json!({ "r": room, "n": second, "c": true })).await;
    assert_eq!(twilio.number_updates(), 2, "a number that already posts here is left as it is");

    let refused = app
        .graphql(
            Some(&admin.token),
            "mutation($n: String!) { createRoom(input: {name: \"third\", smsNumber: $n, configureTwilio: true}) { roomId } }",
            json!({ "n": foreign }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["message"], format!("{foreign} is not a number of this server's Twilio account"));
    let rooms = app.data(Some(&admin.token), "{ rooms { name } }", json!({})).await;
    assert!(!rooms.to_string().contains("third"), "nothing was created: {rooms}");
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
}
