//! Switchboard's HTTP surface. Today it owns the operational routes: `/healthz` (the process
//! is up) and `/readyz` (the database answers and every projection runs); GraphQL, subscriptions and the Twilio webhook
//! routes will be merged into the same [`router`].
//!
//! It must not hold business rules (those are `domain`) nor SQL beyond readiness probes; every
//! error it shows is mapped to a stable, non-leaking reply here, in one place.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use projections::{RunnerState, Runners};
use serde_json::json;
use store::PgEventStore;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: PgEventStore,
    /// The projections this process runs (`None`: it runs none, e.g. an API-only replica).
    pub runners: Option<Arc<Runners>>,
}

/// The application's routes.
pub fn router(state: ApiState) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Ready when the database answers within a second. The cause of a failure is logged, not
/// shown: the probe's caller only needs to know "not ready".
async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<serde_json::Value>) {
    let probe = async {
        let client = state.store.pool().get().await.map_err(|e| e.to_string())?;
        client.simple_query("SELECT 1").await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    let projections: serde_json::Map<String, serde_json::Value> = state
        .runners
        .iter()
        .flat_map(|r| r.statuses())
        .map(|(name, status)| {
            let state = match status.state {
                RunnerState::Starting => "starting",
                RunnerState::Standby => "standby",
                RunnerState::Building => "building",
                RunnerState::Running => "running",
                RunnerState::Reconnecting(_) => "reconnecting",
                RunnerState::Failed(_) => "failed",
                RunnerState::Stopped => "stopped",
            };
            (name.to_string(), json!(state))
        })
        .collect();
    let projections_ok = state.runners.as_ref().is_none_or(|r| r.all_running());
    match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Ok(())) if projections_ok => (StatusCode::OK, Json(json!({ "status": "ready", "database": "ok", "projections": projections }))),
        Ok(Ok(())) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready", "database": "ok", "projections": projections })))
        }
        Ok(Err(cause)) => {
            tracing::warn!(%cause, "readiness: database check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready", "database": "unavailable" })))
        }
        Err(_) => {
            tracing::warn!("readiness: database check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready", "database": "timeout" })))
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
