//! The GraphQL schema: one module per area, each with its `…Query` / `…Mutation`, merged at the
//! root. Shared here: the request context (viewer, app), scalars and inputs used by several
//! areas (`Position`, `AsOf`), read-your-writes waiting, and level checks.
//!
//! `schema.graphql` at the repository root is [`sdl()`]; `switchboard schema` rewrites it and a
//! test fails when it drifts.

mod accounts;
mod admission;
mod audit;
mod history;
mod moderation;
mod rooms;
pub mod types;
mod users;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe};
use async_graphql::{Context, MergedObject, MergedSubscription, Request, Response, Schema, ServerResult};
use domain::{Actor, Gateway, Level, Metadata};
use projections::AsOf as ReadAsOf;
use uuid::Uuid;

use crate::App;
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult, Code};

pub use admission::Introspection;
pub use types::{AsOf, LogPosition};

#[derive(MergedObject, Default)]
pub struct Query(accounts::AccountsQuery, users::UsersQuery, rooms::RoomsQuery, history::HistoryQuery, audit::AuditQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(accounts::AccountsMutation, rooms::RoomsMutation, moderation::ModerationMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(audit::LiveSubscription);

pub type SwitchboardSchema = Schema<Query, Mutation, Subscription>;

/// The bearer token a WebSocket connection was opened with. The viewer is looked up again for
/// every operation on the connection ([`RequestSetup`]), so a revoked token, an expiry or a
/// demotion takes effect at once rather than when the socket closes.
#[derive(Clone)]
pub struct WsToken(pub String);

/// How many database lookups one request may make. Aliases and nested lists multiply work in a
/// way the complexity limit (which counts fields) does not see; this bounds it directly.
pub struct QueryBudget(std::sync::atomic::AtomicI64);

/// Per request: a fresh [`QueryBudget`], and for WebSocket operations the viewer of the
/// connection's token as of now.
struct RequestSetup;

impl ExtensionFactory for RequestSetup {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestSetup)
    }
}

#[async_trait::async_trait]
impl Extension for RequestSetup {
    async fn prepare_request(&self, ctx: &ExtensionContext<'_>, request: Request, next: NextPrepareRequest<'_>) -> ServerResult<Request> {
        let app = ctx.data_unchecked::<Arc<App>>();
        let viewer = match ctx.data_opt::<WsToken>() {
            // Invalid now (revoked, expired): the operation runs signed out and says so.
            Some(WsToken(token)) => crate::auth::viewer_for_token(&app.read, token).await.ok(),
            None => None,
        };
        let request = admitted(app, request, viewer).map_err(|e| e.into_graphql().into_server_error(Default::default()))?;
        next.run(ctx, request).await
    }
}

/// Gives every error a stable `extensions.code`. Errors from our resolvers carry one already;
/// those raised by async-graphql itself (syntax, unknown fields, wrong argument types, depth
/// and complexity limits) are the client's to fix: `BAD_USER_INPUT`.
struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_error_codes(next.run(ctx).await)
    }

    /// WebSocket operations (queries and mutations too) run as streams: `request` never sees
    /// them, so their responses are mapped here.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: futures::stream::BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> futures::stream::BoxStream<'s, Response> {
        use futures::StreamExt;
        next.run(ctx, stream).map(with_error_codes).boxed()
    }
}

/// `request` checked before anything runs ([`admission`]: NUL characters, cost, introspection,
/// mutations paid up front), with its viewer and a fresh lookup budget ([`QueryBudget`]).
/// Without a budget, `spend` never refuses: every way in must come through here.
pub(crate) fn admitted(app: &App, mut request: Request, viewer: Option<Viewer>) -> ApiResult<Request> {
    let budget = Arc::new(QueryBudget(std::sync::atomic::AtomicI64::new(app.settings.max_lookups as i64)));
    admission::admit(app, &mut request, viewer.is_some(), Some(&budget))?;
    Ok(request.data(budget).data(viewer))
}

/// Every error of `response` with an `extensions.code` (see [`ErrorCodes`]).
pub(crate) fn with_error_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Code::BadUserInput.as_str());
        }
    }
    response
}

/// Where the request came from (the login limiter counts per address).
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo {
    pub peer: Option<IpAddr>,
}

/// Largest page any list returns; asking for more is `BAD_USER_INPUT`, not silently capped, so
/// a script learns it must paginate.
pub const MAX_PAGE: i32 = 500;
/// Page size when `first` is not given.
pub const DEFAULT_PAGE: i32 = 50;

/// The schema for WebSocket operations: the lookup budget, the viewer re-checked per operation
/// and the error codes come from two extensions (a WebSocket has no per-operation hook of its
/// own).
pub fn schema(app: Arc<App>) -> SwitchboardSchema {
    build(app, true)
}

/// The schema for HTTP requests: the same, without extensions; the handler attaches the budget
/// ([`admitted`]) and sets the error codes ([`with_error_codes`]) itself. With any extension
/// installed, async-graphql runs every field's resolution through the extension chain (boxed
/// futures per field): about a tenth of the CPU of a 2,000-member answer (BENCHMARKS.md).
pub fn http_schema(app: Arc<App>) -> SwitchboardSchema {
    build(app, false)
}

fn build(app: Arc<App>, extensions: bool) -> SwitchboardSchema {
    let settings = &app.settings;
    let builder = Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity)
        // Aliases and repeated fragments can make a small query expensive; this bounds the
        // number of distinct fields one request may ask for.
        .limit_recursive_depth(32)
        .limit_directives(10);
    let builder = if extensions { builder.extension(ErrorCodes).extension(RequestSetup) } else { builder };
    builder.data(app).finish()
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription::default()).finish().sdl()
}

/// What resolvers reach through their context.
pub(crate) trait ContextExt {
    fn app(&self) -> &Arc<App>;
    fn viewer(&self) -> Option<&Viewer>;
    fn peer(&self) -> Option<IpAddr>;

    /// The signed-in viewer, or `UNAUTHENTICATED`.
    fn signed_in(&self) -> ApiResult<&Viewer> {
        self.viewer().ok_or_else(ApiError::unauthenticated)
    }

    /// The viewer, who must be at least `level`.
    fn require(&self, level: Level, what: &str) -> ApiResult<&Viewer> {
        let viewer = self.signed_in()?;
        viewer.require(level, what)?;
        Ok(viewer)
    }

    /// Counts one database lookup against the request's budget.
    fn spend(&self) -> ApiResult<()>;

    /// Metadata for the events a mutation appends: the viewer as actor, the `api` gateway.
    fn metadata(&self) -> Metadata {
        let actor = self.viewer().map_or(Actor::Anonymous, |v| Actor::User(v.user_id));
        Metadata::new(actor, Gateway::Api)
    }
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &Arc<App> {
        self.data_unchecked::<Arc<App>>()
    }
    fn viewer(&self) -> Option<&Viewer> {
        self.data_opt::<Option<Viewer>>().and_then(Option::as_ref)
    }
    fn peer(&self) -> Option<IpAddr> {
        self.data_opt::<RequestInfo>().and_then(|r| r.peer)
    }
    fn spend(&self) -> ApiResult<()> {
        match self.data_opt::<Arc<QueryBudget>>() {
            Some(budget) if budget.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) <= 0 => Err(ApiError::bad_input(format!(
                "this request needs more than {} lookups; ask for fewer aliases, lists or nested lists, or paginate",
                self.app().settings.max_lookups
            ))),
            _ => Ok(()),
        }
    }
}

/// Read-your-writes: waits until the named projections have applied everything up to
/// `position` (the value a mutation returned), at most the configured timeout. Uses this
/// process's runners when they run those projections, otherwise watches the checkpoint rows
/// (another process runs them).
pub(crate) async fn wait_for(app: &App, position: Option<&LogPosition>, projections: &[&str]) -> ApiResult<()> {
    let Some(position) = position else { return Ok(()) };
    let position = position.0;
    app.store.check_position(position)?;
    let timeout = Duration::from_millis(app.settings.wait_timeout_ms);
    if let Some(runners) = &app.runners
        && runners.run_here(projections)
    {
        return Ok(runners.wait_for(position, projections, timeout).await?);
    }
    app.read.wait_for(position, projections, timeout).await.map_err(ApiError::from)
}

/// Turns the GraphQL `asOf` into the read-model form.
pub(crate) fn read_as_of(as_of: Option<&AsOf>) -> ApiResult<ReadAsOf> {
    Ok(match as_of {
        None => ReadAsOf::Now,
        Some(AsOf::Time(t)) => ReadAsOf::Time(*t),
        Some(AsOf::Position(p)) => ReadAsOf::Position(p.0),
    })
}

/// Page size from `first`: default 50, at most [`MAX_PAGE`].
pub(crate) fn page_size(first: Option<i32>) -> ApiResult<i64> {
    match first {
        None => Ok(DEFAULT_PAGE as i64),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n as i64),
        Some(n) => Err(ApiError::bad_input(format!("`first` must be between 1 and {MAX_PAGE}; got {n}"))),
    }
}

/// A user id from a nick (case-insensitive) via the users read model.
pub(crate) async fn user_by_nick(app: &App, nick: &str) -> ApiResult<(Uuid, Level)> {
    let nick = domain::Nick::parse(nick)?;
    let user = app.read.user_level_by_nick(&nick.casefold()).await?;
    let user = user.ok_or_else(|| ApiError::not_found(format!("nobody is called {nick}")))?;
    Ok((user.user_id, level_of(user.level)))
}

/// The current level of a user (guest when unknown).
pub(crate) async fn level_of_user(app: &App, user_id: Uuid) -> ApiResult<Level> {
    Ok(app.read.current_level(user_id).await?.map_or(Level::Guest, level_of))
}

/// A gateway filter must name one (`irc`, `sms`, `api`, `system`): a typo is refused, not
/// answered with an empty page.
pub(crate) fn parse_gateway(gateway: Option<&str>) -> ApiResult<Option<Gateway>> {
    gateway.map(str::parse).transpose().map_err(|_| ApiError::bad_input("`gateway` is `irc`, `sms`, `api` or `system`"))
}

/// A stored level number as a [`Level`] (guest when out of range).
pub fn level_of(stored: i16) -> Level {
    u8::try_from(stored).ok().and_then(|l| Level::try_from(l).ok()).unwrap_or(Level::Guest)
}
