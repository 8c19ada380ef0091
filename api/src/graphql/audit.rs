//! Audit: the raw event log with its metadata, filtered by stream, type, actor, gateway and
//! time, with Relay cursors (the cursor is the log position). Live: `liveEvents`, the log as it
//! happens, for superusers.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Json, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use domain::Level;
use futures::StreamExt;
use futures::stream::BoxStream;
use store::AuditFilter;
use store::{Position, RecordedEvent};
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
            payload: Json(crate::audit::redact(e.payload.to_value())),
            actor: e.metadata.actor.to_string(),
            gateway: e.metadata.gateway.as_str().to_owned(),
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            recorded_at: e.recorded_at,
        }
    }
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
        crate::audit::check_filter(AuditFilter {
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
        let mut events = app.store.audit_page(&filter, cursor, newest_first.unwrap_or(false), limit + 1).await?;
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
        let viewer = ctx.require(crate::audit::LIVE_LEVEL, crate::audit::LIVE_LOG)?;
        let filter = filter.unwrap_or_default().validate()?;
        // Over a WebSocket, the token is re-checked every few seconds: the stream ends when it
        // is revoked or expires or its holder is no longer a superuser.
        let token = ctx.data_opt::<super::WsToken>().map(|t| t.0.clone());
        let events = crate::audit::live_events(ctx.app().clone(), viewer, filter, after.map(|p| p.0), token).await?;
        Ok(events.map(EventNode::from).boxed())
    }
}
