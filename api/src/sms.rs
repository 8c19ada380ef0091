//! The Twilio webhook route, `POST /sms/twilio`: HTTP glue around `gateways::sms`. Order of
//! checks: the form must decode (400), the signature must match the configured public URL and
//! auth token (403, nothing appended), the fields must be Twilio's (400), the `To` number must
//! belong to a room (404); then the message is recorded once per `MessageSid` and Twilio gets an
//! empty TwiML answer at once. Interpreting the text continues from the log.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gateways::sms::inbound::{InboundError, inbound_from_params, parse_form, record};
use gateways::sms::signature;
use uuid::Uuid;

use crate::HttpState;

/// Where Twilio posts a room number's incoming texts: the URL a number's `SmsUrl` must be,
/// under `api.public_url`, since signatures are checked against it.
pub const INBOUND_PATH: &str = "/sms/twilio";
/// Where Twilio posts the status of each message sent (named per message).
pub const STATUS_PATH: &str = "/sms/twilio/status";

/// `{public_url}/sms/twilio`.
pub fn inbound_url(public_url: &str) -> String {
    format!("{}{INBOUND_PATH}", public_url.trim_end_matches('/'))
}

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Which webhook refused (a label of `switchboard_sms_webhook_refusals_total`).
#[derive(Clone, Copy)]
enum Hook {
    Inbound,
    Status,
}

impl Hook {
    fn as_str(self) -> &'static str {
        match self {
            Hook::Inbound => "inbound",
            Hook::Status => "status",
        }
    }
}

/// A refusal: the status and the message for Twilio (or whoever posted), counted by `reason`.
struct Refusal {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self { status, reason, message: message.into() }
    }

    fn answer(self, hook: Hook) -> Response {
        metrics::counter!("switchboard_sms_webhook_refusals_total", "webhook" => hook.as_str(), "reason" => self.reason).increment(1);
        (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.message).into_response()
    }
}

/// What both Twilio routes check first: SMS is configured, the body is a well-formed form, and
/// it is signed by Twilio for `path_and_query` under the public URL.
fn signed_form(
    app: &crate::App,
    headers: &HeaderMap,
    body: &[u8],
    path_and_query: &str,
    what: &str,
) -> Result<Vec<(String, String)>, Refusal> {
    let Some(token) = &app.settings.twilio_auth_token else {
        return Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", "SMS is not configured: set api.twilio_auth_token"));
    };
    let params = parse_form(body).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_form", e.to_string()))?;
    let url = format!("{}{path_and_query}", app.settings.public_url.trim_end_matches('/'));
    let presented = headers.get(signature::HEADER).and_then(|h| h.to_str().ok());
    if let Err(e) = signature::validate(token.expose(), &url, &params, presented) {
        tracing::warn!(reason = %e, "refused {what}");
        return Err(Refusal::new(StatusCode::FORBIDDEN, "signature", e.to_string()));
    }
    Ok(params)
}

pub(crate) async fn twilio_inbound(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let app = &state.app;
    let params = match signed_form(app, &headers, &body, INBOUND_PATH, "an inbound SMS webhook") {
        Ok(params) => params,
        Err(refusal) => return refusal.answer(Hook::Inbound),
    };
    let sms = match inbound_from_params(&params) {
        Ok(sms) => sms,
        Err(e) => return Refusal::new(StatusCode::BAD_REQUEST, "bad_fields", e.to_string()).answer(Hook::Inbound),
    };
    match record(&app.executor, &app.read, &sms).await {
        Ok(recorded) => {
            tracing::debug!(sid = %sms.message_sid, room = %recorded.room_id, position = %recorded.position, "inbound SMS recorded");
            ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response()
        }
        Err(InboundError::UnknownNumber(number)) => {
            Refusal::new(StatusCode::NOT_FOUND, "unknown_number", format!("no room is bound to {number}")).answer(Hook::Inbound)
        }
        Err(e) => {
            // Twilio retries on a 5xx, and the SID makes the retry safe.
            tracing::error!(error = %e, sid = %sms.message_sid, "could not record an inbound SMS");
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "not_recorded", "could not record the message; Twilio will retry")
                .answer(Hook::Inbound)
        }
    }
}

/// `POST /sms/twilio/status?delivery=<id>`: Twilio's status callback for one outbound message.
/// Signed like the inbound webhook (over the URL with its query); the status only moves
/// forward, so repeated and out-of-order callbacks record nothing new.
pub(crate) async fn twilio_status(State(state): State<HttpState>, RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let app = &state.app;
    let query = query.unwrap_or_default();
    let path = format!("{STATUS_PATH}{}{query}", if query.is_empty() { "" } else { "?" });
    let params = match signed_form(app, &headers, &body, &path, "a Twilio status callback") {
        Ok(params) => params,
        Err(refusal) => return refusal.answer(Hook::Status),
    };
    let Some(delivery_id) = query.strip_prefix("delivery=").and_then(|id| Uuid::parse_str(id).ok()) else {
        return Refusal::new(StatusCode::BAD_REQUEST, "no_delivery", "the callback URL names no delivery").answer(Hook::Status);
    };
    let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(status) = field("MessageStatus").and_then(gateways::sms::outbound::parse_status) else {
        return Refusal::new(StatusCode::BAD_REQUEST, "bad_fields", "MessageStatus is missing or unknown").answer(Hook::Status);
    };
    let error_code = field("ErrorCode").and_then(|c| c.parse::<u32>().ok());
    let command = domain::DeliveryCommand::RecordStatus { status, error_code };
    let metadata = domain::Metadata::new(domain::Actor::System, domain::Gateway::Sms);
    match app.executor.execute::<domain::Delivery>(&domain::StreamName::delivery(delivery_id), &command, metadata).await {
        Ok(done) => {
            // A repeated or out-of-order callback records nothing and is not counted again.
            if !done.events.is_empty() {
                gateways::sms::outbound::count_status(status);
            }
            ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response()
        }
        Err(store::ExecuteError::Rejected(domain::DeliveryError::NotQueued)) => {
            Refusal::new(StatusCode::NOT_FOUND, "unknown_delivery", "no such delivery").answer(Hook::Status)
        }
        Err(e) => {
            tracing::error!(error = %e, %delivery_id, "could not record a delivery status");
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "not_recorded", "could not record the status; Twilio will retry")
                .answer(Hook::Status)
        }
    }
}
