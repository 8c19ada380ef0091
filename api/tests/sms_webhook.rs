//! The Twilio webhook over real HTTP: signed texts are recorded once per MessageSid; unsigned,
//! mis-signed and malformed ones are refused with a clear status and append nothing.

mod support;

use serde_json::{Value, json};
use support::TestApp;

const TOKEN: &str = "test-auth-token";
const ROOM_NUMBER: &str = "+15559870000";

fn encode(params: &[(&str, &str)]) -> String {
    let component = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    params.iter().map(|(k, v)| format!("{}={}", component(k), component(v))).collect::<Vec<_>>().join("&")
}

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

#[tokio::test]
async fn a_signed_text_is_recorded_once_however_often_twilio_retries_it_and_bad_ones_append_nothing() {
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

    let sid = "SM0123456789abcdef0123456789abcdef";
    let params = message(sid, "hello from a phone 👋");
    let signature = sign(&app, &params);
    for _ in 0..3 {
        let (status, body) = post(&app, encode(&params), Some(&signature)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Response/>"), "empty TwiML: {body}");
    }
    let recorded = inbound_events(&app, &admin).await;
    assert_eq!(recorded.len(), 1, "Twilio's retries add nothing: {recorded:?}");
    assert_eq!(recorded[0]["payload"]["body"], "hello from a phone 👋");
    assert_eq!(recorded[0]["payload"]["room_id"], created["createRoom"]["roomId"]);
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
