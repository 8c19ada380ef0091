//! The binary as a user runs it: `switchboard serve` on the embedded default, and
//! `switchboard migrate` against a configured server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Some((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn serve_starts_a_private_postgresql_answers_health_checks_and_stops_it_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // The private cluster may run as the `postgres` user (when tests run as root): it must be
    // able to enter the directory.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("SWITCHBOARD_DATABASE__DATA_DIR", &data_dir)
        .env("SWITCHBOARD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = loop {
        // 503 while the projections install themselves, then 200.
        if let Some(answer) = http_get(port, "/readyz")
            && answer.0 == 200
        {
            break answer;
        }
        assert!(Instant::now() < deadline, "switchboard serve did not become ready");
        assert!(child.try_wait().unwrap().is_none(), "switchboard serve exited early");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(ready.0, 200, "readyz: {}", ready.1);
    assert!(ready.1.contains("\"database\":\"ok\"") && ready.1.contains("\"rooms\":\"running\""), "{}", ready.1);
    let (status, body) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""));
    assert!(data_dir.join("postgresql/PG_VERSION").exists(), "the cluster lives under the data directory");
    assert!(data_dir.join("postgresql/postmaster.pid").exists(), "the cluster is running");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "serve exited with {status}: {stderr}");
    assert!(!data_dir.join("postgresql/postmaster.pid").exists(), "the private cluster was stopped: {stderr}");
    assert!(stderr.contains("private PostgreSQL cluster stopped"));
    // An orderly stop: the store lets go of its connections before the cluster stops, so nothing
    // reports a lost connection (timing decides whether it would show; this catches it when it does).
    assert!(!stderr.contains("lost its connection") && !stderr.contains("Connection error"), "{stderr}");
}

fn run_switchboard(url: &str, args: &[&str]) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard")).args(args).current_dir(empty.path()).env("DATABASE_URL", url).output().unwrap()
}

#[tokio::test]
async fn rebuild_and_status_operate_the_projections_from_the_command_line() {
    let db = testkit::TestDatabase::create().await;
    let url = db.url();
    let status = run_switchboard(&url, &["projections", "status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(text.lines().any(|l| l.starts_with("rooms") && l.contains("not built")), "{text}");

    let rebuilt = run_switchboard(&url, &["rebuild", "rooms", "quotes"]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    let text = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(text.contains("rooms: generation 1 is live") && text.contains("quotes: generation 1 is live"), "{text}");
    let again = run_switchboard(&url, &["rebuild", "rooms"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("rooms: generation 2 is live"));

    let status = run_switchboard(&url, &["projections", "status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.lines().any(|l| l.starts_with("rooms") && l.contains(" 2 live")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("users") && l.contains("not built")), "{text}");

    let unknown = run_switchboard(&url, &["rebuild", "nosuch"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no projection is called \"nosuch\""),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[tokio::test]
async fn migrate_uses_the_configured_database_and_is_idempotent() {
    let db = testkit::TestDatabase::create().await;
    let url = db.url();
    let empty = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("migrate")
            .current_dir(empty.path())
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let client = db.client().await;
    let applied: i64 = client.query_one("SELECT count(*) FROM refinery_schema_history", &[]).await.unwrap().get(0);
    assert!(applied >= 1);
    assert!(!Path::new(&empty.path().join("data")).exists(), "a configured database never starts the embedded one");
}

#[test]
fn a_missing_settings_file_is_a_clear_error() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_switchboard")).args(["--config", "/nonexistent/switchboard.toml", "migrate"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/switchboard.toml") && stderr.contains("does not exist"), "{stderr}");
}

#[tokio::test]
async fn a_start_up_error_names_what_failed_and_its_cause() {
    let db = testkit::TestDatabase::create().await;
    let url = db.url();
    let empty = tempfile::tempdir().unwrap();
    // A file where the mail directory should be: the file transport cannot create it.
    let blocker = empty.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .current_dir(empty.path())
        .env("DATABASE_URL", &url)
        .env("SWITCHBOARD_SERVER__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("SWITCHBOARD_API__MAIL__TRANSPORT", "file")
        .env("SWITCHBOARD_API__MAIL__DIR", blocker.join("mail"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("setting up the API"), "{stderr}");
    assert!(stderr.contains("cannot create the mail directory") && stderr.contains("not-a-directory/mail"), "{stderr}");
    assert!(stderr.contains("Not a directory"), "the operating system's reason is shown: {stderr}");
}
