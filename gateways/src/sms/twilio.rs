//! The Twilio REST client, as Twilio's OpenAPI contract (`twilio_api_v2010.json`) describes it:
//! HTTP Basic auth (account SID, auth token), form bodies, JSON answers. It sends messages
//! (`Messages.json`), reads the account (a read-only check of the credentials), and looks up and
//! points an account's numbers at this server (`IncomingPhoneNumbers`). The base URL is
//! configurable so tests point it at a local stand-in. Errors keep Twilio's own error code, which
//! decides between retrying and giving up.

use std::time::Duration;

use serde::Deserialize;

/// What the client needs; the auth token is a secret (its Debug form hides it).
#[derive(Clone)]
pub struct TwilioConfig {
    /// `https://api.twilio.com` in production.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Where Twilio posts status updates (`{public_url}/sms/twilio/status`), if anywhere; each
    /// message's URL gets `?delivery=<id>` so the callback names its delivery.
    pub status_callback: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig").field("base_url", &self.base_url).field("account_sid", &self.account_sid).finish_non_exhaustive()
    }
}

/// Twilio error 21211: the `To` number is not a valid phone number.
pub const INVALID_TO_NUMBER: u32 = 21211;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error (its `code` when the body had one).
    #[error("Twilio answered {status}{}: {message}", code.map(|c| format!(" (error {c})")).unwrap_or_default())]
    Refused { status: u16, code: Option<u32>, message: String },
    #[error("no answer from Twilio within the timeout")]
    Timeout,
    #[error("could not reach Twilio: {0}")]
    Network(String),
    #[error("Twilio's answer could not be read: {0}")]
    BadResponse(String),
}

impl TwilioError {
    /// Worth trying again later: rate limiting, Twilio's own failures, and the network. A
    /// refusal of this message (bad number, opted out, bad request) will not change.
    pub fn is_retryable(&self) -> bool {
        match self {
            TwilioError::Refused { status, .. } => *status == 429 || *status >= 500,
            TwilioError::Timeout | TwilioError::Network(_) => true,
            TwilioError::BadResponse(_) => false,
        }
    }

    pub fn code(&self) -> Option<u32> {
        match self {
            TwilioError::Refused { code, .. } => *code,
            _ => None,
        }
    }
}

/// Twilio's answer to a created message (the fields used here).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedMessage {
    pub sid: String,
    pub status: String,
}

/// The account the credentials belong to (`GET /2010-04-01/Accounts/{Sid}.json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub sid: String,
    pub friendly_name: Option<String>,
    /// `active`, `suspended` or `closed`.
    pub status: Option<String>,
}

/// One of the account's phone numbers, with where Twilio posts its incoming texts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingNumber {
    pub sid: String,
    pub phone_number: String,
    pub sms_url: Option<String>,
    pub sms_method: Option<String>,
}

impl IncomingNumber {
    /// Twilio posts this number's incoming texts to `url`.
    pub fn posts_to(&self, url: &str) -> bool {
        self.sms_url.as_deref() == Some(url) && self.sms_method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case("POST"))
    }
}

#[derive(Deserialize)]
struct NumberList {
    incoming_phone_numbers: Vec<IncomingNumber>,
}

/// What pointing a number at a webhook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookChange {
    /// It already posted there; nothing was changed.
    Unchanged(IncomingNumber),
    /// It posted elsewhere (or nowhere) before.
    Changed { before: Option<String>, now: IncomingNumber },
}

/// Why a number could not be pointed at this server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0} is not a number of this Twilio account")]
    NotInAccount(String),
    #[error(transparent)]
    Twilio(#[from] TwilioError),
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

#[derive(Clone)]
pub struct TwilioClient {
    config: TwilioConfig,
    http: reqwest::Client,
}

impl TwilioClient {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        let http = reqwest::Client::builder().timeout(config.timeout).build().map_err(|e| TwilioError::Network(e.to_string()))?;
        Ok(Self { config, http })
    }

    /// Sends one SMS. `idempotency_key` goes in Twilio's `I-Twilio-Idempotency-Token` header, so
    /// a retry after a lost answer does not send twice.
    pub async fn send(&self, from: &str, to: &str, body: &str, idempotency_key: &str) -> Result<CreatedMessage, TwilioError> {
        let callback = self.config.status_callback.as_ref().map(|base| format!("{base}?delivery={idempotency_key}"));
        self.post(from, to, body, idempotency_key, callback).await
    }

    /// Sends one SMS that is no delivery (a verification code: its text must not be in the log),
    /// so Twilio is given no status callback to report on it.
    pub async fn send_untracked(&self, from: &str, to: &str, body: &str, idempotency_key: &str) -> Result<CreatedMessage, TwilioError> {
        self.post(from, to, body, idempotency_key, None).await
    }

    async fn post(
        &self,
        from: &str,
        to: &str,
        body: &str,
        idempotency_key: &str,
        callback: Option<String>,
    ) -> Result<CreatedMessage, TwilioError> {
        let mut form: Vec<(&str, &str)> = vec![("To", to), ("From", from), ("Body", body)];
        if let Some(callback) = &callback {
            form.push(("StatusCallback", callback));
        }
        let request = self.http.post(self.url("/Messages.json")).header("I-Twilio-Idempotency-Token", idempotency_key).form(&form);
        self.answer(request).await
    }

    /// The account the credentials belong to: a read-only call that proves they are accepted.
    pub async fn account(&self) -> Result<Account, TwilioError> {
        self.answer(self.http.get(self.url(".json"))).await
    }

    /// The account's number `phone` (E.164), if it has it.
    pub async fn incoming_number(&self, phone: &str) -> Result<Option<IncomingNumber>, TwilioError> {
        let request = self.http.get(self.url("/IncomingPhoneNumbers.json")).query(&[("PhoneNumber", phone)]);
        let list: NumberList = self.answer(request).await?;
        Ok(list.incoming_phone_numbers.into_iter().find(|n| n.phone_number == phone))
    }

    /// Makes Twilio post `phone`'s incoming texts to `sms_url` (by POST). Changes nothing when
    /// it already does. Message status callbacks are not a number's setting: every message sent
    /// names its own (`TwilioConfig::status_callback`); the number's `StatusCallback` is for
    /// voice calls and is left alone.
    pub async fn point_number_at(&self, phone: &str, sms_url: &str) -> Result<WebhookChange, NumberError> {
        let number = self.incoming_number(phone).await?.ok_or_else(|| NumberError::NotInAccount(phone.to_owned()))?;
        if number.posts_to(sms_url) {
            return Ok(WebhookChange::Unchanged(number));
        }
        let request = self
            .http
            .post(self.url(&format!("/IncomingPhoneNumbers/{}.json", number.sid)))
            .form(&[("SmsUrl", sms_url), ("SmsMethod", "POST")]);
        let now: IncomingNumber = self.answer(request).await?;
        Ok(WebhookChange::Changed { before: number.sms_url, now })
    }

    /// `{base}/2010-04-01/Accounts/{AccountSid}{rest}`.
    fn url(&self, rest: &str) -> String {
        format!("{}/2010-04-01/Accounts/{}{rest}", self.config.base_url.trim_end_matches('/'), self.config.account_sid)
    }

    /// Sends an authenticated request and reads a 2xx answer as `T`, anything else as Twilio's
    /// error.
    async fn answer<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, TwilioError> {
        let lost = |e: reqwest::Error| if e.is_timeout() { TwilioError::Timeout } else { TwilioError::Network(e.to_string()) };
        let response = request.basic_auth(&self.config.account_sid, Some(&self.config.auth_token)).send().await.map_err(lost)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(lost)?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| TwilioError::BadResponse(e.to_string()));
        }
        let error: Option<ErrorBody> = serde_json::from_str(&text).ok();
        Err(TwilioError::Refused {
            status,
            code: error.as_ref().and_then(|e| e.code),
            message: error.and_then(|e| e.message).unwrap_or_else(|| text.chars().take(200).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_retried_refusals_are_not() {
        let refused = |status, code| TwilioError::Refused { status, code, message: String::new() };
        assert!(refused(429, Some(20429)).is_retryable());
        assert!(refused(503, None).is_retryable());
        assert!(TwilioError::Timeout.is_retryable());
        assert!(!refused(400, Some(INVALID_TO_NUMBER)).is_retryable());
        assert!(!refused(400, Some(21610)).is_retryable());
    }

    #[test]
    fn the_auth_token_is_not_in_debug_output() {
        let config = TwilioConfig {
            base_url: "https://api.twilio.com".into(),
            account_sid: "AC123".into(),
            auth_token: "s3cret".into(),
            status_callback: None,
            timeout: Duration::from_secs(5),
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
