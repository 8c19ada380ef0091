//! The API's part of the settings tree (`[api]` in `switchboard.toml`). The binary loads it;
//! this crate never reads the environment.

use serde::Deserialize;

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
    /// The nick the bot speaks under (`sendToRoom`).
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
    /// Highest complexity a query may have (each field costs 1; lists cost their page size).
    pub max_complexity: usize,
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
            max_complexity: 2_000,
            max_lookups: 250,
            wait_timeout_ms: 5_000,
            login_window_secs: 600,
            login_failures_per_username: 5,
            login_failures_per_address: 30,
            sign_ups_per_address_per_hour: 10,
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
