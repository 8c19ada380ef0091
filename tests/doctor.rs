//! `switchboard doctor` and `switchboard twilio configure` as operators run them: the binary,
//! against a real PostgreSQL and ngircd and the Twilio stand-in (not Twilio: it checks every
//! request against Twilio's contract), with broken parts that each check must name.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{Actor, Gateway, Level, Metadata, PhoneNumber, Room, RoomCommand, RoomName, StreamName};
use testkit::twilio::{ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn};

const ROOM_NUMBER: &str = "+15550104242";

/// The binary with only the settings given here (none inherited from the test's environment).
fn switchboard(env: &[(&str, String)], args: &[&str]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(args).current_dir(empty.path());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SWITCHBOARD_") || name == "DATABASE_URL") {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The report line of `item`.
fn line<'a>(report: &'a str, item: &str) -> &'a str {
    report.lines().find(|l| l.split_whitespace().next() == Some(item)).unwrap_or_else(|| panic!("no {item} line in:\n{report}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A room bound to [`ROOM_NUMBER`], in the log and in the rooms read model.
async fn room_bound_to_the_number(db: &testkit::TestDatabase, env: &[(&str, String)]) {
    let executor = store::CommandExecutor::new(Arc::new(db.store().await));
    let room_id = uuid::Uuid::now_v7();
    let stream = StreamName::room(room_id);
    let metadata = Metadata::new(Actor::System, Gateway::Api);
    let create =
        RoomCommand::Create { room_id, name: RoomName::parse("lobby").unwrap(), invite_only: false, caller_level: Level::Superuser };
    executor.execute::<Room>(&stream, &create, metadata.clone()).await.unwrap();
    let bind = RoomCommand::BindSmsNumber { number: PhoneNumber::parse(ROOM_NUMBER).unwrap(), caller_level: Level::Superuser };
    executor.execute::<Room>(&stream, &bind, metadata).await.unwrap();
    let rebuilt = switchboard(env, &["rebuild", "rooms"]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_a_working_configuration_once_twilio_is_configured_and_names_each_broken_part() {
    let db = testkit::TestDatabase::create().await;
    let ngircd = testkit::irc::Ngircd::start().await.unwrap();
    let twilio = TwilioStandIn::start().await;
    let number_sid = twilio.add_number(ROOM_NUMBER);
    let public_url = "http://127.0.0.1:18080".to_owned();
    let env = vec![
        ("DATABASE_URL", db.url()),
        ("SWITCHBOARD_API__PUBLIC_URL", public_url.clone()),
        ("SWITCHBOARD_API__TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_owned()),
        ("SWITCHBOARD_TWILIO__ACCOUNT_SID", ACCOUNT_SID.to_owned()),
        ("SWITCHBOARD_TWILIO__BASE_URL", twilio.base_url.clone()),
        ("SWITCHBOARD_IRC__SERVER", ngircd.host().to_owned()),
        ("SWITCHBOARD_IRC__PORT", ngircd.port().to_string()),
    ];
    room_bound_to_the_number(&db, &env).await;

    // Everything answers, but Twilio posts the room's texts nowhere yet.
    let doctor = switchboard(&env, &["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(line(&report, "database").contains(" ok ") && line(&report, "database").contains("migrations applied"), "{report}");
    assert!(line(&report, "event").contains("postgres: the log's head is at"), "{report}");
    assert!(line(&report, "irc").contains(" ok ") && line(&report, "irc").contains(&ngircd.port().to_string()), "{report}");
    assert!(line(&report, "twilio").contains("credentials accepted"), "{report}");
    let webhook = line(&report, "webhook");
    assert!(webhook.contains("FAILED") && webhook.contains("(room lobby)"), "{report}");
    assert!(webhook.contains(&format!("run `switchboard twilio configure {ROOM_NUMBER}`")), "{report}");
    assert!(line(&report, "public").contains("warning") && line(&report, "public").contains("127.0.0.1"), "{report}");
    assert!(line(&report, "mail").contains("warning") && line(&report, "mail").contains("only logged"), "{report}");
    assert!(report.ends_with("verdict: not ready: 1 check failed\n"), "{report}");

    // `twilio configure` points the number here, once.
    let configured = switchboard(&env, &["twilio", "configure", ROOM_NUMBER]);
    assert!(configured.status.success(), "{}", String::from_utf8_lossy(&configured.stderr));
    let expected_url = format!("{public_url}/sms/twilio");
    assert!(stdout(&configured).contains(&format!("{ROOM_NUMBER} ({number_sid}) now posts its texts to {expected_url} (before: nowhere)")));
    let number = twilio.number(ROOM_NUMBER).unwrap();
    assert_eq!((number.sms_url.as_deref(), number.sms_method.as_str()), (Some(expected_url.as_str()), "POST"));
    let again = switchboard(&env, &["twilio", "configure", ROOM_NUMBER]);
    assert!(stdout(&again).contains("already posts its texts to") && stdout(&again).contains("nothing changed"), "{}", stdout(&again));
    assert_eq!(twilio.number_updates(), 1, "an unchanged number is not updated again");
    let unknown = switchboard(&env, &["twilio", "configure", "+15550109999"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("+15550109999 is not a number of this Twilio account"));
    let not_a_number = switchboard(&env, &["twilio", "configure", "call me"]);
    assert!(!not_a_number.status.success() && String::from_utf8_lossy(&not_a_number.stderr).contains("\"call me\""));

    let doctor = switchboard(&env, &["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    assert!(
        line(&report, "webhook").contains(&format!("{ROOM_NUMBER} (room lobby): Twilio posts its texts to {expected_url}")),
        "{report}"
    );
    assert!(report.ends_with("verdict: ready to serve, with 2 warnings\n"), "{report}");
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());

    // Broken parts, each named: a migration missing, a wrong Twilio token, TLS to a plain-text
    // IRC server, an SMTP relay that is not there.
    db.client()
        .await
        .batch_execute("DELETE FROM refinery_schema_history WHERE version = (SELECT max(version) FROM refinery_schema_history)")
        .await
        .unwrap();
    let mut broken = env.clone();
    broken.retain(|(name, _)| *name != "SWITCHBOARD_API__TWILIO_AUTH_TOKEN");
    broken.push(("SWITCHBOARD_API__TWILIO_AUTH_TOKEN", "not-the-token".to_owned()));
    broken.push(("SWITCHBOARD_IRC__TLS", "true".to_owned()));
    broken.push(("SWITCHBOARD_API__MAIL__TRANSPORT", "smtp".to_owned()));
    broken.push(("SWITCHBOARD_API__MAIL__URL", format!("smtp://127.0.0.1:{}", free_port())));
    let doctor = switchboard(&broken, &["doctor", "--timeout", "2"]);
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    let database = line(&report, "database");
    assert!(database.contains("FAILED") && database.contains("1 of") && database.contains("run `switchboard migrate`"), "{report}");
    assert!(line(&report, "event").contains("skipped"), "{report}");
    assert!(line(&report, "irc").contains("FAILED") && line(&report, "irc").contains("TLS handshake failed"), "{report}");
    let twilio_line = line(&report, "twilio");
    assert!(twilio_line.contains("FAILED") && twilio_line.contains("401") && twilio_line.contains("20003"), "{report}");
    assert!(!report.contains("not-the-token"), "the token is never printed");
    assert!(line(&report, "webhooks").contains("skipped"), "{report}");
    assert!(line(&report, "mail").contains("FAILED") && line(&report, "mail").contains("SMTP relay"), "{report}");
    assert!(report.ends_with("verdict: not ready: 4 checks failed\n"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_reports_a_database_that_does_not_answer_within_the_timeout_and_goes_on() {
    // Accepts connections (the kernel does) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let env = vec![("DATABASE_URL", format!("postgres://switchboard@127.0.0.1:{port}/switchboard?connect_timeout=30"))];
    let started = Instant::now();
    let doctor = switchboard(&env, &["doctor", "--timeout", "1"]);
    let elapsed = started.elapsed();
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{report}{}", String::from_utf8_lossy(&doctor.stderr));
    assert!(line(&report, "database").contains("did not answer within 1 s"), "{report}");
    assert!(line(&report, "irc").contains("skipped") && line(&report, "twilio").contains("skipped"), "{report}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    drop(silent);
}
