//! The staff pages in a real headless Chromium, against a real `serve` with real PostgreSQL and
//! a real ngIRCd: the moderation desk (ban requests from IRC approved on the web and carried
//! out on IRC, bans lifted, kicks, level changes, the room as it was and charts) and its refusals for people below staff.
//! Screenshots as in `browser.rs` (`UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/`).

mod support;

use std::time::Duration;

use api::accounts::LoggedIn;
use fantoccini::Locator;
use support::{BOT, CHANNEL, WAIT, WebApp, click_to_load, log_in_on_irc, member, room_of_channel, screenshot, sign_in, text_of};
use testkit::browser::Browser;

async fn lobby(web: &WebApp) -> uuid::Uuid {
    room_of_channel(web, CHANNEL).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_requested_on_irc_is_approved_on_the_desk_and_carried_out_on_irc() {
    let web = WebApp::spawn_with_irc().await;
    member(&web, "alice").await;
    let bob = member(&web, "bob").await;
    let room = lobby(&web).await;

    let mut mallory = web.irc_client("mallory").await;
    mallory.join(CHANNEL).await.unwrap();
    let mut irc = web.irc_client("bob").await;
    irc.join(CHANNEL).await.unwrap();
    log_in_on_irc(&web, &mut irc, &bob).await;
    irc.privmsg(CHANNEL, ".requestban mallory flooding the channel").await.unwrap();

    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;
    // The request reaches the desk (the read model follows the log).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        b.goto(&web.url("/staff")).await.unwrap();
        if b.find(Locator::Css("table.requests tr[data-request]")).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the ban request never showed on the desk");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = text_of(b, "table.requests tbody tr").await;
    assert!(row.contains("mallory") && row.contains("flooding the channel") && row.contains("bob"), "{row}");
    screenshot(b, "staff-desk").await;

    // Approve for a day: the bot bans and kicks mallory on IRC.
    b.find(Locator::Css("form[action='/staff/ban-requests/approve'] input[name='duration']")).await.unwrap().send_keys("1d").await.unwrap();
    click_to_load(b, "form[action='/staff/ban-requests/approve'] button").await;
    assert!(text_of(b, "#requests ~ p, section[aria-labelledby='requests'] p").await.contains("No open ban requests"));
    let ban = mallory.expect(WAIT, |l| l.is("MODE") && l.param(1) == Some("+b")).await.unwrap();
    assert_eq!(ban.param(2), Some("mallory!*@*"), "{ban:?}");
    let kick = mallory.expect(WAIT, |l| l.is("KICK") && l.param(1) == Some("mallory")).await.unwrap();
    assert!(kick.is_from(BOT), "{kick:?}");
    let bans = web.app.read.bans(room, projections::AsOf::Now).await.unwrap();
    assert_eq!(bans.len(), 1);
    let until = bans[0].until.expect("a timed ban");
    assert!((until - bans[0].banned_at - chrono::TimeDelta::days(1)).num_seconds().abs() < 5, "banned for the day asked");
    drop(browser);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_and_its_steps_are_refused_below_staff_and_levels_stop_at_your_own() {
    let web = WebApp::spawn().await;
    let admin = member(&web, "alice").await;
    member(&web, "bob").await;
    member(&web, "carol").await;

    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "bob").await;
    b.goto(&web.url("/staff")).await.unwrap();
    assert_eq!(text_of(b, "h1").await, "Not allowed");
    assert!(text_of(b, "p[role='alert']").await.contains("the moderation desk needs level 4 (staff); you have 1 (member)"));
    assert!(b.find(Locator::Css("a[href='/staff']")).await.is_err(), "no desk link for a member");

    // A forged desk form, sent by bob's browser with his own valid CSRF token: the step itself
    // refuses, with the same words as GraphQL.
    b.goto(&web.url("/account")).await.unwrap();
    let forged = r#"
        const csrf = document.querySelector("input[name='csrf']").value;
        const form = document.createElement('form');
        form.method = 'post'; form.action = '/staff/level';
        for (const [k, v] of [['csrf', csrf], ['nick', 'carol'], ['level', '5']]) {
            const input = document.createElement('input'); input.type = 'hidden'; input.name = k; input.value = v; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();"#;
    let old = b.find(Locator::Css("html")).await.unwrap();
    b.execute(forged, vec![]).await.unwrap();
    while old.tag_name().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(text_of(b, "h1").await, "Not allowed");
    assert!(text_of(b, "p[role='alert']").await.contains("changing levels needs level 3 (operator)"));
    let carol = web.app.read.user_level_by_nick("carol").await.unwrap().unwrap();
    assert_eq!(carol.level, 1, "carol's level did not change");

    // Staff see the desk, and may grant at most their own level (the list stops at 4).
    let raised = api::moderation::set_level(
        &web.app,
        &api::auth::viewer_for_token(&web.app.read, &admin.token).await.unwrap(),
        domain::Metadata::new(domain::Actor::User(admin.user_id), domain::Gateway::Api),
        "bob",
        domain::Level::Staff,
    )
    .await
    .unwrap();
    api::moderation::caught_up(&web.app, raised, &["users"]).await.unwrap();
    b.goto(&web.url("/staff?q=carol")).await.unwrap();
    assert_eq!(text_of(b, "h1").await, "Moderation desk");
    let options = b.find_all(Locator::Css("tr[data-nick='carol'] select option")).await.unwrap();
    assert_eq!(options.len(), 5, "staff grant up to staff");
    // A level change from the desk: carol becomes an operator.
    b.find(Locator::Css("tr[data-nick='carol'] select")).await.unwrap().select_by_value("3").await.unwrap();
    click_to_load(b, "tr[data-nick='carol'] button").await;
    assert_eq!(text_of(b, "tr[data-nick='carol'] td.level").await, "3 (operator)");
    screenshot(b, "staff-users").await;
    drop(browser);
}

/// Runs a room command as the system would for a gateway, and waits for the read models.
async fn in_room(web: &WebApp, room: uuid::Uuid, command: domain::RoomCommand) {
    let done =
        web.app.executor.execute::<domain::Room>(&domain::StreamName::room(room), &command, domain::Metadata::system()).await.unwrap();
    let applied = api::accounts::Applied { position: done.position(), events: done.events.len() };
    api::moderation::caught_up(&web.app, applied, &["rooms", "history"]).await.unwrap();
}

fn member_ref(session: &LoggedIn) -> domain::events::MemberRef {
    domain::events::MemberRef { user_id: Some(session.user_id), nick: domain::DisplayNick::parse(&session.nick).unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_as_it_was_before_and_after_a_ban_and_charts_with_the_counts_of_its_history() {
    use domain::{Gateway, Joining, Level, MessageBody, RoomCommand, Speaker, events::MessageKind};
    let web = WebApp::spawn().await;
    let admin = member(&web, "alice").await;
    let bob = member(&web, "bob").await;
    let carol = member(&web, "carol").await;
    let created = reqwest::Client::new()
        .post(web.url("/graphql"))
        .bearer_auth(&admin.token)
        .json(&serde_json::json!({ "query": "mutation { createRoom(input: {name: \"analysis\"}) { roomId position } }" }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let room: uuid::Uuid = created["data"]["createRoom"]["roomId"].as_str().unwrap_or_else(|| panic!("{created}")).parse().unwrap();
    let position = created["data"]["createRoom"]["position"].as_str().unwrap().parse().unwrap();
    api::moderation::caught_up(&web.app, api::accounts::Applied { position, events: 1 }, &["rooms"]).await.unwrap();
    for person in [&bob, &carol] {
        let joining = Joining {
            member: member_ref(person),
            mask: None,
            phone: None,
            gateway: Gateway::Irc,
            caller_level: Level::Member,
            as_bot: false,
            nick_holder: None,
        };
        in_room(&web, room, RoomCommand::Join(joining)).await;
    }
    let said = [(&bob, "hello there"), (&carol, "hello bob"), (&bob, "<b>not bold</b>"), (&carol, "bye"), (&bob, "hello again")];
    for (person, text) in said {
        let post = RoomCommand::Post {
            message_id: uuid::Uuid::now_v7(),
            speaker: Speaker::Member { member: member_ref(person), mask: None },
            body: MessageBody::parse(text).unwrap(),
            kind: MessageKind::Say,
            gateway: Gateway::Irc,
            caller_level: Level::Member,
        };
        in_room(&web, room, post).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before_ban = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let admin_viewer = api::auth::viewer_for_token(&web.app.read, &admin.token).await.unwrap();
    let metadata = domain::Metadata::new(domain::Actor::User(admin.user_id), Gateway::Api);
    let banned = api::moderation::ban(&web.app, &admin_viewer, metadata, room, (Some("carol"), None), None, Some("rude")).await.unwrap();
    api::moderation::caught_up(&web.app, banned, &["rooms"]).await.unwrap();

    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;
    // Before the ban: both members, nobody banned.
    let at = before_ban.format("%Y-%m-%dT%H:%M:%S").to_string();
    b.goto(&web.url(&format!("/history/rooms/{room}?at={at}"))).await.unwrap();
    let then = text_of(b, "ul.members-then").await;
    assert!(then.contains("bob") && then.contains("carol"), "{then}");
    assert_eq!(text_of(b, "p.no-bans").await, "Nobody was banned.");
    // Now: carol was kicked by the ban, which shows with its reason.
    b.goto(&web.url(&format!("/history/rooms/{room}"))).await.unwrap();
    let now = text_of(b, "ul.members-then").await;
    assert!(now.contains("bob") && !now.contains("carol"), "{now}");
    assert_eq!(text_of(b, "ul.bans-then").await, "carol — rude");
    // The conversation, searched; markup in a message is text.
    let conversation = text_of(b, "ol.conversation").await;
    assert!(conversation.contains("<b>not bold</b>"), "{conversation}");
    assert!(b.find(Locator::Css("ol.conversation b")).await.is_err(), "a message's markup became HTML");
    screenshot(b, "history-room").await;
    b.goto(&web.url(&format!("/history/rooms/{room}?q=hello"))).await.unwrap();
    assert_eq!(b.find_all(Locator::Css("ol.conversation li")).await.unwrap().len(), 3);

    // The room's desk lists carol's ban; "Kick": bob leaves, and the as-of view of now shows the
    // room empty.
    b.goto(&web.url(&format!("/staff/rooms/{room}"))).await.unwrap();
    assert_eq!(text_of(b, "ul.bans li strong").await, "carol");
    screenshot(b, "staff-room").await;
    click_to_load(b, "ul.members li[data-nick='bob'] form button").await;
    assert!(text_of(b, "section[aria-labelledby='members'] p").await.contains("Nobody is in the room"));
    // "Lift" on carol's ban: the desk and the as-of view of now show nobody banned.
    click_to_load(b, "ul.bans form button").await;
    assert!(text_of(b, "section[aria-labelledby='bans'] p").await.contains("Nobody is banned"));
    b.goto(&web.url(&format!("/history/rooms/{room}"))).await.unwrap();
    assert!(b.find(Locator::Css("ul.members-then li")).await.is_err(), "bob was kicked");
    assert_eq!(text_of(b, "p.no-bans").await, "Nobody was banned.");

    // The charts: five messages, bob 3 and carol 2, as bars and as a table.
    b.goto(&web.url(&format!("/history/charts?room={room}&days=1"))).await.unwrap();
    assert!(text_of(b, "p.total").await.starts_with("5 messages in room analysis"));
    let top = text_of(b, "#top-talkers-table tbody").await;
    assert_eq!(top.lines().collect::<Vec<_>>(), ["bob 3", "carol 2"], "{top}");
    let title = b.find(Locator::Css("svg[aria-labelledby^='top-talkers-title'] title")).await.unwrap().html(true).await.unwrap();
    assert_eq!(title, "Top talkers");
    let bars = b.find_all(Locator::Css("svg[aria-labelledby^='top-talkers-title'] rect")).await.unwrap();
    assert_eq!(bars.len(), 2);
    let mut hours = 0;
    for cell in b.find_all(Locator::Css("#per-hour-table tbody td")).await.unwrap() {
        hours += cell.text().await.unwrap().parse::<i64>().unwrap();
    }
    assert_eq!(hours, 5, "the busiest-hours table adds up to every message");
    screenshot(b, "history-charts").await;

    // A member who is not in the room gets no history, and no charts.
    click_to_load(b, "form[action='/logout'] button").await;
    sign_in(&web, b, "carol").await;
    b.goto(&web.url(&format!("/history/rooms/{room}"))).await.unwrap();
    assert_eq!(text_of(b, "h1").await, "Not allowed");
    b.goto(&web.url("/history/charts")).await.unwrap();
    assert!(text_of(b, "p[role='alert']").await.contains("statistics needs level 4 (staff)"));
    drop(browser);
}
