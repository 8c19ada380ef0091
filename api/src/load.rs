//! Bounds on the routes that do work (`/graphql`, the Twilio webhooks): at most
//! `max_concurrent_requests` at once — one more is refused at once with 503 rather than queued,
//! so memory stays bounded when the database hangs — and each answered within
//! `request_timeout_secs`, or cut off with 503 and code `TIMEOUT`. Probes (`/healthz`,
//! `/readyz`, `/metrics`) and WebSockets (long-lived by design) are not bounded here.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::HttpState;
use crate::error::Code;

#[derive(Clone)]
pub(crate) struct RequestLimits {
    in_flight: Arc<Semaphore>,
    timeout: Duration,
}

impl RequestLimits {
    pub(crate) fn new(max_concurrent: usize, timeout: Duration) -> Self {
        Self { in_flight: Arc::new(Semaphore::new(max_concurrent.max(1))), timeout }
    }
}

pub(crate) async fn bounded(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let limits = &state.limits;
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("switchboard_http_refused_total", "reason" => "busy").increment(1);
        return refusal(Code::Unavailable, "the server is handling as many requests as it may; retry in a moment");
    };
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("switchboard_http_refused_total", "reason" => "timeout").increment(1);
            tracing::warn!(timeout = ?limits.timeout, "a request ran out of time (is the database answering?)");
            refusal(
                Code::Timeout,
                &format!("no answer within {} s (the database may be slow); retry in a moment", limits.timeout.as_secs_f64()),
            )
        }
    }
}

/// 503 with `Retry-After` and a GraphQL-shaped JSON error.
fn refusal(code: Code, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str(), "retryAfterSeconds": 5 } }] });
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], axum::Json(body)).into_response()
}
