//! The GraphQL API over real HTTP (and WebSocket) against a running app on a real PostgreSQL,
//! with the projections running: accounts, permissions, rooms and moderation, as-of answers,
//! audit filters and pagination, read-your-writes, hostile input, live events, metrics.

mod support;

use std::time::Duration;

use domain::events::MemberRef;
use domain::{DisplayNick, Gateway, Joining, Level, Metadata, Room, RoomCommand, StreamName};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{PASSWORD, Session, TestApp};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

async fn create_room(app: &TestApp, admin: &Session, name: &str, channel: Option<&str>) -> (String, Value) {
    let data = app
        .data(
            Some(&admin.token),
            "mutation($n: String!, $c: String) { createRoom(input: {name: $n, ircChannel: $c}) { roomId position } }",
            json!({ "n": name, "c": channel }),
        )
        .await;
    // Mutations on the room look it up in the read model: wait until it is there.
    app.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": data["createRoom"]["position"] })).await;
    (data["createRoom"]["roomId"].as_str().unwrap().to_owned(), data["createRoom"]["position"].clone())
}

/// A member joins a room the way a gateway makes them (IRC here), through the executor.
async fn join(app: &TestApp, room: &str, member: &Session) -> String {
    let joining = Joining {
        member: MemberRef { user_id: Some(member.user_id.parse().unwrap()), nick: DisplayNick::parse(&member.nick).unwrap() },
        mask: None,
        phone: None,
        gateway: Gateway::Irc,
        caller_level: Level::Member,
        as_bot: false,
        nick_holder: None,
    };
    let done = app
        .app
        .executor
        .execute::<Room>(&StreamName::room(room.parse().unwrap()), &RoomCommand::Join(joining), Metadata::system())
        .await
        .unwrap();
    done.position().to_string()
}

#[tokio::test]
async fn the_first_account_is_superuser_and_a_verified_one_is_a_member_who_can_log_in_and_out() {
    let app = TestApp::spawn().await;
    let first = app.sign_up("admin").await;
    assert_eq!(first["level"], "SUPERUSER");
    assert_eq!(first["verificationSent"], true);
    let second = app.sign_up("alice").await;
    assert_eq!(second["level"], "GUEST", "only the first account is superuser");

    // The same username again, in any case, is a conflict; so is a taken nick.
    let again = app
        .error_code(
            None,
            "mutation { signUp(input: {username: \"ALICE\", email: \"x@example.org\", password: \"another long password\"}) { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(again, "CONFLICT");
    let bad = app
        .error_code(
            None,
            "mutation { signUp(input: {username: \"bob\", email: \"not-an-email\", password: \"long enough pass\"}) { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(bad, "BAD_USER_INPUT");
    let short = app
        .error_code(
            None,
            "mutation { signUp(input: {username: \"bob\", email: \"b@example.org\", password: \"short\"}) { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(short, "BAD_USER_INPUT");

    // Verification makes alice a member.
    let token = app.verification_token("alice@example.org");
    let wrong =
        app.error_code(None, "mutation($t: String!) { verifyEmail(token: $t) { position } }", json!({ "t": format!("{token}x") })).await;
    assert_eq!(wrong, "BAD_USER_INPUT");
    app.data(None, "mutation($t: String!) { verifyEmail(token: $t) { position } }", json!({ "t": token })).await;
    let alice = app.log_in("alice").await;
    let me = app.data(Some(&alice.token), "{ me { nick level emailVerified email } }", json!({})).await;
    assert_eq!(me["me"], json!({ "nick": "alice", "level": "MEMBER", "emailVerified": true, "email": "alice@example.org" }));

    // Wrong password and unknown user read the same; anonymous `me` is unauthenticated.
    let wrong_password =
        app.error_code(None, "mutation { logIn(username: \"alice\", password: \"nope nope nope\") { token } }", json!({})).await;
    assert_eq!(wrong_password, "UNAUTHENTICATED");
    let unknown = app.error_code(None, "mutation { logIn(username: \"nobody\", password: \"nope nope nope\") { token } }", json!({})).await;
    assert_eq!(unknown, "UNAUTHENTICATED");
    assert_eq!(app.error_code(None, "{ me { nick } }", json!({})).await, "UNAUTHENTICATED");

    // Logging out revokes the token at once.
    let out = app.data(Some(&alice.token), "mutation { logOut { position events } }", json!({})).await;
    assert_eq!(out["logOut"]["events"], 1);
    let after = app.graphql(Some(&alice.token), "{ me { nick } }", json!({})).await;
    assert_eq!(after["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{after:#}");
}

#[tokio::test]
async fn failed_logins_are_limited_per_username_with_a_retry_hint() {
    let app = TestApp::spawn_with(|s| s.login_failures_per_username = 3).await;
    app.sign_up("admin").await;
    for _ in 0..3 {
        let code =
            app.error_code(None, "mutation { logIn(username: \"admin\", password: \"wrong wrong wrong\") { token } }", json!({})).await;
        assert_eq!(code, "UNAUTHENTICATED");
    }
    // Now even the right password is refused until the window passes.
    let response =
        app.graphql(None, "mutation($p: String!) { logIn(username: \"admin\", password: $p) { token } }", json!({ "p": PASSWORD })).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(response["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn levels_are_enforced_a_member_cannot_ban_and_an_operator_cannot_grant_staff() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let alice = app.member("alice").await;
    let bob = app.member("bob").await;
    let (room, _) = create_room(&app, &admin, "lobby", Some("#lobby")).await;

    let ban = "mutation($r: UUID!, $n: String!) { ban(room: $r, target: {nick: $n}) { position } }";
    assert_eq!(app.error_code(Some(&alice.token), ban, json!({ "r": room, "n": "bob" })).await, "FORBIDDEN");
    let create = "mutation { createRoom(input: {name: \"mine\"}) { roomId } }";
    assert_eq!(app.error_code(Some(&alice.token), create, json!({})).await, "FORBIDDEN");
    assert_eq!(app.error_code(Some(&alice.token), "{ events { edges { cursor } } }", json!({})).await, "FORBIDDEN");
    assert_eq!(app.error_code(None, "{ rooms { id } }", json!({})).await, "UNAUTHENTICATED");

    app.set_level(&admin, "alice", "OPERATOR").await;
    let set = "mutation($n: String!, $l: Level!) { setLevel(nick: $n, level: $l) { events } }";
    let refused = app.graphql(Some(&alice.token), set, json!({ "n": "bob", "l": "STAFF" })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused:#}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("cannot grant level 4"), "{refused:#}");
    // …but may grant voice, and ban bob (a member) but not the superuser.
    assert_eq!(app.data(Some(&alice.token), set, json!({ "n": "bob", "l": "VOICE" })).await["setLevel"]["events"], 1);
    assert_eq!(app.error_code(Some(&alice.token), ban, json!({ "r": room, "n": "admin" })).await, "FORBIDDEN");
    app.data(Some(&alice.token), ban, json!({ "r": room, "n": "bob" })).await;
    // A member may not read others' private details; staff may.
    let details = "query($n: String!) { user(nick: $n) { nick email phone } }";
    assert_eq!(app.data(Some(&bob.token), details, json!({ "n": "admin" })).await["user"]["email"], Value::Null);
    assert_eq!(app.data(Some(&admin.token), details, json!({ "n": "bob" })).await["user"]["email"], "bob@example.org");
    assert_eq!(app.error_code(Some(&bob.token), "{ user(nick: \"admin\") { nickHistory { nick } } }", json!({})).await, "FORBIDDEN");
}

#[tokio::test]
async fn a_room_as_of_a_past_position_or_time_shows_its_members_and_bans_then() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let bob = app.member("bob").await;
    let (room, _) = create_room(&app, &admin, "lobby", Some("#lobby")).await;
    let joined = join(&app, &room, &bob).await;

    let ban = "mutation($r: UUID!) { ban(room: $r, target: {nick: \"bob\"}, duration: \"2h\", reason: \"spam\") { position events } }";
    let banned = app.data(Some(&admin.token), ban, json!({ "r": room })).await["ban"].clone();
    assert!(banned["events"].as_i64().unwrap() >= 2, "ban and kick: {banned}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let unban = "mutation($r: UUID!) { unban(room: $r, target: {nick: \"bob\"}) { position } }";
    let unbanned = app.data(Some(&admin.token), unban, json!({ "r": room })).await["unban"]["position"].clone();

    let query =
        "query($r: UUID!, $at: AsOf, $p: Position) { room(id: $r, asOf: $at, waitFor: $p) { members { nick } bans { reason until } } }";
    let at_join = app.data(Some(&admin.token), query, json!({ "r": room, "at": { "position": joined }, "p": unbanned })).await;
    assert_eq!(at_join["room"]["members"], json!([{ "nick": "bob" }]));
    assert_eq!(at_join["room"]["bans"], json!([]));
    let at_ban = app.data(Some(&admin.token), query, json!({ "r": room, "at": { "position": banned["position"] } })).await;
    assert_eq!(at_ban["room"]["members"], json!([]), "the ban kicked bob");
    assert_eq!(at_ban["room"]["bans"][0]["reason"], "spam");
    assert!(at_ban["room"]["bans"][0]["until"].is_string(), "a timed ban");
    let at_time = app.data(Some(&admin.token), query, json!({ "r": room, "at": { "time": between } })).await;
    assert_eq!(at_time["room"]["bans"].as_array().unwrap().len(), 1);
    let now = app.data(Some(&admin.token), query, json!({ "r": room })).await;
    assert_eq!(now["room"]["bans"], json!([]));

    // Before the room existed, there was no room.
    let before = app.data(Some(&admin.token), query, json!({ "r": room, "at": { "time": "2020-01-01T00:00:00Z" } })).await;
    assert_eq!(before["room"], Value::Null);

    // Bob's own history lists the ban, lifted.
    let history =
        app.data(Some(&admin.token), "{ user(nick: \"bob\") { banHistory { reason liftedAt } levelHistory { level } } }", json!({})).await;
    assert_eq!(history["user"]["banHistory"][0]["reason"], "spam");
    assert!(history["user"]["banHistory"][0]["liftedAt"].is_string());
    let levels: Vec<&str> = history["user"]["levelHistory"].as_array().unwrap().iter().map(|l| l["level"].as_str().unwrap()).collect();
    assert_eq!(levels.last(), Some(&"MEMBER"));
    // As of before verification, bob was a guest.
    let user_then = app
        .data(
            Some(&admin.token),
            "query($at: AsOf) { user(nick: \"bob\", asOf: $at) { level } }",
            json!({ "at": { "time": "2020-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(user_then["user"], Value::Null, "bob did not exist in 2020");
}

#[tokio::test]
async fn members_come_in_pages_in_join_order_now_and_as_of_a_past_position() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let (room, _) = create_room(&app, &admin, "lobby", Some("#lobby")).await;
    let mut nicks = Vec::new();
    let mut last = String::new();
    for n in 0..7 {
        let member = app.member(&format!("member{n}")).await;
        last = join(&app, &room, &member).await;
        nicks.push(member.nick.clone());
    }
    let all_joined = last.clone();
    // Two leave afterwards: as of `all_joined` they are still listed, now they are not.
    let kick = "mutation($r: UUID!, $n: String!) { kick(room: $r, nick: $n) { position } }";
    for gone in [&nicks[1], &nicks[4]] {
        last = app.data(Some(&admin.token), kick, json!({ "r": room, "n": gone })).await["kick"]["position"].as_str().unwrap().to_owned();
    }

    let everyone = "query($r: UUID!, $at: AsOf, $p: Position) { room(id: $r, asOf: $at, waitFor: $p) { members { nick cursor } } }";
    let page = "query($r: UUID!, $at: AsOf, $n: Int, $after: String) { room(id: $r, asOf: $at) { members(first: $n, after: $after) { nick cursor } } }";
    for at in [json!({ "position": all_joined }), Value::Null] {
        let full = app.data(Some(&admin.token), everyone, json!({ "r": room, "at": at, "p": last })).await["room"]["members"].clone();
        let full: Vec<Value> = full.as_array().unwrap().clone();
        let expected: Vec<&str> = if at.is_null() {
            nicks.iter().enumerate().filter(|(i, _)| ![1, 4].contains(i)).map(|(_, n)| n.as_str()).collect()
        } else {
            nicks.iter().map(String::as_str).collect()
        };
        let listed: Vec<&str> = full.iter().map(|m| m["nick"].as_str().unwrap()).collect();
        assert_eq!(listed, expected, "everyone, in join order, as of {at}");

        // Pages of 2, each continuing after the last member of the one before, add up to the list.
        let mut paged = Vec::new();
        let mut after = Value::Null;
        for asked in 0.. {
            // 7 members in pages of 2: a cursor that does not move on would page forever.
            assert!(asked <= 4, "more pages than members: {paged:?}");
            let answer = app.data(Some(&admin.token), page, json!({ "r": room, "at": at, "n": 2, "after": after })).await;
            let members = answer["room"]["members"].as_array().unwrap().clone();
            assert!(members.len() <= 2, "{answer}");
            let Some(tail) = members.last() else { break };
            after = tail["cursor"].clone();
            paged.extend(members);
        }
        assert_eq!(paged, full, "the pages as of {at}");
    }

    let refused = app.graphql(Some(&admin.token), page, json!({ "r": room, "n": 2, "after": "not a cursor" })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused:#}");
    for n in [0, 501] {
        let refused = app.graphql(Some(&admin.token), page, json!({ "r": room, "n": n })).await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "first: {n}: {refused:#}");
    }
    let without_first = "query($r: UUID!, $after: String) { room(id: $r) { members(after: $after) { nick } } }";
    let cursor = app.data(Some(&admin.token), page, json!({ "r": room, "n": 1 })).await["room"]["members"][0]["cursor"].clone();
    let refused = app.graphql(Some(&admin.token), without_first, json!({ "r": room, "after": cursor })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused:#}");
}

#[tokio::test]
async fn staff_approve_or_reject_ban_requests_and_an_approved_one_bans() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let bob = app.member("bob").await;
    let carol = app.member("carol").await;
    let dave = app.member("dave").await;
    app.set_level(&admin, "dave", "OPERATOR").await;
    let (room, _) = create_room(&app, &admin, "lobby", Some("#lobby")).await;
    join(&app, &room, &bob).await;
    join(&app, &room, &carol).await;

    // Bob asks for carol to be banned (as `.requestban` does on IRC), twice over: two requests.
    let mut requests = Vec::new();
    let mut last = String::new();
    for reason in ["flooding", "rude"] {
        let request_id = Uuid::now_v7();
        let command = RoomCommand::RequestBan {
            request_id,
            target: domain::events::BanTarget::User { user_id: carol.user_id.parse().unwrap() },
            reason: domain::Reason::parse(reason).unwrap(),
            caller_level: Level::Member,
        };
        let metadata = Metadata::new(domain::Actor::User(bob.user_id.parse().unwrap()), Gateway::Irc);
        let done = app.app.executor.execute::<Room>(&StreamName::room(room.parse().unwrap()), &command, metadata).await.unwrap();
        last = done.position().to_string();
        requests.push(request_id.to_string());
    }

    let open = "query($r: UUID!, $p: Position) { room(id: $r, waitFor: $p) { banRequests(status: OPEN) { id reason by } } }";
    let listed = app.data(Some(&admin.token), open, json!({ "r": room, "p": last })).await;
    assert_eq!(listed["room"]["banRequests"].as_array().unwrap().len(), 2, "{listed}");

    let approve = "mutation($r: UUID!, $q: UUID!) { approveBanRequest(room: $r, request: $q, duration: \"1d\") { position events } }";
    let reject = "mutation($r: UUID!, $q: UUID!) { rejectBanRequest(room: $r, request: $q) { position } }";
    assert_eq!(app.error_code(Some(&dave.token), approve, json!({ "r": room, "q": requests[0] })).await, "FORBIDDEN");
    let approved = app.data(Some(&admin.token), approve, json!({ "r": room, "q": requests[0] })).await;
    assert_eq!(app.error_code(Some(&admin.token), approve, json!({ "r": room, "q": requests[0] })).await, "CONFLICT");
    let rejected = app.data(Some(&admin.token), reject, json!({ "r": room, "q": requests[1] })).await;
    assert_eq!(app.error_code(Some(&admin.token), reject, json!({ "r": room, "q": Uuid::now_v7() })).await, "NOT_FOUND");

    let state = "query($r: UUID!, $p: Position) { room(id: $r, waitFor: $p) { members { nick } bans { reason targetUser until } banRequests { status } } }";
    assert!(approved["approveBanRequest"]["events"].as_i64().unwrap() >= 2, "approval and ban");
    let now = app.data(Some(&admin.token), state, json!({ "r": room, "p": rejected["rejectBanRequest"]["position"] })).await;
    assert_eq!(now["room"]["members"], json!([{ "nick": "bob" }]), "carol was kicked");
    assert_eq!(now["room"]["bans"][0]["reason"], "flooding");
    assert_eq!(now["room"]["bans"][0]["targetUser"], carol.user_id);
    let mut statuses: Vec<&str> = now["room"]["banRequests"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, ["approved", "rejected"]);
}

#[tokio::test]
async fn the_audit_log_filters_by_stream_type_actor_gateway_and_time_and_pages_without_gaps() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let started = chrono::Utc::now();
    let (room, _) = create_room(&app, &admin, "lobby", Some("#lobby")).await;
    let say = "mutation($r: UUID!, $t: String!) { sendToRoom(room: $r, text: $t) { position } }";
    for i in 0..7 {
        app.data(Some(&admin.token), say, json!({ "r": room, "t": format!("message {i}") })).await;
    }
    let events = "query($f: EventFilter, $first: Int, $after: String, $newest: Boolean) { \
        events(filter: $f, first: $first, after: $after, newestFirst: $newest) { \
          edges { cursor node { type stream actor gateway position recordedAt payload correlationId } } pageInfo { hasNextPage endCursor } } }";

    // The log shows an event once nothing older can still commit (the gap-free watermark); on a
    // shared test cluster other tests' open transactions can hold that back for a moment.
    let filter = json!({ "stream": format!("room-{room}") });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.data(Some(&admin.token), events, json!({ "f": filter, "first": 50 })).await["events"]["edges"].as_array().unwrap().len() < 9 {
        assert!(std::time::Instant::now() < deadline, "the room's events never all became visible");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Page through the room's stream two at a time: every event once, in order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app.data(Some(&admin.token), events, json!({ "f": filter, "first": 2, "after": after })).await["events"].clone();
        for edge in page["edges"].as_array().unwrap() {
            assert_eq!(edge["cursor"], edge["node"]["position"]);
            seen.push(edge["node"].clone());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["room.created", "room.irc_channel_bound"]);
    assert_eq!(types.iter().filter(|t| **t == "room.message_posted").count(), 7);
    assert_eq!(seen.len(), 9);
    assert!(seen.iter().all(|e| e["actor"] == format!("user:{}", admin.user_id) && e["gateway"] == "api"));
    assert_eq!(seen[2]["payload"]["body"], "message 0");

    // Newest first is the same list reversed.
    let newest = app.data(Some(&admin.token), events, json!({ "f": filter, "first": 100, "newest": true })).await;
    let newest_positions: Vec<&Value> = newest["events"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]["position"]).collect();
    let mut oldest_positions: Vec<&Value> = seen.iter().map(|e| &e["position"]).collect();
    oldest_positions.reverse();
    assert_eq!(newest_positions, oldest_positions);

    // Type, actor, gateway and time filters.
    let count = |v: &Value| v["events"]["edges"].as_array().unwrap().len();
    let by_type = app.data(Some(&admin.token), events, json!({ "f": { "type": "room.message_posted" } })).await;
    assert_eq!(count(&by_type), 7);
    let by_actor =
        app.data(Some(&admin.token), events, json!({ "f": { "actor": format!("user:{}", admin.user_id), "from": started } })).await;
    assert_eq!(count(&by_actor), 9);
    let by_system = app.data(Some(&admin.token), events, json!({ "f": { "actor": "system", "type": "user.level_changed" } })).await;
    assert_eq!(count(&by_system), 1, "the superuser grant (a superuser is not demoted to member by verifying)");
    let by_gateway = app.data(Some(&admin.token), events, json!({ "f": { "gateway": "irc" } })).await;
    assert_eq!(count(&by_gateway), 0);
    let future = app.data(Some(&admin.token), events, json!({ "f": { "from": "2999-01-01T00:00:00Z" } })).await;
    assert_eq!(count(&future), 0);
    let category = app.data(Some(&admin.token), events, json!({ "f": { "stream": "room" }, "first": 500 })).await;
    assert_eq!(count(&category), 9);

    // Secrets at rest never leave through the audit log.
    let accounts = app.data(Some(&admin.token), events, json!({ "f": { "type": "user.web_account_created" } })).await;
    assert_eq!(accounts["events"]["edges"][0]["node"]["payload"]["password_hash"], "[redacted]");
    let tokens = app.data(Some(&admin.token), events, json!({ "f": { "type": "user.api_token_issued" } })).await;
    assert_eq!(tokens["events"]["edges"][0]["node"]["payload"]["token_hash"], "[redacted]");

    // Typos are errors, not empty pages.
    for bad in [json!({ "type": "room.nope" }), json!({ "actor": "bob" }), json!({ "gateway": "fax" })] {
        assert_eq!(app.error_code(Some(&admin.token), events, json!({ "f": bad })).await, "BAD_USER_INPUT");
    }
    assert_eq!(app.error_code(Some(&admin.token), events, json!({ "after": "pg.x" })).await, "BAD_USER_INPUT");
    // The same for the other filters that take names.
    let users = "query($g: String) { users(filter: {gateway: $g}) { edges { node { nick } } } }";
    assert_eq!(app.error_code(Some(&admin.token), users, json!({ "g": "irk" })).await, "BAD_USER_INPUT");
    assert!(app.data(Some(&admin.token), users, json!({ "g": "api" })).await["users"]["edges"].as_array().is_some_and(|e| !e.is_empty()));
    let deliveries = "query($s: String) { deliveries(status: $s) { edges { node { status } } } }";
    assert_eq!(app.error_code(Some(&admin.token), deliveries, json!({ "s": "delivred" })).await, "BAD_USER_INPUT");
    app.data(Some(&admin.token), deliveries, json!({ "s": "delivered" })).await;
}

#[tokio::test]
async fn messages_page_by_cursor_and_statistics_count_them_per_hour() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let (room, _) = create_room(&app, &admin, "lobby", None).await;
    let say = "mutation($r: UUID!, $t: String!, $a: Boolean) { sendToRoom(room: $r, text: $t, action: $a) { position } }";
    let mut last = Value::Null;
    for i in 0..5 {
        last =
            app.data(Some(&admin.token), say, json!({ "r": room, "t": format!("hello {i}"), "a": i == 4 })).await["sendToRoom"]["position"]
                .clone();
    }
    let page = "query($r: UUID!, $after: String, $p: Position) { messages(room: $r, first: 2, after: $after, waitFor: $p) { \
        edges { cursor node { body kind authorNick gateway } } pageInfo { hasNextPage endCursor } } }";
    let mut bodies = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app.data(Some(&admin.token), page, json!({ "r": room, "after": after, "p": last })).await["messages"].clone();
        bodies.extend(data["edges"].as_array().unwrap().iter().map(|e| e["node"]["body"].as_str().unwrap().to_owned()));
        if !data["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            let kinds = data["edges"].as_array().unwrap().last().unwrap()["node"].clone();
            assert_eq!(kinds["kind"], "action");
            assert_eq!(kinds["authorNick"], "switchboard");
            break;
        }
        after = data["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(bodies, ["hello 0", "hello 1", "hello 2", "hello 3", "hello 4"]);
    assert_eq!(app.error_code(Some(&admin.token), page, json!({ "r": room, "after": "garbage!" })).await, "BAD_USER_INPUT");

    let now = chrono::Utc::now();
    let stats = app
        .data(
            Some(&admin.token),
            "query($from: DateTime!, $to: DateTime!) { statistics(bucket: HOUR, from: $from, to: $to) { start roomId messages } }",
            json!({ "from": now - chrono::TimeDelta::hours(2), "to": now + chrono::TimeDelta::hours(1) }),
        )
        .await;
    let total: i64 = stats["statistics"].as_array().unwrap().iter().map(|b| b["messages"].as_i64().unwrap()).sum();
    assert_eq!(total, 5);

    // A member of no room may not read its history.
    let carol = app.member("carol").await;
    assert_eq!(app.error_code(Some(&carol.token), page, json!({ "r": room })).await, "FORBIDDEN");
}

#[tokio::test]
async fn a_query_waits_for_the_position_a_mutation_returned_and_times_out_clearly() {
    // Short enough for a quick TIMEOUT below, long enough for logIn's and create_room's own
    // waits on a loaded machine.
    let app = TestApp::spawn_with(|s| s.wait_timeout_ms = 1_500).await;
    let admin = app.member("admin").await;
    let (_, position) = create_room(&app, &admin, "lobby", None).await;
    let rooms = "query($p: Position) { rooms(waitFor: $p) { name } }";
    let data = app.data(Some(&admin.token), rooms, json!({ "p": position })).await;
    assert_eq!(data["rooms"], json!([{ "name": "lobby" }]));
    // A position far in the future is never reached: a clear TIMEOUT, not a hang.
    let (far, other_backend) = match app.store.backend() {
        store::Backend::Postgres => ("pg.1.999999999.999999999", "kdb.999999999.999999999"),
        store::Backend::KurrentDb => ("kdb.999999999999.999999999999", "pg.1.999999999.999999999"),
    };
    assert_eq!(app.error_code(Some(&admin.token), rooms, json!({ "p": far })).await, "TIMEOUT");
    // One of the other backend's is a mistake, said as one.
    assert_eq!(app.error_code(Some(&admin.token), rooms, json!({ "p": other_backend })).await, "BAD_USER_INPUT");
    assert_eq!(app.error_code(Some(&admin.token), rooms, json!({ "p": "not-a-position" })).await, "BAD_USER_INPUT");
}

#[tokio::test]
async fn hostile_queries_are_refused_with_stable_codes() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let token = Some(admin.token.as_str());

    assert_eq!(app.error_code(token, "{ me { nick ", json!({})).await, "BAD_USER_INPUT");
    assert_eq!(app.error_code(token, "{ me { nosuchfield } }", json!({})).await, "BAD_USER_INPUT");
    // Nesting beyond the depth limit.
    let too_deep = format!("{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}", "ofType { ".repeat(12), " }".repeat(12));
    assert_eq!(app.error_code(token, &too_deep, json!({})).await, "BAD_USER_INPUT");
    // Aliases multiply work; complexity caps them.
    let wide: String = (0..1500).map(|i| format!("a{i}: me {{ id }} ")).collect();
    assert_eq!(app.error_code(token, &format!("{{ {wide} }}"), json!({})).await, "BAD_USER_INPUT");
    // Many cheap fields that each read the database exhaust the lookup budget.
    let lookups: String = (0..300).map(|i| format!("a{i}: rooms {{ id }} ")).collect();
    let response = app.graphql(token, &format!("{{ {lookups} }}"), json!({})).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{response:#}");
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("lookups"));
    // Page sizes are capped.
    assert_eq!(app.error_code(token, "{ events(first: 100000) { edges { cursor } } }", json!({})).await, "BAD_USER_INPUT");
    // Oversized text and control characters.
    let (room, _) = create_room(&app, &admin, "lobby", None).await;
    let say = "mutation($r: UUID!, $t: String!) { sendToRoom(room: $r, text: $t) { position } }";
    assert_eq!(app.error_code(token, say, json!({ "r": room, "t": "x".repeat(5000) })).await, "BAD_USER_INPUT");
    assert_eq!(app.error_code(token, say, json!({ "r": room, "t": "bell\u{7}" })).await, "BAD_USER_INPUT");
    assert_eq!(app.error_code(token, say, json!({ "r": Uuid::now_v7() })).await, "BAD_USER_INPUT");
    assert_eq!(app.error_code(token, say, json!({ "r": Uuid::now_v7(), "t": "hi" })).await, "NOT_FOUND");
    // A malformed or expired bearer token is an error, not an anonymous request.
    assert_eq!(app.error_code(Some("sb_forged"), "{ __typename }", json!({})).await, "UNAUTHENTICATED");

    // A body above the limit never reaches the parser.
    let huge = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(300 * 1024)) });
    let response = app.http.post(app.url("/graphql")).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    // Not JSON at all.
    let response = app.http.post(app.url("/graphql")).header("content-type", "application/json").body("{nope").send().await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn a_superuser_watches_events_arrive_live_and_others_may_not() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let bob = app.member("bob").await;
    let (room, position) = create_room(&app, &admin, "lobby", None).await;

    let mut ws = ws_signed_in(&app, &admin.token).await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($after: Position) { liveEvents(after: $after, filter: {type: \"room.message_posted\"}) { type stream payload actor } }",
        "variables": { "after": position } } });
    ws.send(WsMessage::text(subscribe.to_string())).await.unwrap();
    app.data(Some(&admin.token), "mutation($r: UUID!) { sendToRoom(room: $r, text: \"live!\") { position } }", json!({ "r": room })).await;
    let next = next_json(&mut ws).await;
    assert_eq!(next["type"], "next", "{next}");
    let event = &next["payload"]["data"]["liveEvents"];
    assert_eq!(event["type"], "room.message_posted");
    assert_eq!(event["stream"], format!("room-{room}"));
    assert_eq!(event["payload"]["body"], "live!");

    // Logging out (over HTTP) takes effect on the open connection at the next operation.
    app.data(Some(&admin.token), "mutation { logOut { position } }", json!({})).await;
    let again = json!({ "id": "2", "type": "subscribe", "payload": { "query": "subscription { liveEvents { type } }" } });
    ws.send(WsMessage::text(again.to_string())).await.unwrap();
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");

    // Bob (a member) is refused.
    let mut ws = ws_signed_in(&app, &bob.token).await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { liveEvents { type } }" } });
    ws.send(WsMessage::text(subscribe.to_string())).await.unwrap();
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
}

#[tokio::test]
async fn websocket_operations_get_error_codes_and_the_lookup_budget_too() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let mut ws = ws_signed_in(&app, &admin.token).await;

    // async-graphql's own error (a syntax error) carries a code, as over HTTP.
    let broken = json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ rooms { id " } });
    ws.send(WsMessage::text(broken.to_string())).await.unwrap();
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");

    // The lookup budget holds on a socket too.
    let lookups: String = (0..300).map(|i| format!("a{i}: rooms {{ id }} ")).collect();
    let greedy = json!({ "id": "2", "type": "subscribe", "payload": { "query": format!("{{ {lookups} }}") } });
    ws.send(WsMessage::text(greedy.to_string())).await.unwrap();
    let answer = loop {
        let message = next_json(&mut ws).await;
        if message["id"] == "2" && message["type"] == "next" {
            break message;
        }
    };
    let error = &answer["payload"]["errors"][0];
    assert!(error["message"].as_str().unwrap().contains("lookups"), "{answer}");
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
}

/// A graphql-transport-ws connection, initialised with `token` and acknowledged.
async fn ws_signed_in(
    app: &TestApp,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/graphql/ws", app.address).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(WsMessage::text(init.to_string())).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message within 10 s").unwrap().unwrap();
        if let WsMessage::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn graphiql_health_and_metrics_are_served() {
    let app = TestApp::spawn().await;
    app.sign_up("admin").await;
    let graphiql = app.http.get(app.url("/graphql")).send().await.unwrap();
    assert!(graphiql.status().is_success());
    assert!(graphiql.text().await.unwrap().to_lowercase().contains("graphiql"));
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in
        ["switchboard_append_seconds", "switchboard_projection_lag_events{projection=\"users\"}", "switchboard_http_requests_total"]
    {
        assert!(metrics.contains(series), "{series} missing from:\n{metrics}");
    }
    assert!(metrics.contains("switchboard_graphql_requests_total"), "{metrics}");
}

#[tokio::test]
async fn an_irc_token_is_shown_once_and_only_its_hash_is_stored() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let issued = app
        .data(Some(&admin.token), "mutation { issueIrcToken(purpose: LOGIN) { token expiresAt instructions position } }", json!({}))
        .await["issueIrcToken"]
        .clone();
    let token = issued["token"].as_str().unwrap();
    assert!(issued["instructions"].as_str().unwrap().contains(".login"));
    let log = app.log_events().await;
    assert!(!log.is_empty());
    let holding =
        |secret: &str| log.iter().filter(|e| e.payload.as_str().contains(secret) || format!("{:?}", e.metadata).contains(secret)).count();
    assert_eq!(holding(token), 0, "the secret itself is never stored");
    assert_eq!(holding(&admin.token), 0);
}

#[test]
fn schema_graphql_is_the_generated_sdl() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    assert!(committed == api::graphql::sdl(), "schema.graphql is out of date: run `switchboard schema --write`");
}

#[tokio::test]
async fn a_ban_request_is_asked_for_in_a_room_you_are_in_and_the_conversation_is_searched_in_the_database() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let bob = app.member("bob").await;
    let created = app.data(Some(&admin.token), "mutation { createRoom(input: {name: \"porch\"}) { roomId position } }", json!({})).await;
    let room = created["createRoom"]["roomId"].clone();
    app.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": created["createRoom"]["position"] }))
        .await;
    let ask = "mutation($r: UUID!) { requestBan(room: $r, target: {nick: \"mallory\"}, reason: \"flooding\") { requestId position } }";
    // Bob is not in the room: refused, with the rule's words.
    assert_eq!(app.error_code(Some(&bob.token), ask, json!({ "r": room })).await, "FORBIDDEN");
    // Staff may ask anywhere; the request waits, open, for a nick without an account as its mask.
    let asked = app.data(Some(&admin.token), ask, json!({ "r": room })).await;
    let requests = app
        .data(
            Some(&admin.token),
            "query($r: UUID!, $p: Position) { room(id: $r, waitFor: $p) { banRequests(status: OPEN) { id targetMask reason } } }",
            json!({ "r": room, "p": asked["requestBan"]["position"] }),
        )
        .await;
    assert_eq!(
        requests["room"]["banRequests"],
        json!([{ "id": asked["requestBan"]["requestId"], "targetMask": "mallory!*@*", "reason": "flooding" }])
    );

    // The bot says three things; a search finds the two that match, past a first page of one.
    for text in ["Tea at four", "nothing here", "More TEA later"] {
        let said = app
            .data(
                Some(&admin.token),
                "mutation($r: UUID!, $t: String!) { sendToRoom(room: $r, text: $t) { position } }",
                json!({ "r": room, "t": text }),
            )
            .await;
        app.data(
            Some(&admin.token),
            "query($r: UUID!, $p: Position) { messages(room: $r, first: 1, waitFor: $p) { edges { cursor } } }",
            json!({ "r": room, "p": said["sendToRoom"]["position"] }),
        )
        .await;
    }
    let search = "query($r: UUID!, $after: String) { conversation(room: $r, from: \"2000-01-01T00:00:00Z\", to: \"2100-01-01T00:00:00Z\", search: \"tea\", first: 1, after: $after) { edges { cursor node { body } } pageInfo { hasNextPage } } }";
    let first = app.data(Some(&admin.token), search, json!({ "r": room })).await;
    assert_eq!(first["conversation"]["edges"][0]["node"]["body"], "Tea at four");
    assert_eq!(first["conversation"]["pageInfo"]["hasNextPage"], true);
    let after = first["conversation"]["edges"][0]["cursor"].clone();
    let second = app.data(Some(&admin.token), search, json!({ "r": room, "after": after })).await;
    assert_eq!(second["conversation"]["edges"][0]["node"]["body"], "More TEA later");
    assert_eq!(second["conversation"]["pageInfo"]["hasNextPage"], false);
}
