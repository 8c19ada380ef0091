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

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.into()).into_response()
}

/// What both Twilio routes check first: SMS is configured, the body is a well-formed form, and
/// it is signed by Twilio for `path_and_query` under the public URL. A refusal is the status and
/// message to answer with.
fn signed_form(
    app: &crate::App,
    headers: &HeaderMap,
    body: &[u8],
    path_and_query: &str,
    what: &str,
) -> Result<Vec<(String, String)>, (StatusCode, String)> {
    let Some(token) = &app.settings.twilio_auth_token else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "SMS is not configured: set api.twilio_auth_token".into()));
    };
    let params = parse_form(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let url = format!("{}{path_and_query}", app.settings.public_url.trim_end_matches('/'));
    let presented = headers.get(signature::HEADER).and_then(|h| h.to_str().ok());
    if let Err(e) = signature::validate(token.expose(), &url, &params, presented) {
        tracing::warn!(reason = %e, "refused {what}");
        return Err((StatusCode::FORBIDDEN, e.to_string()));
    }
    Ok(params)
}

pub(crate) async fn twilio_inbound(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let app = &state.app;
    let params = match signed_form(app, &headers, &body, INBOUND_PATH, "an inbound SMS webhook") {
        Ok(params) => params,
        Err((status, message)) => return refuse(status, message),
    };
    let sms = match inbound_from_params(&params) {
        Ok(sms) => sms,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match record(&app.executor, &app.read, &sms).await {
        Ok(recorded) => {
            tracing::debug!(sid = %sms.message_sid, room = %recorded.room_id, position = %recorded.position, "inbound SMS recorded");
            ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response()
        }
        Err(InboundError::UnknownNumber(number)) => refuse(StatusCode::NOT_FOUND, format!("no room is bound to {number}")),
        Err(e) => {
            // Twilio retries on a 5xx, and the SID makes the retry safe.
            tracing::error!(error = %e, sid = %sms.message_sid, "could not record an inbound SMS");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not record the message; Twilio will retry")
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
        Err((status, message)) => return refuse(status, message),
    };
    let Some(delivery_id) = query.strip_prefix("delivery=").and_then(|id| Uuid::parse_str(id).ok()) else {
        return refuse(StatusCode::BAD_REQUEST, "the callback URL names no delivery");
    };
    let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(status) = field("MessageStatus").and_then(gateways::sms::outbound::parse_status) else {
        return refuse(StatusCode::BAD_REQUEST, "MessageStatus is missing or unknown");
    };
    let error_code = field("ErrorCode").and_then(|c| c.parse::<u32>().ok());
    let command = domain::DeliveryCommand::RecordStatus { status, error_code };
    let metadata = domain::Metadata::new(domain::Actor::System, domain::Gateway::Sms);
    match app.executor.execute::<domain::Delivery>(&domain::StreamName::delivery(delivery_id), &command, metadata).await {
        Ok(_) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(store::ExecuteError::Rejected(domain::DeliveryError::NotQueued)) => refuse(StatusCode::NOT_FOUND, "no such delivery"),
        Err(e) => {
            tracing::error!(error = %e, %delivery_id, "could not record a delivery status");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not record the status; Twilio will retry")
        }
    }
}
