//! Prometheus metrics at `/metrics`, through the `metrics` facade: the store records append
//! latency and events appended by type, the gateways the IRC connection and SMS deliveries,
//! this module HTTP and GraphQL requests and webhook refusals, and projection lag is read from
//! the checkpoints when scraped (so it is right even for projections another process runs).
//! Every series is listed in `docs/monitoring.md`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::App;
use crate::error::{ApiError, ApiResult};

/// The process-wide recorder. `metrics` has one global recorder; installing it again (a second
/// app in one test process) reuses the first.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let latency_buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &latency_buckets)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only what this one sees");
        }
        describe();
        handle
    })
}

/// What a series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every series Switchboard exports: name, kind, help. `docs/monitoring.md` lists the same, and
/// the alert rules and the dashboard in `docs/` use only these (a test holds them to it).
pub const SERIES: &[(&str, Kind, &str)] = &[
    ("switchboard_append_seconds", Kind::Histogram, "Event store append latency"),
    ("switchboard_events_appended_total", Kind::Counter, "Events appended to the log by this process, by event type"),
    ("switchboard_http_request_seconds", Kind::Histogram, "HTTP request latency by route"),
    ("switchboard_http_requests_total", Kind::Counter, "HTTP requests by route, method and status"),
    ("switchboard_http_refused_total", Kind::Counter, "Requests refused by the load bounds, by reason (busy, timeout)"),
    ("switchboard_graphql_request_seconds", Kind::Histogram, "GraphQL request latency by operation"),
    ("switchboard_graphql_requests_total", Kind::Counter, "GraphQL requests by operation and outcome"),
    ("switchboard_projection_lag_events", Kind::Gauge, "Events in the log that a projection has not applied yet"),
    ("switchboard_projection_lag_seconds", Kind::Gauge, "Age of the oldest event a projection has not applied yet"),
    ("switchboard_irc_connected", Kind::Gauge, "1 while the bot's IRC connection is up, 0 otherwise"),
    ("switchboard_irc_reconnects_total", Kind::Counter, "Reconnections to the IRC server after a lost connection"),
    ("switchboard_irc_control_refused_total", Kind::Counter, "Bot commands refused because the control queue was full"),
    ("switchboard_sms_deliveries_total", Kind::Counter, "SMS deliveries reaching a status (by the sender and status callbacks)"),
    ("switchboard_sms_send_retries_total", Kind::Counter, "Sends to Twilio retried after a retryable failure"),
    ("switchboard_sms_webhook_refusals_total", Kind::Counter, "Twilio webhook requests refused, by webhook and reason"),
];

fn describe() {
    for (name, kind, help) in SERIES {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help),
        }
    }
}

/// Installs the recorder (idempotent). Call before the first request so early appends count.
pub fn install() {
    let _ = handle();
}

/// Middleware: counts and times every request by its route pattern (not its raw path, which
/// would make one series per id).
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchboard_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("switchboard_http_request_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// Operation names are chosen by clients: long or many distinct ones are folded so a hostile
/// client cannot grow the series without bound.
pub fn record_graphql(operation: &str, ok: bool, elapsed: Duration) {
    // The first 100 distinct well-formed names get their own series; the rest share "other".
    static SEEN: std::sync::Mutex<Option<std::collections::HashSet<String>>> = std::sync::Mutex::new(None);
    let well_formed = operation.len() <= 64 && operation.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let operation = {
        let mut seen = SEEN.lock().expect("metrics names lock");
        let seen = seen.get_or_insert_with(Default::default);
        if well_formed && (seen.contains(operation) || seen.len() < 100) {
            seen.insert(operation.to_owned());
            operation.to_owned()
        } else {
            "other".to_owned()
        }
    };
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("switchboard_graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!("switchboard_graphql_request_seconds", "operation" => operation).record(elapsed.as_secs_f64());
}

/// The exposition text, with projection lag refreshed from the database.
pub async fn render(app: &App) -> ApiResult<String> {
    let handle = handle();
    let client = app.store.pool().get().await?;
    let reports =
        projections::status::report(&client, app.store.backend(), &projections::projection::all()).await.map_err(ApiError::from)?;
    for report in reports {
        let name = report.name.to_string();
        metrics::gauge!("switchboard_projection_lag_events", "projection" => name.clone()).set(report.lag_events as f64);
        metrics::gauge!("switchboard_projection_lag_seconds", "projection" => name).set(report.lag_seconds);
    }
    Ok(handle.render())
}
