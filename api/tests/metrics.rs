//! `/metrics` as an operator scrapes it, on the whole application (`switchboard serve`'s parts:
//! the bot on a private ngIRCd, the SMS pipeline sending to the Twilio stand-in): events
//! appended by type, projection lag, the IRC connection and its reconnects, SMS deliveries by
//! status, webhook refusals by reason. The alert rules and the dashboard in `docs/` use only
//! series that exist.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::TestApp;
use switchboard::app::Parts;
use testkit::irc::{IrcTestClient, Ngircd};
use testkit::twilio::{ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn};

const BOT: &str = "sbbot";
const CHANNEL: &str = "#lobby";
const NUMBER: &str = "+15550100000";
const DAVE: &str = "+15551230001";
const WAIT: Duration = Duration::from_secs(30);

/// A MessageSid of Twilio's form.
fn sid(n: u32) -> String {
    format!("SM{n:032x}")
}

async fn scrape(app: &TestApp) -> String {
    app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// The value of the series `name{labels}` (labels exactly as rendered), if present.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Scrapes until `series` has a value `accept`s.
async fn wait_for(app: &TestApp, series: &str, accept: impl Fn(f64) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let metrics = scrape(app).await;
        if value(&metrics, series).is_some_and(&accept) {
            return metrics;
        }
        assert!(tokio::time::Instant::now() < deadline, "{series} never right; last scrape:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_appends_by_type_the_irc_connection_sms_deliveries_and_webhook_refusals() {
    let mut ircd = Ngircd::start().await.expect("ngircd starts");
    let twilio = TwilioStandIn::start().await;
    let mut olga = IrcTestClient::connect(ircd.port(), "olga").await.unwrap();
    olga.join(CHANNEL).await.unwrap();
    let app = TestApp::spawn_parts(Parts::ALL, |s| {
        s.irc.server = Some("127.0.0.1".into());
        s.irc.port = ircd.port();
        s.irc.nick = BOT.into();
        s.twilio.account_sid = Some(ACCOUNT_SID.into());
        s.twilio.base_url = twilio.base_url.clone();
        s.twilio.messages_per_second = 0.0;
        s.api.twilio_auth_token = Some(api::Hidden::new(AUTH_TOKEN));
        s.server.restart_delay_ms = 200;
    })
    .await;
    let admin = app.member("alice").await;
    app.create_room(&admin, "lobby", Some(CHANNEL), Some(NUMBER)).await;
    let metrics = wait_for(&app, "switchboard_irc_connected", |v| v == 1.0).await;
    assert_eq!(value(&metrics, "switchboard_events_appended_total{type=\"room.created\"}"), Some(1.0), "{metrics}");
    assert_eq!(value(&metrics, "switchboard_events_appended_total{type=\"room.sms_number_bound\"}"), Some(1.0), "{metrics}");
    assert!(value(&metrics, "switchboard_projection_lag_events{projection=\"rooms\"}").is_some(), "{metrics}");

    // A text that joins: its welcome is accepted by Twilio, then delivered (once, however often
    // Twilio calls back).
    let (status, _) = app
        .post_signed("/sms/twilio", AUTH_TOKEN, &[("MessageSid", &sid(1)), ("From", DAVE), ("To", NUMBER), ("Body", "#join dave")])
        .await;
    assert_eq!(status, 200);
    wait_for(&app, "switchboard_sms_deliveries_total{status=\"queued\"}", |v| v == 1.0).await;
    let welcome = twilio.sent().into_iter().find(|m| m.to == DAVE).expect("the welcome was sent");
    let callback = welcome.status_callback.clone().expect("a status callback URL");
    let path = callback.trim_start_matches(app.app.settings.public_url.as_str()).to_owned();
    for _ in 0..2 {
        let (status, _) = app
            .post_signed(&path, AUTH_TOKEN, &[("MessageSid", &welcome.sid), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT_SID)])
            .await;
        assert_eq!(status, 200);
    }
    let metrics = scrape(&app).await;
    assert_eq!(value(&metrics, "switchboard_sms_deliveries_total{status=\"delivered\"}"), Some(1.0), "{metrics}");
    assert_eq!(value(&metrics, "switchboard_events_appended_total{type=\"sms.inbound_received\"}"), Some(1.0), "{metrics}");

    // Refused webhooks, by reason.
    let (status, _) = app.post_signed("/sms/twilio", "not-the-token", &[("MessageSid", &sid(2)), ("From", DAVE), ("To", NUMBER)]).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post_signed("/sms/twilio", AUTH_TOKEN, &[("MessageSid", &sid(3)), ("From", DAVE), ("To", "+15550109999"), ("Body", "hi")])
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.post_signed("/sms/twilio", AUTH_TOKEN, &[("MessageSid", &sid(4)), ("To", NUMBER), ("Body", "hi")]).await;
    assert_eq!(status, 400);
    let metrics = scrape(&app).await;
    for reason in ["signature", "unknown_number", "bad_fields"] {
        let series = format!("switchboard_sms_webhook_refusals_total{{webhook=\"inbound\",reason=\"{reason}\"}}");
        assert_eq!(value(&metrics, &series), Some(1.0), "{series} in\n{metrics}");
    }

    // The IRC server restarts: the bot reconnects, and says so.
    ircd.restart().await.unwrap();
    wait_for(&app, "switchboard_irc_reconnects_total", |v| v >= 1.0).await;
    wait_for(&app, "switchboard_irc_connected", |v| v == 1.0).await;
}

/// `switchboard_x_bucket` → `switchboard_x`.
fn series_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name)
}

fn referenced(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("switchboard_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.insert(series_name(&name).to_owned());
    }
    names
}

#[test]
fn the_documented_series_alerts_and_dashboard_are_the_series_switchboard_exports() {
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
    let exported: BTreeSet<String> = api::metrics::SERIES.iter().map(|(name, _, _)| name.to_string()).collect();
    let listed = referenced(&std::fs::read_to_string(format!("{docs}/monitoring.md")).unwrap());
    assert_eq!(listed, exported, "docs/monitoring.md lists exactly the exported series");
    let alerts = std::fs::read_to_string(format!("{docs}/prometheus-alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(format!("{docs}/grafana-dashboard.json")).unwrap();
    let dashboard_json: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(dashboard_json["panels"].as_array().is_some_and(|p| !p.is_empty()));
    for (file, text) in [("prometheus-alerts.yml", &alerts), ("grafana-dashboard.json", &dashboard)] {
        let unknown: Vec<String> = referenced(text).difference(&exported).cloned().collect();
        assert!(unknown.is_empty(), "docs/{file} uses series Switchboard does not export: {unknown:?}");
    }
}
