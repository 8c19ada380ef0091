//! Running Switchboard as an operator does: `scripts/run` (stopped with SIGTERM), and what
//! `switchboard serve` writes to its log (no one-time links, no passwords) or refuses to start
//! with. Each test runs the real binary against a fresh database on the test PostgreSQL.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::TestDatabase;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http(port: u16, request: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()))
}

fn post_graphql(port: u16, query: &str) -> (u16, String) {
    let body = serde_json::json!({ "query": query }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(port, &request).expect("an answer from /graphql")
}

fn wait_until_healthy(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while http(port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_none_or(|(s, _)| s != 200) {
        assert!(child.try_wait().unwrap().is_none(), "exited before answering");
        assert!(Instant::now() < deadline, "no answer on /healthz");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for `child` to exit (at most `limit`) and returns what it wrote to stderr.
fn finish(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {limit:?} later");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stderr)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

const SIGN_UP: &str = "mutation { signUp(input: {username: \"ada\", email: \"ada@example.org\", password: \"correct horse battery\"}) { userId verificationSent } }";

#[tokio::test]
async fn scripts_run_stopped_with_sigterm_stops_switchboard_and_prints_links_for_development() {
    let db = TestDatabase::create().await;
    // The script from a copy, so its demo IRC server's files go to a temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    for script in ["run", "lib.sh"] {
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script), scripts.join(script)).unwrap();
    }
    let port = free_port();
    let mut child = Command::new("bash")
        .arg(scripts.join("run"))
        .current_dir(dir.path())
        .env("SWITCHBOARD_BIN", env!("CARGO_BIN_EXE_switchboard"))
        .env("DATABASE_URL", db.url())
        .env("SWITCHBOARD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("SWITCHBOARD_API__MAIL__TRANSPORT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_healthy(port, &mut child);
    let (status, body) = post_graphql(port, SIGN_UP);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"verificationSent\":true"), "{body}");

    sigterm(&child);
    let (status, stderr) = finish(child, Duration::from_secs(30));
    assert!(status.success() || status.code().is_some(), "{status:?}\n{stderr}");
    // Switchboard itself stopped: nothing listens on its port any more.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "Switchboard still answers after SIGTERM to scripts/run\n{stderr}");
    // The development transport `scripts/run` opts into shows the link.
    assert!(stderr.contains("print transport") && stderr.contains("verifyEmail(token:"), "{stderr}");
}

fn serve(db: &TestDatabase, port: u16, env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("SWITCHBOARD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .env_remove("SWITCHBOARD_API__MAIL__TRANSPORT")
        .env_remove("SWITCHBOARD_IRC__SERVER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

#[tokio::test]
async fn the_default_mail_transport_logs_who_was_mailed_but_not_the_link() {
    let db = TestDatabase::create().await;
    let port = free_port();
    let mut child = serve(&db, port, &[]);
    wait_until_healthy(port, &mut child);
    let (status, body) = post_graphql(port, SIGN_UP);
    assert_eq!(status, 200, "{body}");
    sigterm(&child);
    let (_, log) = finish(child, Duration::from_secs(30));
    assert!(log.contains("email not sent") && log.contains("ada@example.org"), "{log}");
    assert!(!log.contains("verifyEmail(token:"), "a one-time link in the log:\n{log}");
}

#[tokio::test]
async fn sasl_plain_without_tls_is_refused_at_start_up_without_showing_the_password() {
    let db = TestDatabase::create().await;
    let port = free_port();
    let insecure = [
        ("SWITCHBOARD_IRC__SERVER", "127.0.0.1"),
        ("SWITCHBOARD_IRC__SASL_ACCOUNT", "switchboard"),
        ("SWITCHBOARD_IRC__SASL_PASSWORD", "sasl-hunter2"),
    ];
    let child = serve(&db, port, &insecure);
    let (status, stderr) = finish(child, Duration::from_secs(60));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("irc.tls is off") && stderr.contains("irc.sasl_without_tls"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
