//! The benchmark binary as it is run: its own entry point, the server's settings, one JSON line.

use std::process::Command;

#[tokio::test]
async fn append_runs_against_the_configured_database_and_prints_one_json_line() {
    let db = testkit::TestDatabase::create().await;
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .args(["append", "--events", "200", "--writers", "2", "--batch", "5"])
        .current_dir(empty.path())
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a result line")).unwrap();
    assert_eq!(result["bench"], "append");
    assert_eq!(result["events"], 200);
    assert_eq!(result["writers"], 2);
    let client = db.client().await;
    let stored: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await.unwrap().get(0);
    assert_eq!(stored, 200, "every appended event is in the log");
}

#[test]
fn every_benchmark_is_a_subcommand() {
    let help = Command::new(env!("CARGO_BIN_EXE_switchboard-bench")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for name in ["append", "read-all", "raw-insert", "rebuild", "lag", "graphql", "fanout", "irc", "queries", "command", "raw-read", "live"]
    {
        assert!(text.lines().any(|l| l.trim_start().starts_with(name)), "{name} missing from:\n{text}");
    }
}

#[tokio::test]
async fn live_follows_the_live_log_over_http_and_counts_every_event_once() {
    let db = testkit::TestDatabase::create().await;
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .args(["live", "--rate", "200", "--seconds", "1", "--flood", "300", "--writers", "2"])
        .current_dir(empty.path())
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a result line")).unwrap();
    assert_eq!(result["bench"], "live");
    assert_eq!(result["paced"]["events"], 200);
    assert_eq!(result["flood"]["events"], 300);
    assert_eq!(result["raw_insert"]["events"], 300);
    assert_eq!(result["received_once_in_order"], 500);
    assert!(result["flood"]["delivered_per_s"].as_f64().unwrap() > 0.0 && result["paced"]["latency_ms_p99"].as_f64().unwrap() > 0.0);
    let client = db.client().await;
    let stored: i64 =
        client.query_one("SELECT count(*) FROM es_events WHERE event_type = 'room.message_posted'", &[]).await.unwrap().get(0);
    assert_eq!(stored, 500, "every appended event is in the log");
}
