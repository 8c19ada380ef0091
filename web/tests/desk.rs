//! The desk's room steps and a member's ban request in a real headless Chromium, against a real
//! `serve` with real PostgreSQL, a real ngIRCd and the SMS gateway sending to the Twilio
//! stand-in: a ban requested on a room page, approved on the desk and carried out on IRC; a
//! room created and bound on the desk (the bot joins its channel), spoken in as the bot (the
//! line reaches IRC and the room's phones), its deliveries with Twilio's status history, and
//! unbound (the bot parts); the room as it was with its topic, the conversation searched past
//! its 500th message a page at a time, and the IRC vs SMS share chart. Screenshots as in
//! `browser.rs` (`UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/`).

mod support;

use std::time::Duration;

use fantoccini::Locator;
use support::{BOT, CHANNEL, TWILIO_TOKEN, WAIT, WebApp, click_to_load, member, room_of_channel, screenshot, sign_in, text_of};
use testkit::browser::Browser;
use testkit::twilio::{SentSms, TwilioStandIn};

/// Fills the fields of the form posting to `action`, by name.
async fn fill(browser: &fantoccini::Client, action: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let css = format!("form[action='{action}'] [name='{name}']");
        browser.find(Locator::Css(&css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).send_keys(value).await.unwrap();
    }
}

/// Reloads `path` until `css` is on it (the read models follow the log).
async fn reload_until(web: &WebApp, browser: &fantoccini::Client, path: &str, css: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        browser.goto(&web.url(path)).await.unwrap();
        if browser.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{css} never showed on {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_requests_a_ban_on_the_web_staff_approve_it_on_the_desk_and_the_bot_bans_on_irc() {
    let web = WebApp::spawn_with_irc().await;
    member(&web, "alice").await;
    let bob = member(&web, "bob").await;
    member(&web, "carol").await;
    let room = room_of_channel(&web, CHANNEL).await;

    let mut mallory = web.irc_client("mallory").await;
    mallory.join(CHANNEL).await.unwrap();
    // Bob is in the room (by his account, as a gateway records a join); carol is not.
    let bob_ref = domain::events::MemberRef { user_id: Some(bob.user_id), nick: domain::DisplayNick::parse(&bob.nick).unwrap() };
    let joining = domain::Joining {
        member: bob_ref,
        mask: None,
        phone: None,
        gateway: domain::Gateway::Irc,
        caller_level: domain::Level::Member,
        as_bot: false,
        nick_holder: None,
    };
    let joined = in_room(&web, room, domain::RoomCommand::Join(joining)).await;
    api::moderation::caught_up(&web.app, joined, &["rooms"]).await.unwrap();

    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "carol").await;
    b.goto(&web.url(&format!("/rooms/{room}"))).await.unwrap();
    assert!(b.find(Locator::Css("#request-ban")).await.is_err(), "someone outside the room is offered a ban request");
    click_to_load(b, "form[action='/logout'] button").await;

    sign_in(&web, b, "bob").await;
    reload_until(&web, b, &format!("/rooms/{room}"), "#request-ban").await;
    let action = format!("/rooms/{room}/ban-request");
    fill(b, &action, &[("nick", "mallory"), ("reason", "<script>alert(1)</script> flooding")]).await;
    screenshot(b, "room-request-ban").await;
    click_to_load(b, &format!("form[action='{action}'] button")).await;
    assert!(text_of(b, "p[role='status']").await.contains("Your ban request is with staff"));
    let requests = web.app.read.ban_requests(room, Some(projections::queries::BanRequestStatus::Open)).await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].by, format!("user:{}", bob.user_id));
    assert_eq!(requests[0].target_mask.as_deref(), Some("mallory!*@*"), "a guest is asked for by nick, as `.requestban` does");
    click_to_load(b, "form[action='/logout'] button").await;

    // Staff see it on the desk, the reason as text, and approve it: the bot bans and kicks.
    sign_in(&web, b, "alice").await;
    b.goto(&web.url("/staff")).await.unwrap();
    let row = text_of(b, "table.requests tbody tr").await;
    assert!(row.contains("mallory") && row.contains("<script>alert(1)</script> flooding") && row.contains("bob"), "{row}");
    assert!(b.find(Locator::Css("table.requests script")).await.is_err(), "the reason became markup");
    click_to_load(b, "form[action='/staff/ban-requests/approve'] button").await;
    assert!(text_of(b, "section[aria-labelledby='requests'] p").await.contains("No open ban requests"));
    let ban = mallory.expect(WAIT, |l| l.is("MODE") && l.param(1) == Some("+b")).await.unwrap();
    assert_eq!(ban.param(2), Some("mallory!*@*"), "{ban:?}");
    let kick = mallory.expect(WAIT, |l| l.is("KICK") && l.param(1) == Some("mallory")).await.unwrap();
    assert!(kick.is_from(BOT), "{kick:?}");
    drop(browser);
}

const GARDEN: &str = "#garden";
const GARDEN_NUMBER: &str = "+15550100777";
const DORA_PHONE: &str = "+15550100888";

/// Posts a signed form to one of the Twilio webhooks, as Twilio would: `url` is the public URL
/// Twilio was given (what the signature covers).
async fn post_signed(web: &WebApp, url: &str, params: &[(&str, &str)]) -> u16 {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let signature = gateways::sms::signature::expected_signature(TWILIO_TOKEN, url, &owned);
    let path = url.trim_start_matches(web.app.settings.public_url.as_str());
    let response = reqwest::Client::new()
        .post(web.url(path))
        .header("X-Twilio-Signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).unwrap())
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// The texts the stand-in accepted for `to` whose body contains `text`, once there is one.
async fn sent_to(twilio: &TwilioStandIn, to: &str, text: &str) -> SentSms {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(sent) = twilio.sent().into_iter().find(|s| s.to == to && s.body.contains(text)) {
            return sent;
        }
        assert!(tokio::time::Instant::now() < deadline, "no text with {text:?} to {to}: {:?}", twilio.sent());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_create_and_bind_a_room_speak_in_it_as_the_bot_follow_its_deliveries_and_unbind_it() {
    let twilio = TwilioStandIn::start().await;
    let web = WebApp::spawn_with_irc_and_sms(&twilio).await;
    member(&web, "alice").await;
    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;

    // Create a room bound to a channel and a number: the desk shows the room's bindings.
    b.goto(&web.url("/staff")).await.unwrap();
    b.find(Locator::Css("details.create-room summary")).await.unwrap().click().await.unwrap();
    fill(b, "/staff/rooms", &[("name", "garden"), ("irc_channel", GARDEN), ("sms_number", GARDEN_NUMBER)]).await;
    click_to_load(b, "form[action='/staff/rooms'] button").await;
    assert_eq!(text_of(b, "h1").await, "Moderation: garden");
    assert_eq!(text_of(b, "p.bound-channel").await, format!("Bound to {GARDEN}."));
    assert!(text_of(b, "p.bound-number").await.starts_with(&format!("Bound to {GARDEN_NUMBER}.")));
    screenshot(b, "staff-room-bindings").await;
    let room = room_of_channel(&web, GARDEN).await;

    // The bot is on the channel: a scripted client joining it sees the bot there (or join).
    let mut watcher = web.irc_client("watcher").await;
    watcher.join(GARDEN).await.unwrap();
    watcher
        .expect(WAIT, |l| {
            (l.is("353") && l.trailing().is_some_and(|names| names.split(' ').any(|n| n.trim_start_matches(['@', '+']) == BOT)))
                || (l.is("JOIN") && l.is_from(BOT))
        })
        .await
        .unwrap();

    // Someone joins by SMS (the welcome text goes out through the stand-in).
    let inbound_url = format!("{}/sms/twilio", web.app.settings.public_url);
    let join = [("MessageSid", "SM00000000000000000000000000000001"), ("From", DORA_PHONE), ("To", GARDEN_NUMBER), ("Body", "#join dora")];
    assert_eq!(post_signed(&web, &inbound_url, &join).await, 200);
    sent_to(&twilio, DORA_PHONE, "Welcome").await;

    // Say something as the bot: it reaches the channel and the phone.
    let say = format!("/staff/rooms/{room}/say");
    fill(b, &say, &[("text", "The garden opens at <b>nine</b>")]).await;
    click_to_load(b, &format!("form[action='{say}'] button")).await;
    let line = watcher.expect(WAIT, |l| l.is("PRIVMSG") && l.is_from(BOT) && l.param(0) == Some(GARDEN)).await.unwrap();
    assert_eq!(line.trailing(), Some("The garden opens at <b>nine</b>"));
    let text = sent_to(&twilio, DORA_PHONE, "The garden opens").await;
    assert_eq!(text.body, format!("[{BOT}] The garden opens at <b>nine</b>"));
    assert_eq!(text.from, GARDEN_NUMBER);

    // Twilio reports the text sent, then undelivered with its error code.
    let callback = text.status_callback.clone().expect("a status callback URL");
    for (status, code) in [("sent", None), ("undelivered", Some("30005"))] {
        let mut params = vec![("MessageSid", text.sid.as_str()), ("MessageStatus", status), ("AccountSid", testkit::twilio::ACCOUNT_SID)];
        params.extend(code.map(|c| ("ErrorCode", c)));
        assert_eq!(post_signed(&web, &callback, &params).await, 200);
    }
    let deliveries = format!("/staff/deliveries?room={room}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let row = loop {
        b.goto(&web.url(&deliveries)).await.unwrap();
        let rows = b.find_all(Locator::Css("table.deliveries tbody tr")).await.unwrap();
        let mut found = None;
        for row in rows {
            let text = row.text().await.unwrap();
            if text.contains("The garden opens") && text.contains("undelivered") {
                found = Some(row);
            }
        }
        if let Some(row) = found {
            break row;
        }
        assert!(tokio::time::Instant::now() < deadline, "the delivery's statuses never showed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let status = row.find(Locator::Css("td.status")).await.unwrap().text().await.unwrap();
    assert!(status.starts_with("undelivered (Twilio error 30005)"), "{status}");
    let mut history = Vec::new();
    for step in row.find_all(Locator::Css("ol.status-history li")).await.unwrap() {
        history.push(step.text().await.unwrap());
    }
    // Queued by Switchboard, queued again in Twilio's answer, then its two callbacks.
    let names: Vec<&str> = history.iter().map(|h| h.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["queued", "queued", "sent", "undelivered"], "{history:?}");
    assert!(history[3].ends_with("(Twilio error 30005)"), "{history:?}");
    assert!(row.find(Locator::Css("td b")).await.is_err(), "the text's markup became HTML");
    screenshot(b, "staff-deliveries").await;
    // A status that does not exist is refused in words.
    b.goto(&web.url("/staff/deliveries?status=lost")).await.unwrap();
    assert!(text_of(b, "p[role='alert']").await.contains("no delivery status is called \"lost\""));

    // Unbind the channel: the bot parts it, and the desk offers to bind one again.
    b.goto(&web.url(&format!("/staff/rooms/{room}"))).await.unwrap();
    click_to_load(b, &format!("form[action='/staff/rooms/{room}/irc/unbind'] button")).await;
    assert_eq!(text_of(b, "p.bound-channel").await, "No IRC channel.");
    watcher.expect(WAIT, |l| l.is("PART") && l.is_from(BOT) && l.param(0) == Some(GARDEN)).await.unwrap();
    // And bind it again: the bot is back.
    let bind = format!("/staff/rooms/{room}/irc");
    fill(b, &bind, &[("channel", GARDEN)]).await;
    click_to_load(b, &format!("form[action='{bind}'] button")).await;
    assert_eq!(text_of(b, "p.bound-channel").await, format!("Bound to {GARDEN}."));
    watcher.expect(WAIT, |l| l.is("JOIN") && l.is_from(BOT)).await.unwrap();
    // The number too.
    click_to_load(b, &format!("form[action='/staff/rooms/{room}/sms/unbind'] button")).await;
    assert_eq!(text_of(b, "p.bound-number").await, "No SMS number.");
    assert_eq!(web.app.read.sms_number_of(room).await.unwrap(), None);
    assert_eq!(twilio.violations(), Vec::<String>::new());
    drop(browser);
}

/// Runs a room command as the system would for a gateway.
async fn in_room(web: &WebApp, room: uuid::Uuid, command: domain::RoomCommand) -> api::accounts::Applied {
    let done =
        web.app.executor.execute::<domain::Room>(&domain::StreamName::room(room), &command, domain::Metadata::system()).await.unwrap();
    api::accounts::Applied { position: done.position(), events: done.events.len() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_as_it_was_shows_its_topic_the_search_covers_the_whole_window_and_the_share_chart_counts_gateways() {
    use domain::{Gateway, Joining, Level, MessageBody, RoomCommand, Speaker, Topic, events::MemberRef, events::MessageKind};
    let web = WebApp::spawn().await;
    let admin = member(&web, "alice").await;
    let bob = member(&web, "bob").await;
    let viewer = api::auth::viewer_for_token(&web.app.read, &admin.token).await.unwrap();
    let metadata = || domain::Metadata::new(domain::Actor::User(admin.user_id), Gateway::Api);
    let new_room = api::rooms::NewRoom { name: "archive".into(), ..Default::default() };
    let (room, created) = api::rooms::create_room(&web.app, &viewer, metadata(), new_room).await.unwrap();
    api::moderation::caught_up(&web.app, created, &["rooms"]).await.unwrap();
    let bob_ref = MemberRef { user_id: Some(bob.user_id), nick: domain::DisplayNick::parse(&bob.nick).unwrap() };
    let joining = Joining {
        member: bob_ref.clone(),
        mask: None,
        phone: None,
        gateway: Gateway::Irc,
        caller_level: Level::Member,
        as_bot: false,
        nick_holder: None,
    };
    in_room(&web, room, RoomCommand::Join(joining)).await;
    in_room(&web, room, RoomCommand::SetTopic { topic: Topic::parse("Old <i>topic</i>").unwrap(), caller_level: Level::Staff }).await;

    // 620 messages, every fourth by SMS; the needle is in the last 120, all past the 500th.
    let start = chrono::Utc::now();
    let mut last = None;
    for n in 0..620 {
        let text = if n >= 500 { format!("line {n} with a Needle") } else { format!("line {n}") };
        let post = RoomCommand::Post {
            message_id: uuid::Uuid::now_v7(),
            speaker: Speaker::Member { member: bob_ref.clone(), mask: None },
            body: MessageBody::parse(&text).unwrap(),
            kind: MessageKind::Say,
            gateway: if n % 4 == 0 { Gateway::Sms } else { Gateway::Irc },
            caller_level: Level::Member,
        };
        last = Some(in_room(&web, room, post).await);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let set = in_room(&web, room, RoomCommand::SetTopic { topic: Topic::parse("New topic").unwrap(), caller_level: Level::Staff }).await;
    api::moderation::caught_up(&web.app, last.unwrap(), &["history"]).await.unwrap();
    api::moderation::caught_up(&web.app, set, &["rooms"]).await.unwrap();

    // GraphQL's room as of a time has the topic of then, the same read.
    let query = "query($r: UUID!, $at: AsOf) { room(id: $r, asOf: $at) { topic } }";
    for (at, topic) in [(Some(serde_json::json!({ "time": between })), "Old <i>topic</i>"), (None, "New topic")] {
        let answer = reqwest::Client::new()
            .post(web.url("/graphql"))
            .bearer_auth(&admin.token)
            .json(&serde_json::json!({ "query": query, "variables": { "r": room, "at": at } }))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(answer["data"]["room"]["topic"], topic, "{answer}");
    }

    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;
    // The topic as it was, and as it is.
    let at = between.format("%Y-%m-%dT%H:%M:%S").to_string();
    b.goto(&web.url(&format!("/history/rooms/{room}?at={at}"))).await.unwrap();
    assert_eq!(text_of(b, "p.topic-then").await, "Old <i>topic</i>");
    assert!(b.find(Locator::Css("p.topic-then i")).await.is_err(), "the topic's markup became HTML");
    b.goto(&web.url(&format!("/history/rooms/{room}"))).await.unwrap();
    assert_eq!(text_of(b, "p.topic-then").await, "New topic");
    let before_creation = (start - chrono::TimeDelta::hours(1)).format("%Y-%m-%dT%H:%M:%S").to_string();
    b.goto(&web.url(&format!("/history/rooms/{room}?at={before_creation}"))).await.unwrap();
    assert!(text_of(b, "section[aria-labelledby='as-of']").await.contains("The room did not exist yet."));

    // The search finds matches past the 500th message, 100 a page, and pages on to the rest.
    let from = (start - chrono::TimeDelta::minutes(1)).format("%Y-%m-%dT%H:%M:%S").to_string();
    b.goto(&web.url(&format!("/history/rooms/{room}?from={from}&q=needle"))).await.unwrap();
    let first_page = b.find_all(Locator::Css("ol.conversation li")).await.unwrap();
    assert_eq!(first_page.len(), 100);
    assert!(first_page[0].text().await.unwrap().contains("line 500 with a Needle"));
    assert!(text_of(b, "p.conversation-count").await.contains("and more on the next page"));
    screenshot(b, "history-search").await;
    click_to_load(b, "nav.pager a.next").await;
    let second_page = b.find_all(Locator::Css("ol.conversation li")).await.unwrap();
    assert_eq!(second_page.len(), 20);
    assert!(second_page[19].text().await.unwrap().contains("line 619 with a Needle"));
    assert!(b.find(Locator::Css("nav.pager a.next")).await.is_err(), "a next page after the last match");
    // Without a search the window pages too: 620 messages, the seventh page has the last 20.
    let mut pages = 1;
    b.goto(&web.url(&format!("/history/rooms/{room}?from={from}"))).await.unwrap();
    while b.find(Locator::Css("nav.pager a.next")).await.is_ok() {
        click_to_load(b, "nav.pager a.next").await;
        pages += 1;
    }
    assert_eq!(pages, 7);
    assert_eq!(b.find_all(Locator::Css("ol.conversation li")).await.unwrap().len(), 20);

    // The IRC vs SMS share: 465 by IRC and 155 by SMS.
    b.goto(&web.url(&format!("/history/charts?room={room}&days=1"))).await.unwrap();
    let share = text_of(b, "#gateway-share-table tbody").await;
    assert_eq!(share.lines().collect::<Vec<_>>(), ["IRC 465 75%", "SMS 155 25%"], "{share}");
    let description = b.find(Locator::Css("#gateway-share-desc")).await.unwrap().html(true).await.unwrap();
    assert_eq!(description, "Messages by gateway in room archive: IRC 75%, SMS 25%.");
    assert_eq!(
        b.find_all(Locator::Css("svg[aria-labelledby^='gateway-share-title'] rect")).await.unwrap().len(),
        4,
        "two parts and their keys"
    );
    screenshot(b, "history-share").await;
    drop(browser);
}
