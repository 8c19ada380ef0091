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
    for name in ["append", "read-all", "raw-insert", "rebuild", "lag", "graphql", "fanout", "irc", "queries", "command", "raw-read"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(name)), "{name} missing from:\n{text}");
    }
}
