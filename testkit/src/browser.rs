//! A real headless Chromium driven over WebDriver, for the web app's tests. [`Browser::start`]
//! runs Debian's `chromedriver` on a free loopback port (its own process group, so a failed test
//! leaves no browser behind) and opens a session with a fresh profile and the flags that keep
//! Chromium quiet and offline: no sandbox (tests run as root in containers), no GPU, no QUIC, no
//! first-run, background networking, component updates or sync.
//!
//! `scripts/lib.sh` (`ensure_chromium`) installs `chromium` and `chromium-driver` when missing;
//! `SWITCHBOARD_CHROMEDRIVER` and `SWITCHBOARD_CHROMIUM` point elsewhere.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

/// The Debian packages that provide the browser and its driver.
pub const PACKAGES: &str = "chromium chromium-driver";
pub const CHROMEDRIVER_ENV: &str = "SWITCHBOARD_CHROMEDRIVER";
pub const CHROMIUM_ENV: &str = "SWITCHBOARD_CHROMIUM";

/// How long chromedriver may take to answer its first request.
const DRIVER_START: Duration = Duration::from_secs(20);

pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn chromedriver() -> PathBuf {
    std::env::var_os(CHROMEDRIVER_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("chromedriver"))
}

/// Debian's `/usr/bin/chromium` is a shell wrapper; the binary behind it starts faster and
/// takes the flags as given.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(CHROMIUM_ENV) {
        return Some(PathBuf::from(path));
    }
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].iter().map(PathBuf::from).find(|p| p.exists())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Panics with what to install when
    /// either is missing.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port();
        let mut command = Command::new(chromedriver());
        command.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1").stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
        command.process_group(0);
        let driver = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run chromedriver ({e}); install Debian's {PACKAGES} (scripts/lib.sh ensure_chromium) or set {CHROMEDRIVER_ENV}")
        });
        let profile = tempfile::tempdir().expect("a temporary browser profile");
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if let Some(binary) = chromium() {
            options["binary"] = json!(binary.display().to_string());
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + DRIVER_START;
        let client = loop {
            match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => break client,
                // Not listening yet.
                Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("chromedriver on {url} did not start a Chromium session: {e}"),
            }
        };
        Self { client: Some(client), driver, _profile: profile }
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser session is open")
    }

    /// Ends the session (Chromium exits) and the driver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        self.kill_group();
    }

    fn kill_group(&mut self) {
        // The driver and every browser process it started share its process group, whose id is
        // the driver's pid. Signalled directly, not through kill(1): procps' `kill -KILL -<pid>`
        // reads the group as an option and signals every process the user may signal (-1).
        let Some(group) = self.driver.id().and_then(|pid| libc::pid_t::try_from(pid).ok()).filter(|&pid| pid > 1) else { return };
        // SAFETY: kill(2) takes plain integers; a negative pid below -1 names exactly one group.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill_group();
    }
}
