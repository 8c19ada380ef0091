//! One typed settings tree: defaults, then `switchboard.toml` (or `--config`), then
//! `SWITCHBOARD_*` environment variables (`SWITCHBOARD_SERVER__LISTEN=…`; `__` separates
//! levels), then the conventional `DATABASE_URL`. `switchboard.example.toml` explains each key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A value that must never reach a log line (database URLs carry passwords).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub projections: ProjectionSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub api: api::ApiSettings,
    #[serde(default)]
    pub twilio: TwilioSettings,
    #[serde(default)]
    pub irc: IrcConfig,
}

/// The IRC bot. It connects when `server` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IrcConfig {
    pub server: Option<String>,
    pub port: u16,
    pub tls: bool,
    /// Server password (`PASS`).
    pub password: Option<Secret>,
    /// SASL PLAIN credentials (both or neither).
    pub sasl_account: Option<String>,
    pub sasl_password: Option<Secret>,
    /// SASL PLAIN sends the password as it is: without `tls` it is refused at start-up unless
    /// this says the network between here and the server is trusted.
    pub sasl_without_tls: bool,
    pub nick: String,
    /// Tried when the nick is taken; `<nick>_`, `<nick>__` when empty.
    pub alt_nicks: Vec<String>,
    /// What starts a bot command.
    pub prefix: String,
    /// Sessions end after this many minutes without a word from the person.
    pub idle_timeout_minutes: u64,
    /// Outgoing flood control: at most this many lines per `burst_window_seconds`.
    pub burst_messages: u32,
    pub burst_window_seconds: u64,
    /// A channel bound to a room of the same name at start (created when missing); `scripts/run`
    /// sets `#switchboard` on its local IRC server.
    pub demo_channel: Option<String>,
    /// Commands (and people's topic and mode changes) waiting for the bot at most; beyond, a
    /// command is answered "too busy" and not taken.
    pub control_queue: usize,
}

impl Default for IrcConfig {
    fn default() -> Self {
        Self {
            server: None,
            port: 6667,
            tls: false,
            password: None,
            sasl_account: None,
            sasl_password: None,
            sasl_without_tls: false,
            nick: "switchboard".into(),
            alt_nicks: Vec::new(),
            prefix: ".".into(),
            idle_timeout_minutes: 12 * 60,
            burst_messages: 15,
            burst_window_seconds: 8,
            demo_channel: None,
            control_queue: gateways::irc::settings::IrcSettings::default().control_queue,
        }
    }
}

impl Settings {
    /// What the web pages tell people about this installation.
    pub fn web_site(&self) -> web::Site {
        web::Site { irc_server: self.irc.server.clone(), irc_port: self.irc.port, irc_tls: self.irc.tls, bot_nick: self.irc.nick.clone() }
    }
}

impl IrcConfig {
    /// The gateway's settings, when a server is configured.
    pub fn bot_settings(&self, public_url: &str) -> Result<Option<gateways::irc::settings::IrcSettings>, IrcConfigError> {
        use gateways::irc::settings::Password;
        let Some(server) = self.server.clone() else { return Ok(None) };
        let sasl = self.sasl_account.clone().zip(self.sasl_password.as_ref().map(|p| Password::new(p.expose())));
        if sasl.is_some() && !self.tls && !self.sasl_without_tls {
            return Err(IrcConfigError::SaslWithoutTls);
        }
        Ok(Some(gateways::irc::settings::IrcSettings {
            server,
            port: self.port,
            tls: self.tls,
            server_password: self.password.as_ref().map(|p| Password::new(p.expose())),
            sasl,
            nick: self.nick.clone(),
            alt_nicks: self.alt_nicks.clone(),
            prefix: self.prefix.clone(),
            idle_timeout: Duration::from_secs(self.idle_timeout_minutes.max(1) * 60),
            public_url: public_url.to_owned(),
            burst_messages: self.burst_messages.max(1),
            burst_window: Duration::from_secs(self.burst_window_seconds.max(1)),
            control_queue: self.control_queue.max(1),
            ..Default::default()
        }))
    }
}

/// IRC settings that must not be used as they are.
#[derive(Debug, thiserror::Error)]
pub enum IrcConfigError {
    #[error(
        "irc.sasl_password is set but irc.tls is off: SASL PLAIN would send the password unencrypted; \
         turn on irc.tls, or set irc.sasl_without_tls = true if the network to the IRC server is trusted"
    )]
    SaslWithoutTls,
}

/// Outbound SMS through Twilio's REST API. Sending starts when `account_sid` and
/// `api.twilio_auth_token` are both set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    pub account_sid: Option<String>,
    /// Twilio's API; tests and staging point it elsewhere.
    pub base_url: String,
    /// Messages per second per sender number (a long code sends about 1/s); 0: no limit.
    pub messages_per_second: f64,
    /// Deliveries sent at once.
    pub concurrency: usize,
    /// How long one request to Twilio may take (seconds) before it counts as failed and is
    /// retried with the same idempotency token.
    pub request_timeout_secs: u64,
    /// Invitations (`#invite`) one member may send from one room in 24 hours; 0: no limit.
    pub invites_per_member_per_day: u32,
    /// Texts one member may have resent (`#resend`) from one room in an hour; 0: no limit.
    pub resent_texts_per_member_per_hour: u32,
    /// Lines one IRC guest (no account) may have texted to one room's phones in an hour; 0: no
    /// limit.
    pub guest_lines_per_hour: u32,
    /// The Twilio number (E.164) that texts phone verification codes from the web profile
    /// (unset: phone numbers cannot be verified on the web).
    pub verification_number: Option<String>,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        Self {
            account_sid: None,
            base_url: "https://api.twilio.com".into(),
            messages_per_second: 1.0,
            concurrency: 32,
            request_timeout_secs: 10,
            invites_per_member_per_day: gateways::sms::limits::CostLimits::default().invites_per_day,
            resent_texts_per_member_per_hour: gateways::sms::limits::CostLimits::default().resent_texts_per_hour,
            guest_lines_per_hour: gateways::sms::limits::CostLimits::default().guest_lines_per_hour,
            verification_number: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// On shutdown, how long the parts (open HTTP requests, the IRC goodbye, followers) get to
    /// finish (seconds) before they are abandoned.
    pub shutdown_timeout_secs: u64,
    /// A log follower that failed (a lost database connection) is restarted from its checkpoint
    /// after this pause (milliseconds).
    pub restart_delay_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".parse().expect("valid address"), shutdown_timeout_secs: 10, restart_delay_ms: 2_000 }
    }
}

/// How this process runs the projections (read models).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectionSettings {
    /// Most events applied in one transaction.
    pub batch_size: usize,
    /// How often a runner checks for new events when no wake-up arrives (milliseconds).
    pub poll_interval_ms: u64,
    /// How often a standby runner asks whether the active one (in another process) has gone
    /// (milliseconds).
    pub standby_retry_ms: u64,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        let defaults = projections::RunnerOptions::default();
        Self {
            batch_size: defaults.batch_size,
            poll_interval_ms: defaults.poll_interval.as_millis() as u64,
            standby_retry_ms: defaults.standby_retry.as_millis() as u64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// PostgreSQL URL. Unset: the embedded private cluster under `data_dir`. Its `sslmode`
    /// (disable, prefer, require, verify-ca, verify-full) says how connections are encrypted.
    pub url: Option<Secret>,
    /// A PEM file of the root certificate(s) the server's certificate must chain to (`require`,
    /// `verify-ca`, `verify-full`). Unset: the URL's `sslrootcert`, else the Mozilla roots.
    pub ssl_root_cert: Option<PathBuf>,
    /// Where the embedded cluster (and other local state) lives.
    pub data_dir: PathBuf,
    /// Connections in the pool.
    pub pool_size: usize,
    /// The longest a request waits for a free pooled connection (milliseconds).
    pub pool_wait_timeout_ms: u64,
    /// The longest opening a connection may take (milliseconds).
    pub connect_timeout_ms: u64,
    /// PostgreSQL cancels a statement of the pool's connections that runs longer (milliseconds;
    /// 0: the server's own setting).
    pub statement_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let defaults = store::PgStoreOptions::default();
        Self {
            url: None,
            ssl_root_cert: None,
            data_dir: PathBuf::from("data"),
            pool_size: defaults.pool_size,
            pool_wait_timeout_ms: defaults.pool_wait_timeout.as_millis() as u64,
            connect_timeout_ms: defaults.connect_timeout.as_millis() as u64,
            statement_timeout_ms: defaults.statement_timeout.map_or(0, |t| t.as_millis() as u64),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Where the log lives: PostgreSQL (the database's own `es_events`) or KurrentDB (read
    /// models stay in PostgreSQL either way).
    pub backend: store::Backend,
    /// The KurrentDB backend's settings (`backend = "kurrentdb"`).
    pub kurrentdb: KurrentDbSettings,
    /// Concurrent group-commit transactions.
    pub committers: usize,
    /// Most events in one group-commit transaction.
    pub max_group_events: usize,
    /// Subscribers poll this often when no NOTIFY wakes them (milliseconds).
    pub poll_interval_ms: u64,
    /// Appends waiting for a committer at most; more are refused at once (a database that hangs).
    pub max_queued_appends: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        let defaults = store::PgStoreOptions::default();
        Self {
            backend: store::Backend::Postgres,
            kurrentdb: KurrentDbSettings::default(),
            committers: defaults.committers,
            max_group_events: defaults.max_group_events,
            poll_interval_ms: defaults.poll_interval.as_millis() as u64,
            max_queued_appends: defaults.max_queued_appends,
        }
    }
}

/// `[store.kurrentdb]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KurrentDbSettings {
    /// The client's connection string (it may carry a user and password): one node
    /// `kurrentdb://host:2113?tls=false`, a cluster `kurrentdb+discover://host1:2113,host2:2113`,
    /// TLS settings as the client documents them (`tls=true&tlsCaFile=…`).
    pub url: Option<Secret>,
    /// The longest one call to KurrentDB may take (milliseconds).
    pub deadline_ms: u64,
    /// Events per page when reading `$all`.
    pub page: usize,
}

impl Default for KurrentDbSettings {
    fn default() -> Self {
        Self { url: None, deadline_ms: 10_000, page: 1_000 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info,store=debug`. `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, filter: "info".into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid settings: {0}")]
    Invalid(#[from] config::ConfigError),
}

impl Settings {
    /// Loads the layers. `file`: an explicit path (must exist); otherwise `switchboard.toml` in
    /// the working directory if present.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`load`](Self::load), with the environment given (testable).
    pub fn load_from(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder();
        match file {
            Some(path) if !path.exists() => return Err(SettingsError::MissingFile(path.to_owned())),
            Some(path) => builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml)),
            None => {
                builder = builder.add_source(config::File::with_name("switchboard.toml").format(config::FileFormat::Toml).required(false))
            }
        }
        // Every setting sits in a section, so its variable has the `__` separator; other
        // SWITCHBOARD_* variables (the test harness's, say) are not settings.
        let mut database_url = None;
        let mut settings_env = std::collections::HashMap::new();
        for (key, value) in env {
            if key == "DATABASE_URL" {
                database_url = Some(value);
            } else if key.starts_with("SWITCHBOARD_") && key.contains("__") {
                settings_env.insert(key, value);
            }
        }
        let environment = config::Environment::with_prefix("SWITCHBOARD").prefix_separator("_").separator("__").source(Some(settings_env));
        builder = builder.add_source(environment);
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if settings.database.url.is_none() {
            settings.database.url = database_url.filter(|u| !u.is_empty()).map(Secret);
        }
        Ok(settings)
    }

    pub fn runner_options(&self) -> projections::RunnerOptions {
        projections::RunnerOptions {
            batch_size: self.projections.batch_size.max(1),
            poll_interval: Duration::from_millis(self.projections.poll_interval_ms.max(1)),
            standby_retry: Duration::from_millis(self.projections.standby_retry_ms.max(1)),
        }
    }

    /// What texts phone verification codes, when `twilio.verification_number` is set (and the
    /// Twilio client is configured: an error otherwise, rather than a page that cannot work).
    pub fn phone_code_texter(&self) -> anyhow::Result<Option<api::accounts::CodeTexter>> {
        let Some(number) = &self.twilio.verification_number else { return Ok(None) };
        let from = domain::PhoneNumber::parse(number.trim()).map_err(|e| anyhow::anyhow!("twilio.verification_number {number:?}: {e}"))?;
        let twilio = self
            .twilio_client()
            .ok_or_else(|| anyhow::anyhow!("twilio.verification_number needs twilio.account_sid and api.twilio_auth_token"))??;
        Ok(Some(api::accounts::CodeTexter { twilio, from }))
    }

    /// The Twilio REST client, when outbound SMS is configured (`twilio.account_sid` and
    /// `api.twilio_auth_token` both set).
    pub fn twilio_client(&self) -> Option<Result<gateways::sms::twilio::TwilioClient, gateways::sms::twilio::TwilioError>> {
        let (account_sid, token) = (self.twilio.account_sid.as_ref()?, self.api.twilio_auth_token.as_ref()?);
        Some(gateways::sms::twilio::TwilioClient::new(gateways::sms::twilio::TwilioConfig {
            base_url: self.twilio.base_url.clone(),
            account_sid: account_sid.clone(),
            auth_token: token.expose().to_owned(),
            status_callback: Some(format!("{}/sms/twilio/status", self.api.public_url.trim_end_matches('/'))),
            timeout: Duration::from_secs(self.twilio.request_timeout_secs.max(1)),
        }))
    }

    /// What one member may make Switchboard text (docs/commands.md#sms-invite, #sms-resend).
    pub fn cost_limits(&self) -> gateways::sms::limits::CostLimits {
        gateways::sms::limits::CostLimits {
            invites_per_day: self.twilio.invites_per_member_per_day,
            resent_texts_per_hour: self.twilio.resent_texts_per_member_per_hour,
            guest_lines_per_hour: self.twilio.guest_lines_per_hour,
        }
    }

    pub fn outbound_options(&self) -> gateways::sms::outbound::OutboundOptions {
        gateways::sms::outbound::OutboundOptions {
            concurrency: self.twilio.concurrency.max(1),
            per_number_per_second: Some(self.twilio.messages_per_second).filter(|r| *r > 0.0),
            ..Default::default()
        }
    }

    pub fn store_options(&self) -> store::PgStoreOptions {
        store::PgStoreOptions {
            pool_size: self.database.pool_size,
            committers: self.store.committers,
            max_group_events: self.store.max_group_events,
            poll_interval: Duration::from_millis(self.store.poll_interval_ms),
            pool_wait_timeout: Duration::from_millis(self.database.pool_wait_timeout_ms.max(1)),
            connect_timeout: Duration::from_millis(self.database.connect_timeout_ms.max(1)),
            statement_timeout: (self.database.statement_timeout_ms > 0).then(|| Duration::from_millis(self.database.statement_timeout_ms)),
            max_queued_appends: self.store.max_queued_appends,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_use_the_embedded_database() {
        let s = Settings::load_from(Some(Path::new("switchboard.example.toml")), env(&[])).unwrap();
        assert!(s.database.url.is_none());
        assert_eq!(s.server.listen.port(), 8080);
    }

    #[test]
    fn the_example_file_states_the_defaults_of_the_timeouts_and_runner_options() {
        let example = Settings::load_from(Some(Path::new("switchboard.example.toml")), env(&[])).unwrap();
        let defaults = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(example.server.shutdown_timeout_secs, defaults.server.shutdown_timeout_secs);
        assert_eq!(example.server.restart_delay_ms, defaults.server.restart_delay_ms);
        assert_eq!(example.twilio.request_timeout_secs, defaults.twilio.request_timeout_secs);
        assert_eq!(example.runner_options().batch_size, defaults.runner_options().batch_size);
        assert_eq!(example.runner_options().poll_interval, defaults.runner_options().poll_interval);
        assert_eq!(example.runner_options().standby_retry, defaults.runner_options().standby_retry);
        let overridden = Settings::load_from(None, env(&[("SWITCHBOARD_TWILIO__REQUEST_TIMEOUT_SECS", "3")])).unwrap();
        assert_eq!(overridden.twilio.request_timeout_secs, 3, "the Twilio timeout comes from the settings");
    }

    #[test]
    fn environment_variables_override_the_file_and_database_url_is_honoured() {
        let s = Settings::load_from(
            Some(Path::new("switchboard.example.toml")),
            env(&[("SWITCHBOARD_SERVER__LISTEN", "127.0.0.1:9999"), ("DATABASE_URL", "postgres://u:pw@localhost/db")]),
        )
        .unwrap();
        assert_eq!(s.server.listen.port(), 9999);
        assert_eq!(s.database.url.as_ref().unwrap().expose(), "postgres://u:pw@localhost/db");
        assert!(!format!("{s:?}").contains("pw"), "secrets never appear in debug output");
    }

    #[test]
    fn unknown_keys_and_missing_files_are_refused_clearly() {
        assert!(matches!(Settings::load_from(Some(Path::new("nope.toml")), env(&[])), Err(SettingsError::MissingFile(_))));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[server]\nlisten_on = \"x\"\n").unwrap();
        assert!(matches!(Settings::load_from(Some(&file), env(&[])), Err(SettingsError::Invalid(_))));
    }
}
