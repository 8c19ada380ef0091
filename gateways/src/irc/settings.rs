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
    pub server_password: Option<Password>,
    /// SASL PLAIN account and password, if the network wants them. The binary refuses them
    /// without TLS unless told the network is trusted (`irc.sasl_without_tls`).
    pub sasl: Option<(String, Password)>,
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
    /// Commands, leaked tokens and people's topic and mode changes waiting for the control task
    /// at most; beyond, a command is answered "busy" instead of queued without bound.
    pub control_queue: usize,
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
            control_queue: 1_000,
        }
    }
}

/// An IRC password (server or SASL): its Debug form hides it, so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_server_and_sasl_passwords() {
        let settings = IrcSettings {
            server_password: Some(Password::new("server-hunter2")),
            sasl: Some(("bot".into(), Password::new("sasl-hunter2"))),
            ..IrcSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Password(***)"), "{shown}");
    }
}
