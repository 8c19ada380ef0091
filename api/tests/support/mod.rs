//! The API test harness: a fresh database and the application as `switchboard serve` wires it
//! (`switchboard::Application`: the projections running, the API served on a loopback port over
//! real HTTP), verification emails written to a temporary directory. The gateways' parts are
//! left to the tests that drive them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api::{ApiSettings, App};
use projections::Runners;
use serde_json::{Value, json};
use store::AnyEventStore;
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;
use tempfile::TempDir;
use testkit::TestDatabase;

pub struct TestApp {
    pub db: TestDatabase,
    pub store: AnyEventStore,
    /// The log's server under `SWITCHBOARD_TEST_BACKEND=kurrentdb`.
    pub kurrent: Option<testkit::kurrentdb::KurrentStandIn>,
    pub app: Arc<App>,
    pub runners: Arc<Runners>,
    pub address: SocketAddr,
    pub http: reqwest::Client,
    pub mail_dir: TempDir,
    settings: Settings,
    parts: Parts,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub nick: String,
    pub token: String,
}

pub const PASSWORD: &str = "a long enough password";

/// One start of the application.
struct Started {
    store: AnyEventStore,
    app: Arc<App>,
    runners: Arc<Runners>,
    address: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<Result<(), String>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut ApiSettings)) -> Self {
        Self::spawn_parts(Parts::API_ONLY, |settings| adjust(&mut settings.api)).await
    }

    /// The application with `parts` running (`Parts::ALL` is `switchboard serve`), on settings
    /// the test adjusts (the IRC server, Twilio's URL …).
    pub async fn spawn_parts(parts: Parts, adjust: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDatabase::create().await;
        let mail_dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.server.listen = "127.0.0.1:0".parse().unwrap();
        settings.api = ApiSettings { mail: api::mail::MailSettings::File { dir: mail_dir.path().to_owned() }, ..Default::default() };
        let kurrent = match testkit::kurrentdb::test_backend() {
            store::Backend::Postgres => None,
            store::Backend::KurrentDb => {
                let (stand_in, url) = testkit::kurrentdb::KurrentStandIn::for_test().await;
                settings.store.backend = store::Backend::KurrentDb;
                settings.store.kurrentdb.url = Some(switchboard::settings::Secret::new(url));
                Some(stand_in)
            }
        };
        // Tests wait on the read models often: check for new events and for a gone active runner
        // more often than a server needs to.
        settings.projections.poll_interval_ms = 50;
        settings.projections.standby_retry_ms = 200;
        adjust(&mut settings);
        let started = start(&settings, &db, parts).await;
        let test_app = Self {
            db,
            store: started.store,
            kurrent,
            app: started.app,
            runners: started.runners,
            address: started.address,
            http: reqwest::Client::new(),
            mail_dir,
            settings,
            parts,
            shutdown: Some(started.shutdown),
            running: Some(started.running),
        };
        test_app.wait_until_ready().await;
        test_app
    }

    /// Stops the application the way SIGTERM does (`Application::run_until`'s signal) and
    /// waits until every part has stopped.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.expect("the application task").unwrap_or_else(|e| panic!("the application stopped with {e}"));
        }
    }

    /// [`TestApp::stop`], then starts it again on the same database and settings (a new
    /// address: the port is chosen afresh).
    pub async fn restart(&mut self) {
        self.stop().await;
        let started = start(&self.settings, &self.db, self.parts).await;
        (self.store, self.app, self.runners, self.address) = (started.store, started.app, started.runners, started.address);
        (self.shutdown, self.running) = (Some(started.shutdown), Some(started.running));
        self.wait_until_ready().await;
    }

    async fn wait_until_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app did not become ready");
    }

    /// Every event of the log, in log order, whichever backend holds it.
    pub async fn log_events(&self) -> Vec<store::RecordedEvent> {
        self.log_events_of(&store::Filter::all()).await
    }

    /// The events of the log `filter` selects, in log order.
    pub async fn log_events_of(&self, filter: &store::Filter) -> Vec<store::RecordedEvent> {
        let mut events = Vec::new();
        let mut after = store::Position::START;
        loop {
            let batch = store::EventStore::read_all(&self.store, after, filter, 1_000).await.unwrap();
            events.extend(batch.events);
            if batch.caught_up {
                return events;
            }
            after = batch.next;
        }
    }

    /// The log as the gateways hold it (behind the backend-neutral trait).
    pub fn log(&self) -> store::SharedStore {
        Arc::new(self.store.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Runs a GraphQL request and returns the whole response (data and errors).
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.unwrap()
    }

    /// Runs a request that must succeed and returns its `data`.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.graphql(token, query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}\nquery: {query}");
        response["data"].clone()
    }

    /// Runs a request that must fail and returns the first error's `extensions.code`.
    pub async fn error_code(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let response = self.graphql(token, query, variables).await;
        let error = &response["errors"][0];
        assert!(!error.is_null(), "expected an error: {response:#}");
        error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("error without a code: {response:#}")).to_owned()
    }

    pub async fn sign_up(&self, username: &str) -> Value {
        self.data(
            None,
            "mutation($u: String!, $e: String!, $p: String!) { signUp(input: {username: $u, email: $e, password: $p}) { userId nick level verificationSent position } }",
            json!({ "u": username, "e": format!("{username}@example.org"), "p": PASSWORD }),
        )
        .await["signUp"]
            .clone()
    }

    pub async fn log_in(&self, username: &str) -> Session {
        let data = self
            .data(
                None,
                "mutation($u: String!, $p: String!) { logIn(username: $u, password: $p) { token userId nick level } }",
                json!({ "u": username, "p": PASSWORD }),
            )
            .await;
        let login = &data["logIn"];
        Session {
            user_id: login["userId"].as_str().unwrap().to_owned(),
            nick: login["nick"].as_str().unwrap().to_owned(),
            token: login["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Signs up, verifies the email address (level 1 unless first) and logs in.
    pub async fn member(&self, username: &str) -> Session {
        self.sign_up(username).await;
        let token = self.verification_token(&format!("{username}@example.org"));
        self.data(None, "mutation($t: String!) { verifyEmail(token: $t) { position } }", json!({ "t": token })).await;
        self.log_in(username).await
    }

    /// Sets a level as the given admin, waiting until the users read model shows it.
    pub async fn set_level(&self, admin: &Session, nick: &str, level: &str) {
        let data = self
            .data(
                Some(&admin.token),
                "mutation($n: String!, $l: Level!) { setLevel(nick: $n, level: $l) { position } }",
                json!({ "n": nick, "l": level }),
            )
            .await;
        self.data(Some(&admin.token), "query($p: Position) { me(waitFor: $p) { id } }", json!({ "p": data["setLevel"]["position"] })).await;
    }

    /// The verification token from the last email sent to `address` (read from lettre's
    /// `.eml` files; quoted-printable soft breaks undone).
    pub fn verification_token(&self, address: &str) -> String {
        let mut newest: Option<(std::time::SystemTime, String)> = None;
        for entry in std::fs::read_dir(self.mail_dir.path()).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            if !text.contains(&format!("To: {address}")) {
                continue;
            }
            let modified = entry.metadata().unwrap().modified().unwrap();
            if newest.as_ref().is_none_or(|(t, _)| modified >= *t) {
                newest = Some((modified, text));
            }
        }
        let text = newest.unwrap_or_else(|| panic!("no email to {address}")).1;
        let unfolded = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
        let start = unfolded.find("token: \"").expect("a token in the email") + "token: \"".len();
        let end = unfolded[start..].find('"').unwrap() + start;
        unfolded[start..end].to_owned()
    }
}

/// `application/x-www-form-urlencoded`, every byte but unreserved ones percent-encoded (as
/// Twilio sends its webhooks).
pub fn form_encode(params: &[(&str, &str)]) -> String {
    let component = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    params.iter().map(|(k, v)| format!("{}={}", component(k), component(v))).collect::<Vec<_>>().join("&")
}

impl TestApp {
    /// Posts `params` to `path` as Twilio would: form-encoded, signed with `auth_token` over
    /// the public URL of `path`. Returns the status and the body.
    pub async fn post_signed(&self, path: &str, auth_token: &str, params: &[(&str, &str)]) -> (u16, String) {
        let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let url = format!("{}{path}", self.app.settings.public_url);
        let signature = gateways::sms::signature::expected_signature(auth_token, &url, &owned);
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(form_encode(params))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Creates a room as `admin` (bound to `channel` and `sms_number` when given) and waits
    /// until the rooms read model lists it (the bot and the webhook find rooms there).
    pub async fn create_room(&self, admin: &Session, name: &str, channel: Option<&str>, sms_number: Option<&str>) -> String {
        let created = self
            .data(
                Some(&admin.token),
                "mutation($name: String!, $c: String, $n: String) { createRoom(input: {name: $name, ircChannel: $c, smsNumber: $n}) { roomId position } }",
                json!({ "name": name, "c": channel, "n": sms_number }),
            )
            .await;
        let position = &created["createRoom"]["position"];
        self.data(Some(&admin.token), "query($p: Position) { rooms(waitFor: $p) { id } }", json!({ "p": position })).await;
        created["createRoom"]["roomId"].as_str().unwrap().to_owned()
    }
}

async fn start(settings: &Settings, db: &TestDatabase, parts: Parts) -> Started {
    let application = Application::build_parts(settings, db.config.clone(), parts).await.unwrap_or_else(|e| panic!("{e:#}"));
    let (store, app, runners, address) =
        (application.store().clone(), application.api().clone(), application.runners().clone(), application.address());
    let (shutdown, rx) = tokio::sync::oneshot::channel();
    let stopped = application.run_until(async move {
        let _ = rx.await;
    });
    let running = tokio::spawn(async move { stopped.await.map_err(|e| format!("{e:#}")) });
    Started { store, app, runners, address, shutdown, running }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
