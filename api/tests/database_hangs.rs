//! A database that hangs rather than refuses: a private PostgreSQL cluster whose processes are
//! frozen with SIGSTOP while the app serves over real HTTP, then resumed with SIGCONT. Requests
//! must fail fast with a clear code, `/readyz` must say why, and nothing answered as done may
//! be lost (nor anything stored twice).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use api::mail::MailSettings;
use serde_json::{Value, json};
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;

const PASSWORD: &str = "a long enough password";

/// A PostgreSQL cluster of this test's own (freezing the shared one would stall other tests).
struct PrivateCluster {
    dir: PathBuf,
    port: u16,
}

fn lib_sh(command: &str) -> std::process::Output {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib.sh");
    Command::new("bash").arg("-c").arg(format!("source {} && {command}", scripts.display())).output().unwrap()
}

impl PrivateCluster {
    fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("pg-hangs").tempdir().unwrap().keep();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = lib_sh(&format!("ensure_postgres && start_test_postgres {} {port}", dir.display()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Self { dir, port }
    }

    fn config(&self) -> tokio_postgres::Config {
        format!("postgres://switchboard@127.0.0.1:{}/postgres", self.port).parse().unwrap()
    }

    /// The postmaster and every process it started (backends, checkpointer, WAL writer …).
    fn processes(&self) -> Vec<String> {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
        let children = Command::new("pgrep").args(["-P", &postmaster]).output().unwrap();
        let mut pids = vec![postmaster];
        pids.extend(String::from_utf8_lossy(&children.stdout).split_whitespace().map(str::to_owned));
        pids
    }

    fn signal(&self, signal: &str) {
        for pid in self.processes() {
            let _ = Command::new("kill").args([signal, &pid]).status();
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = lib_sh(&format!("stop_test_postgres {}", self.dir.display()));
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// The HTTP status and the JSON answer.
    async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/graphql", self.base)).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, answer) = self.graphql(token, query, variables).await;
        assert!(status == 200 && answer.get("errors").is_none(), "{status}: {answer:#}");
        answer["data"].clone()
    }

    async fn readyz(&self) -> (u16, Value) {
        let response = self.http.get(format!("{}/readyz", self.base)).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

const SAY: &str = "mutation($r: UUID!, $t: String!) { sendToRoom(room: $r, text: $t) { position } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_gets_fast_clear_refusals_and_loses_nothing_accepted() {
    let cluster = PrivateCluster::start();
    let mail_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.api.mail = MailSettings::File { dir: mail_dir.path().to_owned() };
    settings.api.request_timeout_secs = 2;
    settings.database.pool_wait_timeout_ms = 500;
    settings.database.connect_timeout_ms = 1_000;
    settings.projections.poll_interval_ms = 50;
    let application =
        Application::build_parts(&settings, cluster.config().into(), Parts::API_ONLY).await.unwrap_or_else(|e| panic!("{e:#}"));
    let client = Client { http: reqwest::Client::new(), base: format!("http://{}", application.address()) };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.readyz().await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    client
        .data(
            None,
            "mutation($p: String!) { signUp(input: {username: \"admin\", email: \"admin@example.org\", password: $p}) { userId } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let token = client
        .data(None, "mutation($p: String!) { logIn(username: \"admin\", password: $p) { token } }", json!({ "p": PASSWORD }))
        .await["logIn"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = Some(token.as_str());
    let created = client.data(token, "mutation { createRoom(input: {name: \"lobby\"}) { roomId position } }", json!({})).await;
    let room = created["createRoom"]["roomId"].as_str().unwrap().to_owned();
    client.data(token, "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": created["createRoom"]["position"] })).await;
    let mut accepted = Vec::new();
    for i in 0..5 {
        let text = format!("before the freeze {i}");
        client.data(token, SAY, json!({ "r": room, "t": text })).await;
        accepted.push(text);
    }

    cluster.signal("-STOP");

    // Every request is answered within the request timeout (2 s) and a little, with a code that
    // says to retry: TIMEOUT (cut off) or UNAVAILABLE (no connection or queue room).
    let started = Instant::now();
    let attempts = (0..20).map(|i| {
        let (client, room) = (&client, &room);
        async move {
            (
                format!("during the freeze {i}"),
                client.graphql(token, SAY, json!({ "r": room, "t": format!("during the freeze {i}") })).await,
            )
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "20 requests took {took:?} on a frozen database");
    for (text, (status, answer)) in &answers {
        let code = answer["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("{text}: {status} {answer:#}"));
        assert!(matches!(code, "TIMEOUT" | "UNAVAILABLE"), "{text}: {status} {answer:#}");
        assert!([200, 503].contains(status), "{text}: {status}");
    }
    let started = Instant::now();
    let (status, ready) = client.readyz().await;
    assert!(started.elapsed() < Duration::from_secs(3), "readyz took {:?}", started.elapsed());
    assert_eq!(status, 503, "{ready:#}");
    assert_ne!(ready["database"], "ok", "{ready:#}");
    assert!(ready["reason"].as_str().is_some_and(|r| r.contains("database")), "{ready:#}");

    cluster.signal("-CONT");

    let deadline = Instant::now() + Duration::from_secs(60);
    while client.readyz().await.0 != 200 {
        assert!(Instant::now() < deadline, "not ready again after the database resumed: {:#}", client.readyz().await.1);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = client.data(token, SAY, json!({ "r": room, "t": "after the freeze" })).await;
    accepted.push("after the freeze".to_owned());
    // The read models catch up after the freeze; on a loaded machine that can take longer than
    // one request's 2 s, which the request answers with TIMEOUT: asked again, as a client would.
    let read_back = "query($r: UUID!, $p: Position) { messages(room: $r, first: 500, waitFor: $p) { edges { node { body } } } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    let messages = loop {
        let (status, answer) = client.graphql(token, read_back, json!({ "r": room, "p": after["sendToRoom"]["position"] })).await;
        if status == 200 && answer.get("errors").is_none() {
            break answer["data"].clone();
        }
        let code = answer["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();
        assert!(code == "TIMEOUT" && Instant::now() < deadline, "{status}: {answer:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let bodies: Vec<&str> = messages["messages"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["body"].as_str().unwrap()).collect();
    for text in &accepted {
        assert_eq!(bodies.iter().filter(|b| *b == text).count(), 1, "{text:?} in {bodies:?}");
    }
    for (text, _) in &answers {
        assert!(bodies.iter().filter(|b| *b == text).count() <= 1, "{text:?} stored twice: {bodies:?}");
    }

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
}
