//! Switchboard's HTTP surface. It owns the routes — `POST /graphql` (GraphiQL on `GET`, with
//! its assets served from here: `graphiql`), `/graphql/ws` (graphql-transport-ws
//! subscriptions), `/sms/twilio` (the signed Twilio webhook), `/healthz`, `/readyz`, `/metrics`
//! — the GraphQL schema (one module per area under [`graphql`], merged at the root), the account
//! steps GraphQL and the web pages share ([`accounts`]) and likewise the moderation and history
//! rules ([`moderation`], [`history`]), authentication ([`auth`]: argon2
//! passwords, hashed bearer tokens, login limits), outgoing email ([`mail`]), Prometheus metrics
//! ([`metrics`]) and the mapping of every error to what a client sees ([`error`], the only place
//! that does it). The web pages themselves are the `web` crate, merged into the same router by
//! the binary.
//!
//! Main types: [`App`] (what every handler shares: the store, the command executor, the read
//! models, settings), [`ApiSettings`], [`router`]. It must not hold business rules (those are
//! `domain`, reached through the command executor) nor write read models (those are
//! `projections`). It reads the read models through [`projections::ReadModels`] and the audit log
//! through `store::postgres::audit`; its own SQL is the readiness probe's `SELECT 1`.

pub mod accounts;
pub mod auth;
pub mod error;
mod graphiql;
pub mod graphql;
pub mod history;
pub mod mail;
pub mod metrics;
pub mod moderation;
mod settings;
mod sms;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use projections::{ReadModels, RunnerState, Runners};
use serde_json::json;
use store::{CommandExecutor, PgEventStore};

pub use settings::{ApiSettings, Hidden};

use crate::auth::LoginLimiter;
use crate::graphql::{RequestInfo, SwitchboardSchema};
use crate::mail::Mailer;

/// What every handler and resolver shares. Cheap to share behind an `Arc`.
pub struct App {
    pub store: PgEventStore,
    pub executor: CommandExecutor<PgEventStore>,
    pub read: ReadModels,
    /// The projections this process runs (`None`: it runs none, e.g. an API-only replica;
    /// read-your-writes then watches the checkpoint rows).
    pub runners: Option<Arc<Runners>>,
    pub settings: ApiSettings,
    pub mailer: Mailer,
    pub login_limiter: LoginLimiter,
    /// Sign-ups per client address (each costs an argon2 hash, events and an email).
    pub(crate) sign_up_limiter: LoginLimiter,
    /// At most this many argon2 hashes at once (each takes ~19 MiB and a core for tens of ms).
    pub(crate) hashing: tokio::sync::Semaphore,
    /// Set once the first superuser exists (so sign-up stops asking).
    pub(crate) superuser_exists: std::sync::atomic::AtomicBool,
}

impl App {
    pub fn new(store: PgEventStore, runners: Option<Arc<Runners>>, settings: ApiSettings) -> Result<Arc<Self>, mail::MailSetupError> {
        let mailer = Mailer::new(&settings.mail)?;
        let login_limiter = LoginLimiter::new(
            Duration::from_secs(settings.login_window_secs),
            settings.login_failures_per_username,
            settings.login_failures_per_address,
        );
        let sign_up_limiter = LoginLimiter::new(Duration::from_secs(3600), usize::MAX, settings.sign_ups_per_address_per_hour);
        Ok(Arc::new(Self {
            sign_up_limiter,
            hashing: tokio::sync::Semaphore::new(2),
            executor: CommandExecutor::new(Arc::new(store.clone())),
            read: ReadModels::new(store.pool().clone()),
            store,
            runners,
            settings,
            mailer,
            login_limiter,
            superuser_exists: std::sync::atomic::AtomicBool::new(false),
        }))
    }
}

#[derive(Clone)]
pub(crate) struct HttpState {
    app: Arc<App>,
    /// For `POST /graphql` (no extensions: see `graphql::http_schema`).
    schema: SwitchboardSchema,
    /// For `/graphql/ws`.
    ws_schema: SwitchboardSchema,
}

/// The application's routes.
pub fn router(app: Arc<App>) -> Router {
    let schema = graphql::http_schema(app.clone());
    let ws_schema = graphql::schema(app.clone());
    let max_body = app.settings.max_body_bytes;
    let state = HttpState { app, schema, ws_schema };
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql_post))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .route("/graphql/ws", get(graphql_ws))
        .route("/sms/twilio", axum::routing::post(sms::twilio_inbound))
        .route("/sms/twilio/status", axum::routing::post(sms::twilio_status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        // Bounded before parsing: a huge body is refused with 413 and never buffered whole.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(axum::middleware::from_fn(metrics::track_http))
        .with_state(state)
}

/// Authenticates the bearer token (if any), then runs the request with the viewer attached.
/// An invalid token is an `UNAUTHENTICATED` error, not an anonymous request: a client with an
/// expired token should learn so rather than see less.
async fn graphql_post(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let started = Instant::now();
    let mut request = request.into_inner();
    let viewer = match headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(auth::bearer_token) {
        None => None,
        Some(token) => match auth::viewer_for_token(&state.app.read, token).await {
            Ok(viewer) => Some(viewer),
            Err(e) => {
                let response = async_graphql::Response::from_errors(vec![e.into_graphql().into_server_error(Default::default())]);
                return GraphQLResponse::from(response).into_response();
            }
        },
    };
    let operation = request.operation_name.clone().unwrap_or_else(|| "anonymous".to_owned());
    request = graphql::with_budget(&state.app, request.data(viewer).data(RequestInfo { peer: Some(peer.ip()) }));
    let response = graphql::with_error_codes(state.schema.execute(request).await);
    metrics::record_graphql(&operation, response.is_ok(), started.elapsed());
    GraphQLResponse::from(response).into_response()
}

/// graphql-transport-ws (and the older graphql-ws). The token travels in the connection payload
/// (`{"Authorization": "Bearer …"}`), since browsers cannot set headers on a WebSocket.
async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = state.ws_schema.clone();
    let app = state.app.clone();
    upgrade
        .max_message_size(state.app.settings.max_body_bytes)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = ["Authorization", "authorization", "token"]
                        .iter()
                        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()).map(str::to_owned));
                    let mut data = async_graphql::Data::default();
                    if let Some(token) = token.as_deref().and_then(auth::bearer_token) {
                        // Refused at once when invalid; re-checked for every operation after.
                        auth::viewer_for_token(&app.read, token).await.map_err(|e| e.into_graphql())?;
                        data.insert(graphql::WsToken(token.to_owned()));
                    }
                    data.insert(RequestInfo { peer: Some(peer.ip()) });
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn metrics_text(State(state): State<HttpState>) -> Response {
    match metrics::render(&state.app).await {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            let status = e.status_code();
            let _ = e.into_graphql(); // logs the cause under an id
            (status, "metrics unavailable").into_response()
        }
    }
}

/// Ready when the database answers within a second and every projection this process runs is
/// running. The cause of a failure is logged, not shown: the probe only needs "not ready".
async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<serde_json::Value>) {
    let app = &state.app;
    let probe = async {
        let client = app.store.pool().get().await.map_err(|e| e.to_string())?;
        client.simple_query("SELECT 1").await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    };
    let projections: serde_json::Map<String, serde_json::Value> = app
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
    let projections_ok = app.runners.as_ref().is_none_or(|r| r.all_running());
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

/// Serves `routes` (the API's [`router`], with whatever the binary merges in) on `listener`
/// until `shutdown` resolves. Handlers learn the client's address (`ConnectInfo`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}
