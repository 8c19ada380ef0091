//! TLS to PostgreSQL as an operator sets it up: `sslmode` in `DATABASE_URL` and
//! `database.ssl_root_cert`, against a real server started with `ssl=on` and a certificate made
//! here (a root of our own, the server's certificate naming `localhost` only). What is checked
//! is what the server reports (`pg_stat_ssl`) for every connection the application opens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use switchboard::app::{Application, Parts};
use switchboard::database::Database;
use switchboard::settings::Settings;

fn lib_sh(command: &str) -> std::process::Output {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib.sh");
    Command::new("bash").arg("-c").arg(format!("source {} && {command}", scripts.display())).output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A root certificate (PEM) and its issuer, for signing.
fn root(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    (certificate.pem(), Issuer::new(params, key))
}

/// A PostgreSQL cluster of this test's own that speaks TLS.
struct TlsCluster {
    dir: PathBuf,
    port: u16,
    /// The root the server's certificate chains to, and one it does not.
    right_root: PathBuf,
    wrong_root: PathBuf,
    _files: tempfile::TempDir,
}

impl TlsCluster {
    fn start() -> Self {
        let files = tempfile::tempdir().unwrap();
        let (right, issuer) = root("switchboard test root");
        let (wrong, _) = root("some other root");
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
        std::fs::write(files.path().join("server.crt"), server.pem()).unwrap();
        std::fs::write(files.path().join("server.key"), server_key.serialize_pem()).unwrap();
        let (right_root, wrong_root) = (files.path().join("root.pem"), files.path().join("other-root.pem"));
        std::fs::write(&right_root, right).unwrap();
        std::fs::write(&wrong_root, wrong).unwrap();
        let dir = tempfile::Builder::new().prefix("pg-tls").tempdir().unwrap().keep();
        let port = free_port();
        let out = lib_sh(&format!("ensure_postgres && start_test_postgres {} {port} {}", dir.display(), files.path().display()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Self { dir, port, right_root, wrong_root, _files: files }
    }

    /// An administrator's connection without TLS (it must not count among the application's).
    async fn admin(&self) -> tokio_postgres::Client {
        let url = format!("postgres://switchboard@127.0.0.1:{}/postgres?sslmode=disable", self.port);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let _ = lib_sh(&format!("stop_test_postgres {}", self.dir.display()));
    }
}

/// Settings as the environment gives them: `DATABASE_URL` and `SWITCHBOARD_DATABASE__SSL_ROOT_CERT`.
fn settings(url: String, root_cert: Option<&Path>) -> Settings {
    let mut env = vec![("DATABASE_URL".to_owned(), url), ("SWITCHBOARD_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned())];
    if let Some(root) = root_cert {
        env.push(("SWITCHBOARD_DATABASE__SSL_ROOT_CERT".to_owned(), root.display().to_string()));
    }
    Settings::load_from(None, env).unwrap()
}

/// Builds the application as `serve` does (the URL and settings through `Database::open`).
async fn build(settings: &Settings) -> anyhow::Result<Application> {
    let database = Database::open(settings).await?;
    Application::build_parts(settings, database.config.clone(), Parts::API_ONLY).await
}

/// Every backend the application opened, encrypted or not, once the store's pool, its listener
/// and the projections' own connections are all up.
async fn application_connections(admin: &tokio_postgres::Client, application: &str) -> Vec<bool> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = admin
            .query("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1", &[&application])
            .await
            .unwrap();
        // Pool, NOTIFY listener and one connection per projection: more than a handful.
        if rows.len() >= 5 || Instant::now() > deadline {
            return rows.iter().map(|r| r.get(0)).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn expect_encrypted(cluster: &TlsCluster, settings: &Settings, application: &str) {
    let app = build(settings).await.unwrap_or_else(|e| panic!("{application}: {e:#}"));
    let connections = application_connections(&cluster.admin().await, application).await;
    assert!(connections.len() >= 5, "{application}: only {} connections seen", connections.len());
    assert!(connections.iter().all(|&ssl| ssl), "{application}: not every connection is encrypted: {connections:?}");
    drop(app);
}

async fn expect_refused(settings: &Settings, what: &str, because: &str) {
    let error = match build(settings).await {
        Ok(_) => panic!("{what}: connected"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains(because), "{what}: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_decides_what_is_encrypted_and_which_certificates_are_trusted() {
    let cluster = TlsCluster::start();
    let url = |host: &str, query: &str| format!("postgres://switchboard@{host}:{}/postgres?{query}", cluster.port);

    // require: every connection encrypted; any certificate taken (libpq's meaning).
    expect_encrypted(&cluster, &settings(url("127.0.0.1", "sslmode=require&application_name=sb_require"), None), "sb_require").await;

    // verify-full with the root the server's certificate chains to, by the name it carries.
    let right = settings(url("localhost", "sslmode=verify-full&application_name=sb_full"), Some(&cluster.right_root));
    expect_encrypted(&cluster, &right, "sb_full").await;
    // The same root given in the URL instead of the setting.
    let in_url = format!("sslmode=verify-full&sslrootcert={}&application_name=sb_url_root", cluster.right_root.display());
    expect_encrypted(&cluster, &settings(url("localhost", &in_url), None), "sb_url_root").await;

    // verify-full with a root that did not sign it, or without any (the Mozilla roots).
    let wrong = settings(url("localhost", "sslmode=verify-full&application_name=sb_wrong"), Some(&cluster.wrong_root));
    expect_refused(&wrong, "a wrong root", "invalid peer certificate: UnknownIssuer").await;
    expect_refused(&settings(url("localhost", "sslmode=verify-full"), None), "no root", "invalid peer certificate: UnknownIssuer").await;

    // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca (the
    // chain only) accepts, and so does require with a root given (libpq's verify-ca).
    let by_address = settings(url("127.0.0.1", "sslmode=verify-full"), Some(&cluster.right_root));
    expect_refused(&by_address, "another name", "certificate not valid for name").await;
    let chain_only = settings(url("127.0.0.1", "sslmode=verify-ca&application_name=sb_ca"), Some(&cluster.right_root));
    expect_encrypted(&cluster, &chain_only, "sb_ca").await;
    let require_with_root = settings(url("127.0.0.1", "sslmode=require&application_name=sb_require_root"), Some(&cluster.wrong_root));
    expect_refused(&require_with_root, "require with a wrong root", "invalid peer certificate: UnknownIssuer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_is_refused_when_tls_is_required_and_used_plainly_otherwise() {
    // The shared test server runs without TLS.
    let db = testkit::TestDatabase::create().await;
    let plain = db.url();
    expect_refused(&settings(format!("{plain}?sslmode=require"), None), "require", "server does not support TLS").await;
    expect_refused(&settings(format!("{plain}?sslmode=verify-full"), None), "verify-full", "server does not support TLS").await;
    let app = build(&settings(format!("{plain}?sslmode=prefer"), None)).await.unwrap_or_else(|e| panic!("prefer: {e:#}"));
    drop(app);
}
