//! Switchboard's HTTP surface. It owns the routes — `POST /graphql` (GraphiQL on `GET`, with
//! its assets served from here: `graphiql`), `/graphql/ws` (graphql-transport-ws
//! subscriptions), `/sms/twilio` (the signed Twilio webhook), `/healthz`, `/readyz`, `/metrics`
//! — the GraphQL schema (one module per area under [`graphql`], merged at the root), the account
//! steps and read rules GraphQL and the web pages share ([`accounts`], [`access`]) and likewise
//! the moderation steps, room steps and statistics rules ([`moderation`], [`rooms`],
//! [`history`]) and the audit log's filters, redaction and live feed ([`audit`]),
//! authentication ([`auth`]: argon2 passwords, hashed bearer tokens, login limits), outgoing
//! email ([`mail`]), Prometheus metrics ([`metrics`]) and the mapping of every error to what a
//! client sees ([`error`], the only place that does it). Against hostile or broken clients and a
//! database that hangs: what a request must pass before it runs (`graphql::admission`), bounds
//! on requests in number and time (`load`), short JSON answers to bodies that are not requests
//! (`request_body`), WebSocket timeouts, pings and size limits (`websocket`), and the client
//! address behind trusted proxies ([`client_address`]). The web pages themselves are the `web`
//! crate, merged into the same router by the binary.
//!
//! Main types: [`App`] (what every handler shares: the store, the command executor, the read
//! models, settings), [`ApiSettings`], [`router`]. It must not hold business rules (those are
//! `domain`, reached through the command executor) nor write read models (those are
//! `projections`). It reads the read models through [`projections::ReadModels`] and the audit log
//! through `store::AnyEventStore::audit_page`; its own SQL is the readiness probe's `SELECT 1`.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod auth;
pub mod client_address;
pub mod error;
mod graphiql;
pub mod graphql;
pub mod history;
mod load;
pub mod mail;
pub mod metrics;
pub mod moderation;
mod request_body;
pub mod rooms;
mod settings;
pub mod sms;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql_axum::{GraphQLProtocol, GraphQLResponse};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use projections::{ReadModels, RunnerState, Runners};
use serde_json::json;
use store::{AnyEventStore, CommandExecutor};

pub use settings::{ApiSettings, Hidden};

use crate::auth::LoginLimiter;
use crate::graphql::{RequestInfo, SwitchboardSchema};
use crate::mail::Mailer;

/// What every handler and resolver shares. Cheap to share behind an `Arc`.
pub struct App {
    pub store: AnyEventStore,
    pub executor: CommandExecutor<AnyEventStore>,
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
    /// Texts phone verification codes (`None`: not configured; phones cannot be verified).
    pub phone_codes: Option<accounts::CodeTexter>,
    /// The Twilio account, when one is configured: rooms can point their numbers at this server.
    pub twilio: Option<gateways::sms::twilio::TwilioClient>,
}

impl App {
    pub fn new(
        store: impl Into<AnyEventStore>,
        runners: Option<Arc<Runners>>,
        settings: ApiSettings,
    ) -> Result<Arc<Self>, mail::MailSetupError> {
        Self::with_twilio(store, runners, settings, None, None)
    }

    /// As [`App::new`], with the Twilio account (`twilio`) and the texting of phone
    /// verification codes (`phone_codes`) when they are configured.
    pub fn with_twilio(
        store: impl Into<AnyEventStore>,
        runners: Option<Arc<Runners>>,
        settings: ApiSettings,
        twilio: Option<gateways::sms::twilio::TwilioClient>,
        phone_codes: Option<accounts::CodeTexter>,
    ) -> Result<Arc<Self>, mail::MailSetupError> {
        let store = store.into();
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
            read: ReadModels::new(store.pool().clone(), store.backend()),
            store,
            runners,
            settings,
            mailer,
            login_limiter,
            superuser_exists: std::sync::atomic::AtomicBool::new(false),
            phone_codes,
            twilio,
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
    limits: load::RequestLimits,
}

/// The application's routes.
pub fn router(app: Arc<App>) -> Router {
    let schema = graphql::http_schema(app.clone());
    let ws_schema = graphql::schema(app.clone());
    let max_body = app.settings.max_body_bytes;
    let limits = load::RequestLimits::new(app.settings.max_concurrent_requests, Duration::from_secs(app.settings.request_timeout_secs));
    let metrics_here = app.settings.metrics_listen.is_none();
    let state = HttpState { app, schema, ws_schema, limits };
    let router = Router::new()
        .route("/graphql", get(graphiql::page).post(graphql_post))
        .route(sms::INBOUND_PATH, axum::routing::post(sms::twilio_inbound))
        .route(sms::STATUS_PATH, axum::routing::post(sms::twilio_status))
        // The routes above do work: bounded in number and time (see `load`).
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), load::bounded))
        .route("/graphql/ws", get(graphql_ws))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let router = if metrics_here { router.route("/metrics", get(metrics_text)) } else { router };
    router
        // Bounded before parsing: a huge body is refused with 413 and never buffered whole.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(axum::middleware::map_response_with_state(state.clone(), request_body::json_payload_too_large))
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
    request_body::GraphQLBody(request): request_body::GraphQLBody,
) -> Response {
    let started = Instant::now();
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
    let client = client_address::client_address(peer.ip(), &headers, &state.app.settings.trusted_proxies);
    let request = match graphql::admitted(&state.app, request.data(RequestInfo { peer: Some(client) }), viewer) {
        Ok(request) => request,
        Err(e) => {
            let response = async_graphql::Response::from_errors(vec![e.into_graphql().into_server_error(Default::default())]);
            metrics::record_graphql(&operation, false, started.elapsed());
            return GraphQLResponse::from(response).into_response();
        }
    };
    let response = graphql::with_error_codes(state.schema.execute(request).await);
    metrics::record_graphql(&operation, response.is_ok(), started.elapsed());
    GraphQLResponse::from(response).into_response()
}

/// graphql-transport-ws (and the older graphql-ws). The token travels in the connection payload
/// (`{"Authorization": "Bearer …"}`), since browsers cannot set headers on a WebSocket.
async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client_address::client_address(peer.ip(), &headers, &state.app.settings.trusted_proxies);
    let schema = state.ws_schema.clone();
    let app = state.app.clone();
    let limits = websocket::SocketLimits {
        init_timeout: Duration::from_secs(app.settings.ws_init_timeout_secs),
        keepalive: Duration::from_secs(app.settings.ws_keepalive_secs.max(1)),
    };
    upgrade
        .max_message_size(state.app.settings.max_body_bytes)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            websocket::serve(socket, schema, protocol, limits, move |payload| async move {
                let token = ["Authorization", "authorization", "token"]
                    .iter()
                    .find_map(|key| payload.get(*key).and_then(|v| v.as_str()).map(str::to_owned));
                let mut data = async_graphql::Data::default();
                if let Some(token) = token.as_deref().and_then(auth::bearer_token) {
                    // Refused at once when invalid; re-checked for every operation after.
                    auth::viewer_for_token(&app.read, token).await.map_err(|e| e.into_graphql())?;
                    data.insert(graphql::WsToken(token.to_owned()));
                }
                data.insert(RequestInfo { peer: Some(client) });
                Ok(data)
            })
        })
        .into_response()
}

/// Compares in time independent of where the strings differ (a token is not guessed bytewise).
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// `/metrics` alone, for `api.metrics_listen`.
fn metrics_router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(metrics_text)).with_state(app)
}

impl axum::extract::FromRef<HttpState> for Arc<App> {
    fn from_ref(state: &HttpState) -> Self {
        state.app.clone()
    }
}

/// Serves `/metrics` alone on `listener` (when `api.metrics_listen` is set) until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(app)).with_graceful_shutdown(shutdown).await
}

async fn metrics_text(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(token) = &app.settings.metrics_token {
        let given = headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
        if !given.is_some_and(|given| same_secret(given, token.expose())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                "send the metrics token as a bearer token",
            )
                .into_response();
        }
    }
    match metrics::render(&app).await {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            let status = e.status_code();
            let _ = e.into_graphql(); // logs the cause under an id
            (status, "metrics unavailable").into_response()
        }
    }
}

/// Ready when the database (and, under the KurrentDB backend, the log) answers within a second
/// and every projection this process runs is running. When not, `reason` says why in words an operator can act on; the underlying error
/// is logged, not shown (it may name hosts).
async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<serde_json::Value>) {
    let app = &state.app;
    let pool_size = app.store.pool().status().max_size;
    let probe = async {
        let client = app.store.pool().get().await.map_err(|e| {
            let reason = match &e {
                deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => {
                    format!("all {pool_size} pooled database connections are busy and none came free (is the database answering?)")
                }
                deadpool_postgres::PoolError::Timeout(_) => "a new database connection could not be opened in time".to_owned(),
                _ => "the database refused or dropped the connection".to_owned(),
            };
            (reason, e.to_string())
        })?;
        client.simple_query("SELECT 1").await.map_err(|e| ("the database answered the probe with an error".to_owned(), e.to_string()))?;
        drop(client);
        if app.store.backend() == store::Backend::KurrentDb {
            store::EventStore::head(&app.store)
                .await
                .map_err(|e| ("the KurrentDB log did not answer (is the cluster reachable, with a leader?)".to_owned(), e.to_string()))?;
        }
        Ok::<_, (String, String)>(())
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
    let queued_appends = app.store.queued_appends();
    let not_ready = |database: &str, reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "not ready", "database": database, "reason": reason, "log": app.store.backend().name(), "queued_appends": queued_appends, "projections": projections }),
            ),
        )
    };
    match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Ok(())) if projections_ok => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "database": "ok", "log": app.store.backend().name(), "queued_appends": queued_appends, "projections": projections }),
            ),
        ),
        Ok(Ok(())) => not_ready("ok", "a projection is not running (see projections)".to_owned()),
        Ok(Err((reason, cause))) => {
            tracing::warn!(%cause, "readiness: database check failed");
            not_ready("unavailable", reason)
        }
        Err(_) => {
            tracing::warn!("readiness: database check timed out");
            not_ready("timeout", "the database did not answer within 1 s".to_owned())
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
