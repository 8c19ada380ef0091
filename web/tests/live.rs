//! The live log (`/live`, superusers) against a real `serve` with real PostgreSQL: in a real
//! headless Chromium (an IRC line from a real ngIRCd shows within a second, as text; filters;
//! pause and resume lose nothing), and its server-sent events over plain HTTP (a reconnect with
//! `Last-Event-ID` resumes with no gap and no duplicate; who may open it). Screenshots as in
//! `browser.rs` (`UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/`).

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use api::accounts::{LoggedIn, NewAccount};
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::AuditFilter;
use store::{EventStore, ExpectedVersion, NewEvent, Position};
use support::{CHANNEL, PASSWORD, WAIT, WebApp, click_to_load, screenshot, text_of};
use testkit::browser::Browser;
use uuid::Uuid;

/// An account with a confirmed email address, logged in (the first one on a fresh install is
/// the superuser).
async fn member(web: &WebApp, username: &str) -> LoggedIn {
    let email = format!("{username}@example.org");
    let account = NewAccount { username: username.into(), email: email.clone(), password: PASSWORD.into(), nick: None };
    api::accounts::sign_up(&web.app, account, None).await.unwrap_or_else(|e| panic!("sign-up of {username}: {e:?}"));
    let link = web.emailed_link(&email, "/verify?token=");
    let token = link.split("token=").nth(1).unwrap();
    api::accounts::verify_email(&web.app, token).await.unwrap();
    api::accounts::log_in(&web.app, username, PASSWORD, None).await.unwrap()
}

/// Logs the browser in on the log-in page as `username`.
async fn sign_in(web: &WebApp, browser: &Client, username: &str) {
    browser.goto(&web.url("/login")).await.unwrap();
    for (name, value) in [("username", username), ("password", PASSWORD)] {
        browser.find(Locator::Css(&format!("form[action='/login'] [name='{name}']"))).await.unwrap().send_keys(value).await.unwrap();
    }
    click_to_load(browser, "form[action='/login'] button[type='submit']").await;
}

async fn graphql(web: &WebApp, session: &LoggedIn, query: &str, variables: Value) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(web.url("/graphql"))
        .bearer_auth(&session.token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"].clone()
}

async fn create_room(web: &WebApp, admin: &LoggedIn, name: &str) -> Uuid {
    let data = graphql(web, admin, "mutation($n: String!) { createRoom(input: {name: $n}) { roomId } }", json!({ "n": name })).await;
    data["createRoom"]["roomId"].as_str().unwrap().parse().unwrap()
}

/// Says `text` in `room` as the bot, through GraphQL (an `api` event by the admin).
async fn send_to_room(web: &WebApp, admin: &LoggedIn, room: Uuid, text: &str) {
    graphql(
        web,
        admin,
        "mutation($r: UUID!, $t: String!) { sendToRoom(room: $r, text: $t) { position } }",
        json!({ "r": room, "t": text }),
    )
    .await;
}

async fn lobby(web: &WebApp) -> Uuid {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let channels = web.app.read.irc_channels().await.unwrap();
        if let Some(bound) = channels.iter().find(|c| c.channel.eq_ignore_ascii_case(CHANNEL)) {
            return bound.room_id;
        }
        assert!(tokio::time::Instant::now() < deadline, "no room is bound to {CHANNEL}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The summary lines of the events on the page, in page order.
async fn shown(browser: &Client) -> Vec<String> {
    let lines = browser.execute("return [...document.querySelectorAll('#live-log li .summary')].map(e => e.textContent)", vec![]).await;
    serde_json::from_value(lines.unwrap()).unwrap()
}

/// What was said, from message summary lines (`<nick> text`).
fn said_in(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().map(|l| l.split_once("> ").map_or(l.clone(), |(_, text)| text.to_owned())).collect()
}

/// Waits until a shown summary line ends with `text`; returns every line then.
async fn until_shown(browser: &Client, text: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let lines = shown(browser).await;
        if lines.iter().any(|l| l.ends_with(text)) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{text:?} did not show within {within:?}; shown: {lines:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the script has the stream open.
async fn until_live(browser: &Client) {
    let deadline = Instant::now() + WAIT;
    while !text_of(browser, "#live-status").await.starts_with("Live") {
        assert!(Instant::now() < deadline, "the live stream did not open: {}", text_of(browser, "#live-status").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_line_shows_in_the_live_log_within_a_second_as_text_with_its_metadata() {
    let web = WebApp::spawn_with_irc().await;
    member(&web, "alice").await;
    let room = lobby(&web).await;
    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;
    b.goto(&web.url("/live")).await.unwrap();
    assert_eq!(text_of(b, "h1").await, "Live log");
    until_live(b).await;

    let mut mallory = web.irc_client("mallory").await;
    mallory.join(CHANNEL).await.unwrap();
    until_shown(b, "member: mallory", WAIT).await;
    let line = "<script>document.title='owned'</script> hello from IRC";
    let said = Instant::now();
    mallory.privmsg(CHANNEL, line).await.unwrap();
    let lines = until_shown(b, line, Duration::from_secs(1)).await;
    eprintln!("the IRC line showed after {:?}", said.elapsed());
    assert_eq!(lines.last().unwrap(), &format!("<mallory> {line}"), "the newest event is last: {lines:#?}");
    // Text, not markup: no script element, the title untouched.
    assert!(b.find(Locator::Css("#live-log script")).await.is_err(), "an IRC line became a script element");
    assert_eq!(b.title().await.unwrap(), "Live log · Switchboard");

    // Its metadata, on a click.
    let item =
        b.find(Locator::XPath(&format!("//ol[@id='live-log']/li[.//span[@class='summary' and contains(., {line:?})]]"))).await.unwrap();
    let position = item.attr("data-position").await.unwrap().unwrap();
    item.find(Locator::Css("summary")).await.unwrap().click().await.unwrap();
    let facts = item.find(Locator::Css("dl.facts")).await.unwrap().text().await.unwrap();
    for expected in [format!("Position\n{position}"), format!("Stream\nroom-{room}"), "Gateway\nirc".to_owned(), "Correlation".to_owned()] {
        assert!(facts.contains(&expected), "{expected:?} not in {facts}");
    }
    let payload: Value = serde_json::from_str(&item.find(Locator::Css("pre.payload")).await.unwrap().text().await.unwrap()).unwrap();
    assert_eq!(payload["body"], line);
    assert_eq!(payload["author_nick"], "mallory");
    // The opened event in view, with a few of the events before it.
    b.execute("arguments[0].scrollIntoView(); window.scrollBy(0, -220);", vec![serde_json::to_value(&item).unwrap()]).await.unwrap();
    screenshot(b, "live-log").await;

    // Rendered by the server after a reload: the same line, as text, with the same position.
    b.refresh().await.unwrap();
    let lines = shown(b).await;
    assert!(lines.contains(&format!("<mallory> {line}")), "{lines:#?}");
    let again = b.find(Locator::Css(&format!("#live-log li[data-position='{position}'] .summary"))).await.unwrap();
    assert_eq!(again.text().await.unwrap(), format!("<mallory> {line}"));
    assert!(b.find(Locator::Css("#live-log script")).await.is_err());
    drop(browser);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_the_list_on_the_page_and_live() {
    let web = WebApp::spawn_with_irc().await;
    let alice = member(&web, "alice").await;
    let lobby = lobby(&web).await;
    let other = create_room(&web, &alice, "other").await;
    let mut mallory = web.irc_client("mallory").await;
    mallory.join(CHANNEL).await.unwrap();
    send_to_room(&web, &alice, other, "api line A").await;
    mallory.privmsg(CHANNEL, "irc line A").await.unwrap();

    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;
    // By gateway: only what came from IRC, on the page and live.
    b.goto(&web.url("/live?gateway=irc")).await.unwrap();
    until_live(b).await;
    let deadline = Instant::now() + WAIT;
    while !shown(b).await.iter().any(|l| l.ends_with("irc line A")) {
        assert!(Instant::now() < deadline, "irc line A did not show");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send_to_room(&web, &alice, other, "api line B").await;
    mallory.privmsg(CHANNEL, "irc line B").await.unwrap();
    let lines = until_shown(b, "irc line B", WAIT).await;
    assert!(!lines.iter().any(|l| l.contains("api line")), "{lines:#?}");
    let gateways: Vec<String> = serde_json::from_value(
        b.execute("return [...document.querySelectorAll('#live-log .gateway')].map(e => e.textContent)", vec![]).await.unwrap(),
    )
    .unwrap();
    assert!(!gateways.is_empty() && gateways.iter().all(|g| g == "irc"), "{gateways:?}");

    // By room, chosen in the form: only that room's events.
    b.find(Locator::Css(&format!("#live-room option[value='{other}']"))).await.unwrap().click().await.unwrap();
    b.find(Locator::Css("#live-gateway option[value='']")).await.unwrap().click().await.unwrap();
    click_to_load(b, "form.live-filters button[type='submit']").await;
    assert_eq!(b.current_url().await.unwrap().query_pairs().find(|(k, _)| k == "room").unwrap().1, other.to_string());
    until_live(b).await;
    let lines = shown(b).await;
    assert!(lines.iter().any(|l| l.ends_with("api line A")) && lines.iter().any(|l| l.ends_with("api line B")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("irc line")), "{lines:#?}");
    mallory.privmsg(CHANNEL, "irc line C").await.unwrap();
    // The IRC line is in the log before the next API line: had it passed the filter, it would show first.
    let lobby_filter = AuditFilter { stream: Some(format!("room-{lobby}")), ..Default::default() };
    let deadline = Instant::now() + WAIT;
    while !web
        .app
        .store
        .audit_page(&lobby_filter, None, true, 5)
        .await
        .unwrap()
        .iter()
        .any(|e| e.payload.to_value()["body"] == "irc line C")
    {
        assert!(Instant::now() < deadline, "irc line C was not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send_to_room(&web, &alice, other, "api line C").await;
    let lines = until_shown(b, "api line C", WAIT).await;
    assert!(!lines.iter().any(|l| l.contains("irc line")), "{lines:#?}");

    // By actor (a nick) and type: alice's messages only.
    b.goto(&web.url("/live?actor=alice&type=room.message_posted")).await.unwrap();
    let lines = shown(b).await;
    assert_eq!(lines.iter().filter(|l| l.contains("api line")).count(), 3, "{lines:#?}");
    assert_eq!(lines.len(), 3, "{lines:#?}");
    // A nick nobody holds is an error in words, not an empty list.
    b.goto(&web.url("/live?actor=nobody")).await.unwrap();
    assert!(text_of(b, "p[role='alert']").await.contains("nobody has the nick “nobody”"));
    drop(browser);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_arrive_while_paused_show_on_resume_in_order_with_none_missing() {
    let web = WebApp::spawn().await;
    let alice = member(&web, "alice").await;
    let room = create_room(&web, &alice, "busy").await;
    send_to_room(&web, &alice, room, "before the pause").await;
    let browser = Browser::start().await;
    let b = browser.client();
    sign_in(&web, b, "alice").await;
    b.goto(&web.url(&format!("/live?room={room}&type=room.message_posted"))).await.unwrap();
    until_live(b).await;
    assert_eq!(said_in(shown(b).await), ["before the pause"]);

    b.find(Locator::Css("#live-pause")).await.unwrap().click().await.unwrap();
    assert!(text_of(b, "#live-status").await.starts_with("Paused"));
    assert_eq!(text_of(b, "#live-pause").await, "Resume");
    let said: Vec<String> = (1..=20).map(|n| format!("said while paused {n}")).collect();
    for text in &said {
        send_to_room(&web, &alice, room, text).await;
    }
    // Every one is in the log (sendToRoom answers once committed); none shows while paused.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(said_in(shown(b).await), ["before the pause"], "events showed while paused");

    b.find(Locator::Css("#live-pause")).await.unwrap().click().await.unwrap();
    until_shown(b, "said while paused 20", WAIT).await;
    until_live(b).await;
    send_to_room(&web, &alice, room, "after the resume").await;
    let lines = said_in(until_shown(b, "after the resume", WAIT).await);
    let expected: Vec<String> = std::iter::once("before the pause".to_owned())
        .chain(said.iter().cloned())
        .chain(std::iter::once("after the resume".to_owned()))
        .collect();
    assert_eq!(lines, expected, "in order, none missing, none twice");
    let positions: Vec<String> = serde_json::from_value(
        b.execute("return [...document.querySelectorAll('#live-log li')].map(e => e.dataset.position)", vec![]).await.unwrap(),
    )
    .unwrap();
    assert_eq!(positions.iter().collect::<HashSet<_>>().len(), expected.len());
    drop(browser);
}

/// A client of `/live/stream` reading server-sent events over real HTTP.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

/// One server-sent event: its id and its data (JSON).
#[derive(Debug)]
struct Sse {
    id: String,
    data: Value,
}

impl SseClient {
    async fn open(web: &WebApp, session: &LoggedIn, query: &str, last_event_id: Option<&str>) -> Self {
        let mut request =
            reqwest::Client::new().get(web.url(&format!("/live/stream?{query}"))).header("cookie", format!("sb_session={}", session.token));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next event with data (the `retry:` preamble and keep-alive comments skipped), or
    /// `None` when nothing comes within `within`.
    async fn next(&mut self, within: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
                if let (Some(id), Some(data)) = (field("id: "), field("data: ")) {
                    return Some(Sse { id, data: serde_json::from_str(&data).unwrap() });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

fn message(room: Uuid, n: usize) -> NewEvent {
    let event = domain::Event::MessagePosted(domain::events::MessagePosted {
        room_id: room,
        message_id: Uuid::now_v7(),
        author_id: None,
        author_nick: "writer".parse().unwrap(),
        body: format!("line {n}").parse().unwrap(),
        kind: domain::events::MessageKind::Say,
        gateway: domain::Gateway::Irc,
    });
    NewEvent::from_domain(&event, domain::Metadata::new(domain::Actor::System, domain::Gateway::Irc))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_last_event_id_resumes_the_stream_with_no_gap_and_no_duplicate() {
    let web = WebApp::spawn().await;
    let alice = member(&web, "alice").await;
    let start = web.app.store.head().await.unwrap();
    // Four writers append concurrently, each to its own room, while the client reads, drops the
    // connection every 25 events and reconnects with the last id it saw.
    const WRITERS: usize = 4;
    const EACH: usize = 60;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = web.app.store.clone();
        writers.spawn(async move {
            let room = Uuid::now_v7();
            for n in 0..EACH {
                store.append(&domain::StreamName::room(room), ExpectedVersion::Any, vec![message(room, n)]).await.unwrap();
                tokio::time::sleep(Duration::from_millis((w as u64 + n as u64) % 4)).await;
            }
        });
    }
    let query = "type=room.message_posted";
    let mut client = SseClient::open(&web, &alice, &format!("{query}&after={start}"), None).await;
    let mut received: Vec<Sse> = Vec::new();
    let mut reconnects = 0;
    while received.len() < WRITERS * EACH {
        let event = client.next(WAIT).await.unwrap_or_else(|| panic!("the stream stalled after {} events", received.len()));
        received.push(event);
        if received.len().is_multiple_of(25) {
            // `after` (the page's start) is ignored when the browser sends Last-Event-ID.
            let last = received.last().unwrap().id.clone();
            client = SseClient::open(&web, &alice, &format!("{query}&after={start}"), Some(&last)).await;
            reconnects += 1;
        }
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    assert!(client.next(Duration::from_millis(300)).await.is_none(), "more events than were appended");
    assert!(reconnects >= 9);

    // Exactly the log's matching events after the start, in log order, each once.
    let filter = AuditFilter { event_type: Some("room.message_posted".into()), ..Default::default() };
    let logged = web.app.store.audit_page(&filter, Some(start), false, 1_000).await.unwrap();
    assert_eq!(logged.len(), WRITERS * EACH);
    let got: Vec<(String, String)> = received.iter().map(|e| (e.id.clone(), e.data["id"].as_str().unwrap().to_owned())).collect();
    let want: Vec<(String, String)> = logged.iter().map(|e| (e.position.to_string(), e.event_id.to_string())).collect();
    assert_eq!(got, want);
    for event in &received {
        assert_eq!(event.data["position"], event.id.as_str());
        event.id.parse::<Position>().unwrap();
    }

    // A position this site never gave out is refused in words.
    let bad = reqwest::Client::new()
        .get(web.url("/live/stream"))
        .header("cookie", format!("sb_session={}", alice.token))
        .header("last-event-id", "not-a-position")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("is not a log position"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_superusers_open_the_live_log_and_others_are_refused() {
    let web = WebApp::spawn().await;
    let alice = member(&web, "alice").await;
    let bob = member(&web, "bob").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: &str, session: Option<&LoggedIn>| {
        let mut request = http.get(web.url(path));
        if let Some(session) = session {
            request = request.header("cookie", format!("sb_session={}", session.token));
        }
        request.send()
    };
    // Anonymous: to the log-in page, and back afterwards.
    for path in ["/live", "/live/stream"] {
        let response = get(path, None).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], format!("/login?next={}", path.replace('/', "%2F")));
    }
    // A member: a 403 page that says why, and no link to it.
    for path in ["/live", "/live/stream", "/live?gateway=irc"] {
        let response = get(path, Some(&bob)).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("Not allowed") && page.contains("the live event log needs level 5 (superuser)"), "{page}");
    }
    assert!(!get("/", Some(&bob)).await.unwrap().text().await.unwrap().contains("href=\"/live\""));
    // The superuser: the page, linked from the navigation, with the stream's script from this site.
    assert!(get("/", Some(&alice)).await.unwrap().text().await.unwrap().contains("href=\"/live\""));
    let page = get("/live", Some(&alice)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<script src=\"/assets/live.js?v="), "{html}");
    assert!(!html.contains("<script>"), "an inline script");
    // A bad filter is an error in words.
    let response = get("/live?type=room.nothing", Some(&alice)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("no event type is called"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_ends_when_the_session_that_opened_it_is_revoked() {
    let web = WebApp::spawn().await;
    let alice = member(&web, "alice").await;
    let mut client = SseClient::open(&web, &alice, "", None).await;
    let room = Uuid::now_v7();
    web.app.store.append(&domain::StreamName::room(room), ExpectedVersion::Any, vec![message(room, 1)]).await.unwrap();
    assert!(client.next(WAIT).await.is_some(), "the open stream delivers");
    api::accounts::revoke_api_token(&web.app, alice.user_id, alice.token_id).await.unwrap();
    // Re-checked every 5 s: the response ends (no more chunks) soon after.
    let ended = tokio::time::timeout(Duration::from_secs(8), async { while client.response.chunk().await.unwrap().is_some() {} }).await;
    assert!(ended.is_ok(), "the stream outlived its session");
    // Reopening it is sent to the log-in page.
    let again = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(web.url("/live/stream"))
        .header("cookie", format!("sb_session={}", alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
}
