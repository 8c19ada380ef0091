//! How the bot connects and behaves; filled from the binary's settings tree (library crates
//! never read the environment).

use std::time::Duration;

/// The IRC bot's configuration.
#[derive(Debug, Clone)]
pub struct IrcSettings {
    pub server: String,
    pub port: u16,
    pub tls: bool,
    /// Server password (`PASS`), if the network wants one.
    pub server_password: Option<String>,
    /// SASL PLAIN account and password, if the network wants them.
    pub sasl: Option<(String, String)>,
    pub nick: String,
    /// Tried in order when the nick is taken (433); `<nick>_`, `<nick>__` when empty.
    pub alt_nicks: Vec<String>,
    /// What starts a command (`.` by default).
    pub prefix: String,
    /// Sessions end after this long without anything from the person.
    pub idle_timeout: Duration,
    /// Where people sign up (said by `.meet`).
    pub public_url: String,
    /// Outgoing flood control: at most `burst_messages` lines per `burst_window`.
    pub burst_messages: u32,
    pub burst_window: Duration,
    /// Reconnect backoff bounds (exponential with jitter in between).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl Default for IrcSettings {
    fn default() -> Self {
        Self {
            server: "127.0.0.1".into(),
            port: 6667,
            tls: false,
            server_password: None,
            sasl: None,
            nick: "switchboard".into(),
            alt_nicks: Vec::new(),
            prefix: ".".into(),
            idle_timeout: Duration::from_secs(12 * 3600),
            public_url: "http://127.0.0.1:8080".into(),
            burst_messages: 15,
            burst_window: Duration::from_secs(8),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(120),
        }
    }
}

impl IrcSettings {
    pub fn alt_nicks(&self) -> Vec<String> {
        if self.alt_nicks.is_empty() { vec![format!("{}_", self.nick), format!("{}__", self.nick)] } else { self.alt_nicks.clone() }
    }

    /// The version string of `.version` and CTCP VERSION.
    pub fn version() -> String {
        format!("Switchboard {} (event-sourced chat; IRC and SMS)", env!("CARGO_PKG_VERSION"))
    }
}
