//! Hostile and broken clients over real HTTP against a running app on a real PostgreSQL: bad
//! arguments and bodies get short, coded answers; request cost counts pages and `__typename`;
//! introspection follows its setting; mutations are paid from the lookup budget.

mod support;

use base64::Engine;
use serde_json::{Value, json};
use support::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cursor(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[tokio::test]
async fn nul_characters_and_negative_or_garbled_cursors_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let token = Some(admin.token.as_str());

    // NUL in a variable and in a literal, wherever a string reaches the database.
    let cases = [
        ("query($s: String!) { quotes(search: $s) { edges { cursor } } }", json!({ "s": "a\u{0}b" })),
        ("query($s: String!) { events(filter: {stream: $s}) { edges { cursor } } }", json!({ "s": "room-\u{0}" })),
        ("query($a: String!) { users(after: $a) { edges { cursor } } }", json!({ "a": "\u{0}" })),
        ("{ quotes(search: \"x\\u0000y\") { edges { cursor } } }", json!({})),
        ("mutation($u: String!) { logIn(username: $u, password: \"whatever it is\") { token } }", json!({ "u": "ad\u{0}min" })),
    ];
    for (query, variables) in cases {
        let response = app.graphql(token, query, variables.clone()).await;
        assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{query} {variables}: {response:#}");
        assert!(response["errors"][0]["message"].as_str().unwrap().contains("NUL"), "{response:#}");
    }

    // Negative and garbled cursors, on every paginated field.
    let quotes = "query($s: String, $a: String) { quotes(search: $s, after: $a) { edges { cursor } } }";
    for (search, after) in
        [(Some("words"), cursor("o:-1")), (Some("words"), cursor("o:x")), (None, cursor("id:")), (None, "%%%".to_owned())]
    {
        let code = app.error_code(token, quotes, json!({ "s": search, "a": after })).await;
        assert_eq!(code, "BAD_USER_INPUT", "quotes after {after:?}");
    }
    let events = "query($a: String) { events(after: $a) { edges { cursor } } }";
    for after in ["pg.1.5.-3", "pg.-1.5.3", "pg.1.-5.3", "pg.1.x.3", "garbage"] {
        assert_eq!(app.error_code(token, events, json!({ "a": after })).await, "BAD_USER_INPUT", "events after {after:?}");
    }
    let room =
        app.data(token, "mutation { createRoom(input: {name: \"lobby\"}) { roomId } }", json!({})).await["createRoom"]["roomId"].clone();
    let messages = "query($r: UUID!, $a: String) { messages(room: $r, after: $a) { edges { cursor } } }";
    let deliveries = "query($a: String) { deliveries(after: $a) { edges { cursor } } }";
    for after in [cursor("not|a cursor"), cursor("2026-01-01T00:00:00Z|x"), "\u{7}".to_owned()] {
        assert_eq!(app.error_code(token, messages, json!({ "r": room, "a": after })).await, "BAD_USER_INPUT", "{after:?}");
        assert_eq!(app.error_code(token, deliveries, json!({ "a": after })).await, "BAD_USER_INPUT", "{after:?}");
    }
}

/// The status and body of a raw HTTP/1.1 exchange (the server closes after answering).
async fn raw_http(app: &TestApp, head: &str, body_chunks: impl IntoIterator<Item = Vec<u8>>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body_chunks {
        // The server may answer and close before the whole body is sent.
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The JSON error object inside a (possibly chunked) response body.
fn json_error(body: &str) -> Value {
    let start = body.find('{').unwrap_or_else(|| panic!("no JSON in {body:?}"));
    let end = body.rfind('}').unwrap() + 1;
    serde_json::from_str(&body[start..end]).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

#[tokio::test]
async fn unparseable_and_oversized_requests_get_a_short_json_error() {
    let app = TestApp::spawn().await;

    for (content_type, body) in [("application/json", "{nope"), ("application/json", "[1, 2"), ("application/json", "{\"query\": 5}")] {
        let response = app.http.post(app.url("/graphql")).header("content-type", content_type).body(body).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST, "{body}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let text = response.text().await.unwrap();
        assert!(text.len() < 400, "{text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{text}");
        assert!(!text.contains("InvalidRequest") && !text.contains("Error {"), "a debug dump: {text}");
    }

    // Declared too large: refused before reading, with JSON.
    let huge = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(300 * 1024)) });
    let response = app.http.post(app.url("/graphql")).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // Chunked, so the size is only known while reading: 413 with JSON too, not a 400 dump.
    let head =
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let mut chunks = vec![b"10\r\n{\"query\": \"{ __t\r\n".to_vec()];
    let filler = "x".repeat(16 * 1024);
    for _ in 0..20 {
        chunks.push(format!("{:x}\r\n{filler}\r\n", filler.len()).into_bytes());
    }
    chunks.push(b"0\r\n\r\n".to_vec());
    let (status, body) = raw_http(&app, head, chunks).await;
    assert_eq!(status, 413, "{body}");
    let error = json_error(&body);
    assert_eq!(error["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(error["errors"][0]["message"].as_str().unwrap().contains("larger than"), "{body}");
}

#[tokio::test]
async fn request_cost_counts_page_sizes_and_typename() {
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let token = Some(admin.token.as_str());

    // 10,000 aliased `__typename`s cost 10,000 fields, not nothing.
    let typenames: String = (0..10_001).map(|i| format!("t{i}: __typename ")).collect();
    let response = app.graphql(None, &format!("{{ {typenames} }}"), json!({})).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{:#}", response["errors"]);
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("costs 10001"), "{:#}", response["errors"]);
    assert!(response["data"].is_null());

    // Pages multiply: five full pages of events cost 5 × (1 + 500 × 5 fields).
    let page = "events(first: 500) { edges { node { id type stream } } }";
    let five: String = (0..5).map(|i| format!("p{i}: {page} ")).collect();
    let response = app.graphql(token, &format!("{{ {five} }}"), json!({})).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{response:#}");
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("costs 12505"), "{response:#}");
    // … also when the page size comes in a variable, or by default (50) …
    let by_variable = "query($n: Int) { a: events(first: $n) { edges { node { id type stream } } } b: events(first: $n) { edges { node { id type stream } } } \
                       c: events(first: $n) { edges { node { id type stream } } } d: events(first: $n) { edges { node { id type stream } } } \
                       e: events(first: $n) { edges { node { id type stream } } } }";
    assert_eq!(app.error_code(token, by_variable, json!({ "n": 500 })).await, "BAD_USER_INPUT");
    let defaults: String = (0..60).map(|i| format!("p{i}: events {{ edges {{ node {{ id type stream }} }} }} ")).collect();
    assert_eq!(app.error_code(token, &format!("{{ {defaults} }}"), json!({})).await, "BAD_USER_INPUT");
    // … while one full page, and a few smaller ones through a fragment, are fine.
    app.data(token, &format!("{{ {page} }}"), json!({})).await;
    let fragment = "{ a: events(first: 100) { ...page } b: events(first: 100) { ...page } } fragment page on EventConnection { edges { node { id type } } }";
    app.data(token, fragment, json!({})).await;
}

const GRAPHIQL_INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } \
    types { ...FullType } directives { name description locations args { ...InputValue } } } } \
    fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } \
    type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } \
    enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } } \
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue } \
    fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

#[tokio::test]
async fn introspection_is_one_schema_per_request_and_follows_its_setting() {
    let app = TestApp::spawn().await;

    // By default anyone may introspect (GraphiQL works before signing in), once per request.
    let schema = app.data(None, GRAPHIQL_INTROSPECTION, json!({})).await;
    assert!(schema["__schema"]["types"].as_array().unwrap().len() > 20);
    let twice = "{ a: __schema { types { name } } b: __schema { types { name } } }";
    assert_eq!(app.error_code(None, twice, json!({})).await, "BAD_USER_INPUT");

    let signed_in_only = TestApp::spawn_with(|api| api.introspection = api::graphql::Introspection::SignedIn).await;
    let member = signed_in_only.member("admin").await;
    assert_eq!(signed_in_only.error_code(None, "{ __schema { types { name } } }", json!({})).await, "FORBIDDEN");
    assert_eq!(signed_in_only.error_code(None, "{ __type(name: \"Room\") { name } }", json!({})).await, "FORBIDDEN");
    signed_in_only.data(Some(&member.token), GRAPHIQL_INTROSPECTION, json!({})).await;
    // Not introspection: still answered without signing in.
    signed_in_only.data(None, "{ __typename }", json!({})).await;

    let off = TestApp::spawn_with(|api| api.introspection = api::graphql::Introspection::Off).await;
    let superuser = off.member("admin").await;
    assert_eq!(off.error_code(Some(&superuser.token), "{ __schema { types { name } } }", json!({})).await, "FORBIDDEN");
}

#[tokio::test]
async fn mutations_spend_the_lookup_budget_and_an_over_budget_request_changes_nothing() {
    let app = TestApp::spawn().await;
    app.member("admin").await;
    app.sign_up("bob").await;
    let token = app.verification_token("bob@example.org");

    let many: String = (0..300).map(|i| format!("v{i}: verifyEmail(token: $t) {{ position }} ")).collect();
    let response = app.graphql(None, &format!("mutation($t: String!) {{ {many} }}"), json!({ "t": token })).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{:#}", response["errors"][0]);
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("300 mutations"), "{:#}", response["errors"][0]);
    assert!(response["data"].is_null(), "nothing ran: {:#}", response["data"]);

    // Bob is still unverified: his token works once, now.
    app.data(None, "mutation($t: String!) { verifyEmail(token: $t) { position } }", json!({ "t": token })).await;
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(app: &TestApp) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/graphql/ws", app.address).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next frame the server sends (pings included), within `secs`.
async fn next_frame(ws: &mut Ws, secs: u64) -> Option<WsMessage> {
    use futures::StreamExt;
    match tokio::time::timeout(std::time::Duration::from_secs(secs), ws.next()).await {
        Ok(Some(Ok(message))) => Some(message),
        Ok(_) => None,
        Err(_) => panic!("nothing from the server within {secs} s"),
    }
}

use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn a_websocket_that_never_initialises_is_closed_and_idle_ones_get_pings() {
    use futures::SinkExt;
    let app = TestApp::spawn_with(|api| {
        api.ws_init_timeout_secs = 1;
        api.ws_keepalive_secs = 1;
    })
    .await;

    // Silent after connecting: closed with graphql-transport-ws's 4408.
    let mut silent = ws_connect(&app).await;
    let close = loop {
        match next_frame(&mut silent, 5).await {
            Some(WsMessage::Ping(_)) => continue,
            other => break other,
        }
    };
    match close {
        Some(WsMessage::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::from(4408), "{frame:?}"),
        other => panic!("expected a 4408 close, got {other:?}"),
    }

    // Initialised and idle: pinged every second, and still open after the init timeout.
    let mut idle = ws_connect(&app).await;
    idle.send(WsMessage::text(json!({ "type": "connection_init" }).to_string())).await.unwrap();
    let mut pings = 0;
    while pings < 3 {
        match next_frame(&mut idle, 5).await {
            Some(WsMessage::Ping(_)) => pings += 1,
            Some(WsMessage::Text(text)) => assert!(text.contains("connection_ack"), "{text}"),
            other => panic!("expected pings, got {other:?}"),
        }
    }
    idle.send(WsMessage::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ __typename }" } }).to_string()))
        .await
        .unwrap();
    loop {
        match next_frame(&mut idle, 5).await {
            Some(WsMessage::Text(text)) if text.contains("\"next\"") => break,
            Some(WsMessage::Ping(_) | WsMessage::Text(_)) => continue,
            other => panic!("the idle connection was not kept: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_closes_with_1009() {
    use futures::SinkExt;
    let app = TestApp::spawn().await;
    let mut ws = ws_connect(&app).await;
    ws.send(WsMessage::text(json!({ "type": "connection_init" }).to_string())).await.unwrap();
    assert!(matches!(next_frame(&mut ws, 5).await, Some(WsMessage::Text(t)) if t.contains("connection_ack")));
    let huge = json!({ "id": "1", "type": "subscribe", "payload": { "query": format!("{{ __typename }} #{}", "x".repeat(300 * 1024)) } });
    let _ = ws.send(WsMessage::text(huge.to_string())).await;
    let close = loop {
        match next_frame(&mut ws, 5).await {
            Some(WsMessage::Ping(_)) => continue,
            other => break other,
        }
    };
    match close {
        Some(WsMessage::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Size, "{frame:?}"),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
}

#[tokio::test]
async fn member_keys_have_the_documented_form() {
    use domain::events::MemberRef;
    use domain::{DisplayNick, Gateway, Joining, Level, Metadata, Room, RoomCommand, StreamName};
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let room = app.data(Some(&admin.token), "mutation { createRoom(input: {name: \"lobby\"}) { roomId } }", json!({})).await["createRoom"]
        ["roomId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut position = String::new();
    for user_id in [Some(admin.user_id.parse().unwrap()), None] {
        let nick = if user_id.is_some() { "admin" } else { "Wanderer" };
        let joining = Joining {
            member: MemberRef { user_id, nick: DisplayNick::parse(nick).unwrap() },
            mask: None,
            phone: None,
            gateway: Gateway::Irc,
            caller_level: if user_id.is_some() { Level::Superuser } else { Level::Guest },
            as_bot: false,
        };
        let stream = StreamName::room(room.parse().unwrap());
        let done = app.app.executor.execute::<Room>(&stream, &RoomCommand::Join(joining), Metadata::system()).await.unwrap();
        position = done.position().to_string();
    }
    let data = app
        .data(
            Some(&admin.token),
            "query($p: Position) { rooms(waitFor: $p) { id members { memberKey nick userId } } }",
            json!({ "p": position }),
        )
        .await;
    let members = data["rooms"].as_array().unwrap().iter().find(|r| r["id"] == room.as_str()).unwrap()["members"].clone();
    let keys: Vec<&str> = members.as_array().unwrap().iter().map(|m| m["memberKey"].as_str().unwrap()).collect();
    assert!(keys.contains(&format!("user:{}", admin.user_id).as_str()), "{members:#}");
    assert!(keys.contains(&"guest:wanderer"), "{members:#}");
}

/// A log-in attempt "from" `forwarded_for` (the test client is 127.0.0.1); its error code, if any.
async fn log_in_via(app: &TestApp, forwarded_for: &str, username: &str, password: &str) -> Option<String> {
    let query = "mutation($u: String!, $p: String!) { logIn(username: $u, password: $p) { token } }";
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "query": query, "variables": { "u": username, "p": password } }))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    answer["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn login_limits_behind_a_trusted_proxy_count_the_forwarded_client() {
    let app = TestApp::spawn_with(|api| {
        api.login_failures_per_address = 3;
        api.trusted_proxies = vec![serde_json::from_value(json!("127.0.0.1/32")).unwrap()];
    })
    .await;
    app.member("admin").await;

    // Three failures from one client behind the proxy lock that client only.
    for i in 0..3 {
        assert_eq!(log_in_via(&app, "203.0.113.5", &format!("nobody{i}"), "wrong").await.as_deref(), Some("UNAUTHENTICATED"));
    }
    assert_eq!(log_in_via(&app, "203.0.113.5", "nobody9", "wrong").await.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(log_in_via(&app, "203.0.113.6", "nobody9", "wrong").await.as_deref(), Some("UNAUTHENTICATED"));
    // A spoofed hop in front of the real client does not help it.
    assert_eq!(log_in_via(&app, "198.51.100.1, 203.0.113.5", "nobody9", "wrong").await.as_deref(), Some("RATE_LIMITED"));

    // IPv6 clients count per /64: another address of the same /64 is the same client.
    for i in 1..=3 {
        assert_eq!(
            log_in_via(&app, &format!("2001:db8:0:7::{i}"), &format!("v6nobody{i}"), "wrong").await.as_deref(),
            Some("UNAUTHENTICATED")
        );
    }
    assert_eq!(log_in_via(&app, "2001:db8:0:7::ffff", "v6nobody9", "wrong").await.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(log_in_via(&app, "2001:db8:0:8::1", "v6nobody9", "wrong").await.as_deref(), Some("UNAUTHENTICATED"));

    // Successful logins are not failures: many of them leave the address's failures where they were.
    assert_eq!(log_in_via(&app, "192.0.2.44", "nobody", "wrong").await.as_deref(), Some("UNAUTHENTICATED"));
    for _ in 0..5 {
        assert_eq!(log_in_via(&app, "192.0.2.44", "admin", support::PASSWORD).await, None);
    }
    assert_eq!(log_in_via(&app, "192.0.2.44", "nobody", "wrong").await.as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(log_in_via(&app, "192.0.2.44", "nobody", "wrong").await.as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(log_in_via(&app, "192.0.2.44", "nobody", "wrong").await.as_deref(), Some("RATE_LIMITED"));

    // Usernames are bounded before they become limiter keys.
    assert_eq!(log_in_via(&app, "192.0.2.45", &"x".repeat(100_000), "wrong").await.as_deref(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let app = TestApp::spawn_with(|api| api.login_failures_per_address = 3).await;
    for i in 0..3 {
        assert_eq!(log_in_via(&app, &format!("203.0.113.{i}"), &format!("nobody{i}"), "wrong").await.as_deref(), Some("UNAUTHENTICATED"));
    }
    // Every attempt came from 127.0.0.1, whatever the header said.
    assert_eq!(log_in_via(&app, "203.0.113.99", "nobody9", "wrong").await.as_deref(), Some("RATE_LIMITED"));
}

#[tokio::test]
async fn metrics_can_require_a_token_or_live_on_their_own_address() {
    let app = TestApp::spawn_with(|api| api.metrics_token = Some(api::Hidden::new("scrape-secret"))).await;
    let anonymous = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let wrong = app.http.get(app.url("/metrics")).bearer_auth("scrape-secreT").send().await.unwrap();
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED);
    let scraped = app.http.get(app.url("/metrics")).bearer_auth("scrape-secret").send().await.unwrap();
    assert_eq!(scraped.status(), reqwest::StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("switchboard_http_requests_total"));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_at: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let apart = TestApp::spawn_with(|api| api.metrics_listen = Some(metrics_at)).await;
    assert_eq!(apart.http.get(apart.url("/metrics")).send().await.unwrap().status(), reqwest::StatusCode::NOT_FOUND);
    let scraped = apart.http.get(format!("http://{metrics_at}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), reqwest::StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("switchboard_projection_lag_events"));
    assert_eq!(apart.http.get(format!("http://{metrics_at}/graphql")).send().await.unwrap().status(), reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_private_persons_about_and_last_seen_text_are_for_their_rooms_only() {
    use domain::events::MemberRef;
    use domain::{DisplayNick, Gateway, Joining, Level, Metadata, Room, RoomCommand, StreamName};
    let app = TestApp::spawn().await;
    let admin = app.member("admin").await;
    let alice = app.member("alice").await;
    let bob = app.member("bob").await;
    let carol = app.member("carol").await;
    let room = app.data(Some(&admin.token), "mutation { createRoom(input: {name: \"lobby\"}) { roomId } }", json!({})).await["createRoom"]
        ["roomId"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream = StreamName::room(room.parse().unwrap());
    for member in [&alice, &bob] {
        let joining = Joining {
            member: MemberRef { user_id: Some(member.user_id.parse().unwrap()), nick: DisplayNick::parse(&member.nick).unwrap() },
            mask: None,
            phone: None,
            gateway: Gateway::Irc,
            caller_level: Level::Member,
            as_bot: false,
        };
        app.app.executor.execute::<Room>(&stream, &RoomCommand::Join(joining), Metadata::system()).await.unwrap();
    }
    let alice_id: uuid::Uuid = alice.user_id.parse().unwrap();
    let post = RoomCommand::Post {
        message_id: uuid::Uuid::now_v7(),
        speaker: domain::Speaker::Member {
            member: MemberRef { user_id: Some(alice_id), nick: DisplayNick::parse("alice").unwrap() },
            mask: None,
        },
        body: domain::MessageBody::parse("meet me at the usual place").unwrap(),
        kind: domain::events::MessageKind::Say,
        gateway: Gateway::Irc,
        caller_level: Level::Member,
    };
    app.app.executor.execute::<Room>(&stream, &post, Metadata::system()).await.unwrap();
    let about = domain::UserCommand::SetAbout { about: Some(domain::AboutText::parse("I like long walks").unwrap()) };
    let metadata = Metadata::new(domain::Actor::User(alice_id), Gateway::Irc);
    let done = app.app.executor.execute::<domain::User>(&StreamName::user(alice_id), &about, metadata).await.unwrap();
    app.runners.wait_for(done.position(), &["users", "rooms", "last_seen"], std::time::Duration::from_secs(10)).await.unwrap();

    let profile = "query($n: String!) { user(nick: $n) { private about } }";
    let seen = "query($n: String!) { lastSeen(nick: $n) { roomName detail } }";
    // Bob shares the room: he sees both.
    let shown = app.data(Some(&bob.token), profile, json!({ "n": "alice" })).await;
    assert_eq!(shown["user"]["private"], true, "{shown:#}");
    assert_eq!(shown["user"]["about"], "I like long walks");
    let shown = app.data(Some(&bob.token), seen, json!({ "n": "alice" })).await;
    assert_eq!(shown["lastSeen"]["detail"], "meet me at the usual place", "{shown:#}");
    // Carol does not: neither.
    let hidden = app.data(Some(&carol.token), profile, json!({ "n": "alice" })).await;
    assert!(hidden["user"]["about"].is_null(), "{hidden:#}");
    let hidden = app.data(Some(&carol.token), seen, json!({ "n": "alice" })).await;
    assert!(hidden["lastSeen"]["detail"].is_null() && hidden["lastSeen"]["roomName"].is_null(), "{hidden:#}");
}
