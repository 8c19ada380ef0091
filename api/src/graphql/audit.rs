//! Audit: the raw event log with its metadata, filtered by stream, type, actor, gateway and
//! time, with Relay cursors (the cursor is the log position). Live: `liveEvents`, the log as it
//! happens, for superusers.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Json, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use domain::{Actor, Level};
use futures::StreamExt;
use futures::stream::BoxStream;
use store::postgres::audit::{AuditFilter, audit_page};
use store::{EventStore, Filter, Position, RecordedEvent};
use uuid::Uuid;

use super::types::LogPosition;
use super::{ContextExt, page_size};
use crate::error::{ApiError, ApiResult};

#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Event")]
pub struct EventNode {
    pub position: LogPosition,
    pub stream: String,
    pub stream_version: i64,
    pub id: Uuid,
    /// The stored type name, e.g. `room.user_banned`.
    #[graphql(name = "type")]
    pub event_type: String,
    pub schema_version: i32,
    /// The event's payload as stored (JSON).
    pub payload: Json<serde_json::Value>,
    /// `user:<id>`, `system` or `anonymous`.
    pub actor: String,
    /// `irc`, `sms`, `api` or `system`.
    pub gateway: String,
    /// Shared by every event one outside request caused.
    pub correlation_id: Uuid,
    /// The event (or request) that directly caused this one.
    pub causation_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

impl From<RecordedEvent> for EventNode {
    fn from(e: RecordedEvent) -> Self {
        Self {
            position: LogPosition(e.position),
            stream: e.stream.as_str().to_owned(),
            stream_version: e.stream_version as i64,
            id: e.event_id,
            event_type: e.event_type,
            schema_version: e.schema_version as i32,
            payload: Json(redact(e.payload.to_value())),
            actor: e.metadata.actor.to_string(),
            gateway: e.metadata.gateway.as_str().to_owned(),
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            recorded_at: e.recorded_at,
        }
    }
}

/// Payload fields that are secrets at rest (argon2 password hashes, token hashes): replaced in
/// what the audit log shows, so staff reading the log cannot crack or replay them.
const SECRET_FIELDS: [&str; 2] = ["password_hash", "token_hash"];

fn redact(mut payload: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(map) = &mut payload {
        for (key, value) in map.iter_mut() {
            if SECRET_FIELDS.contains(&key.as_str()) {
                *value = serde_json::Value::String("[redacted]".to_owned());
            } else if value.is_object() {
                *value = redact(value.take());
            }
        }
    }
    payload
}

/// Narrows the log; every field is optional and they combine with AND.
#[derive(InputObject, Default, Clone, Debug)]
pub struct EventFilter {
    /// A stream (`room-<id>`), or a whole category (`room`, `user`, `delivery`).
    pub stream: Option<String>,
    /// A stored event type, e.g. `room.user_banned`.
    #[graphql(name = "type")]
    pub event_type: Option<String>,
    /// `user:<id>`, `system` or `anonymous`.
    pub actor: Option<String>,
    /// `irc`, `sms`, `api` or `system`.
    pub gateway: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
}

impl EventFilter {
    /// Checks every field so that a typo is an error rather than an empty page.
    fn validate(self) -> ApiResult<AuditFilter> {
        if let Some(stream) = &self.stream
            && (stream.is_empty() || stream.len() > 200 || stream.chars().any(char::is_control))
        {
            return Err(ApiError::bad_input("`stream` is a stream name (`room-<id>`) or a category (`room`)"));
        }
        if let Some(t) = &self.event_type
            && !domain::EVENT_TYPES.contains(&t.as_str())
        {
            return Err(ApiError::bad_input(format!("no event type is called {:?}", t.chars().take(100).collect::<String>())));
        }
        if let Some(actor) = &self.actor {
            actor.parse::<Actor>().map_err(|_| ApiError::bad_input("`actor` is `user:<id>`, `system` or `anonymous`"))?;
        }
        super::parse_gateway(self.gateway.as_deref())?;
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(ApiError::bad_input("`to` is before `from`"));
        }
        Ok(AuditFilter {
            stream: self.stream,
            event_type: self.event_type,
            actor: self.actor,
            gateway: self.gateway,
            from: self.from,
            to: self.to,
        })
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The raw event log, oldest first (or `newestFirst`), a page at a time. The cursor of each
    /// edge is its log position. Staff.
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        first: Option<i32>,
        after: Option<String>,
        newest_first: Option<bool>,
    ) -> ApiResult<Connection<String, EventNode, EmptyFields, EmptyFields>> {
        ctx.spend()?;
        ctx.require(Level::Staff, "the audit log")?;
        let limit = page_size(first)? as usize;
        let filter = filter.unwrap_or_default().validate()?;
        let cursor = after.as_deref().map(str::parse::<Position>).transpose()?;
        let app = ctx.app();
        let mut events = audit_page(app.store.pool(), &filter, cursor, newest_first.unwrap_or(false), limit + 1).await?;
        let has_next = events.len() > limit;
        events.truncate(limit);
        let mut connection = Connection::new(cursor.is_some(), has_next);
        connection.edges.extend(events.into_iter().map(|e| Edge::new(e.position.to_string(), EventNode::from(e))));
        Ok(connection)
    }
}

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// Every new event as it is recorded, filtered (time bounds are ignored). With `after`,
    /// starts right after that position (resume after a reconnect) instead of now. Superusers.
    async fn live_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        after: Option<LogPosition>,
    ) -> Result<BoxStream<'static, EventNode>, ApiError> {
        ctx.require(Level::Superuser, "the live event log")?;
        let filter = filter.unwrap_or_default().validate()?;
        let app = ctx.app().clone();
        let start = match after {
            Some(p) => p.0,
            None => app.store.head().await?,
        };
        // Type and category are filtered in the database; the rest here.
        let mut store_filter = Filter::all();
        if let Some(t) = &filter.event_type {
            store_filter.event_types = vec![t.clone()];
        }
        if let Some(s) = filter.stream.as_ref().filter(|s| !s.contains('-')) {
            store_filter.categories = vec![s.clone()];
        }
        let events = app.store.subscribe_all(start, store_filter);
        // Over a WebSocket, the token is re-checked every few seconds: the stream ends when it
        // is revoked or expires or its holder is no longer a superuser.
        let token = ctx.data_opt::<super::WsToken>().map(|t| t.0.clone());
        let watch_app = app.clone();
        let revoked = async move {
            let Some(token) = token else { return futures::future::pending::<()>().await };
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                match crate::auth::viewer_for_token(&watch_app.read, &token).await {
                    Ok(viewer) if viewer.level >= Level::Superuser => continue,
                    _ => return,
                }
            }
        };
        Ok(events
            .take_until(Box::pin(revoked))
            .take_while(|item| {
                let ok = item.is_ok();
                if let Err(e) = item {
                    tracing::warn!(error = %e, "live event subscription ended");
                }
                futures::future::ready(ok)
            })
            .filter_map(move |item| {
                let keep = item.ok().filter(|e| {
                    filter.stream.as_ref().is_none_or(|s| !s.contains('-') || e.stream.as_str() == s)
                        && filter.actor.as_ref().is_none_or(|a| e.metadata.actor.to_string() == *a)
                        && filter.gateway.as_ref().is_none_or(|g| e.metadata.gateway.as_str() == g)
                });
                futures::future::ready(keep.map(EventNode::from))
            })
            .boxed())
    }
}
