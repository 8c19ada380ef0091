//! The API's part of the settings tree (`[api]` in `switchboard.toml`). The binary loads it;
//! this crate never reads the environment.

use serde::Deserialize;

use crate::client_address::AddressRange;
use crate::graphql::Introspection;
use crate::mail::MailSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Where people reach this server; used in the links of verification and password reset
    /// emails. An https URL also marks the web session cookie `Secure`.
    pub public_url: String,
    /// The `From:` of outgoing email.
    pub mail_from: String,
    pub mail: MailSettings,
    /// The Twilio auth token that signs webhooks to `{public_url}/sms/twilio` (unset: the SMS
    /// webhook answers 503). Never logged.
    pub twilio_auth_token: Option<Hidden>,
    /// The nick the bot speaks under (`sendToRoom`, the desk): the IRC bot's nick (`irc.nick`),
    /// set by the application, not read from the settings file.
    #[serde(skip)]
    pub bot_nick: String,
    /// Lifetime of a bearer token from `logIn` (hours).
    pub api_token_ttl_hours: u64,
    /// Lifetime of an IRC login/registration token (minutes): short, as it is typed by hand.
    pub irc_token_ttl_minutes: u64,
    /// Lifetime of an email verification token (hours).
    pub email_token_ttl_hours: u64,
    /// Lifetime of a password reset link (minutes); it works once either way.
    pub password_reset_ttl_minutes: u64,
    /// The first account to sign up becomes superuser (a fresh install needs one admin).
    pub first_user_superuser: bool,
    /// Request bodies above this are refused with 413 before parsing.
    pub max_body_bytes: usize,
    /// Deepest selection nesting a query may have.
    pub max_depth: usize,
    /// Highest cost a request may have: each field (`__typename` included) costs 1 for every
    /// item of the pages around it (`first`, or the default page of 50).
    pub max_complexity: usize,
    /// Who may use introspection (`__schema`, `__type`): everyone, signed-in requests, or nobody.
    pub introspection: Introspection,
    /// Most database lookups one request may make (each list or object field that reads the
    /// database is one).
    pub max_lookups: usize,
    /// The longest a query waits for the read models to reach a given position (milliseconds).
    pub wait_timeout_ms: u64,
    /// Failed logins counted over this window (seconds)…
    pub login_window_secs: u64,
    /// …at most this many per username…
    pub login_failures_per_username: usize,
    /// …and this many per client address.
    pub login_failures_per_address: usize,
    /// Sign-ups accepted per client address per hour.
    pub sign_ups_per_address_per_hour: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client (addresses or CIDR ranges);
    /// from anyone else the header is ignored.
    pub trusted_proxies: Vec<AddressRange>,
    /// A WebSocket that has not sent `connection_init` this long after connecting is closed
    /// (seconds).
    pub ws_init_timeout_secs: u64,
    /// Every WebSocket gets a ping this often (seconds), so idle connections stay open through
    /// proxies and dead ones are noticed.
    pub ws_keepalive_secs: u64,
    /// A request to `/graphql` or the Twilio webhooks not answered in this long gets 503 with
    /// code `TIMEOUT` (seconds).
    pub request_timeout_secs: u64,
    /// At most this many of those requests at once; one more is refused at once with 503.
    pub max_concurrent_requests: usize,
    /// Serve `/metrics` on this address only (e.g. one only the monitoring network reaches)
    /// instead of beside the API.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`. Never
    /// logged.
    pub metrics_token: Option<Hidden>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".to_owned(),
            mail_from: "Switchboard <switchboard@localhost>".to_owned(),
            mail: MailSettings::Log,
            twilio_auth_token: None,
            bot_nick: "switchboard".to_owned(),
            api_token_ttl_hours: 24 * 30,
            irc_token_ttl_minutes: 15,
            email_token_ttl_hours: 48,
            password_reset_ttl_minutes: 60,
            first_user_superuser: true,
            max_body_bytes: 256 * 1024,
            max_depth: 12,
            max_complexity: 10_000,
            introspection: Introspection::Everyone,
            max_lookups: 250,
            wait_timeout_ms: 5_000,
            login_window_secs: 600,
            login_failures_per_username: 5,
            login_failures_per_address: 30,
            sign_ups_per_address_per_hour: 10,
            trusted_proxies: Vec::new(),
            ws_init_timeout_secs: 10,
            ws_keepalive_secs: 30,
            request_timeout_secs: 30,
            max_concurrent_requests: 512,
            metrics_listen: None,
            metrics_token: None,
        }
    }
}

/// A secret setting: its Debug form hides it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Hidden(String);

impl Hidden {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(***)")
    }
}
