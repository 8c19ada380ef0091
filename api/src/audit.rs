//! The audit log's rules, shared by GraphQL (`events`, `liveEvents`) and the web app's live log:
//! which filters are valid ([`check_filter`]), which payload fields are never shown
//! ([`redact`]), and the live feed itself ([`live_events`]): every new event as it is recorded,
//! filtered, from a log position, for superusers only, ending when the session that opened it
//! ends.
//!
//! The feed is the store's gap-free subscription (`EventStore::subscribe_all`), so a consumer
//! that remembers the position of the last event it received and opens a new feed after it
//! sees every later matching event exactly once, in log order.

use std::sync::Arc;
use std::time::Duration;

use domain::{Actor, Level};
use futures::StreamExt;
use futures::stream::BoxStream;
use store::AuditFilter;
use store::{EventStore, Filter, Position, RecordedEvent};

use crate::App;
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};

/// What the live feed is called in refusals; it needs [`LIVE_LEVEL`].
pub const LIVE_LOG: &str = "the live event log";
pub const LIVE_LEVEL: Level = Level::Superuser;

/// How often a live feed re-checks the session that opened it.
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// Checks every field of a filter, so that a typo is an error rather than an empty page.
pub fn check_filter(filter: AuditFilter) -> ApiResult<AuditFilter> {
    if let Some(stream) = &filter.stream
        && (stream.is_empty() || stream.len() > 200 || stream.chars().any(char::is_control))
    {
        return Err(ApiError::bad_input("`stream` is a stream name (`room-<id>`) or a category (`room`)"));
    }
    if let Some(t) = &filter.event_type
        && !domain::EVENT_TYPES.contains(&t.as_str())
    {
        return Err(ApiError::bad_input(format!("no event type is called {:?}", t.chars().take(100).collect::<String>())));
    }
    if let Some(actor) = &filter.actor {
        actor.parse::<Actor>().map_err(|_| ApiError::bad_input("`actor` is `user:<id>`, `system` or `anonymous`"))?;
    }
    crate::graphql::parse_gateway(filter.gateway.as_deref())?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(ApiError::bad_input("`to` is before `from`"));
    }
    Ok(filter)
}

/// Payload fields that are secrets at rest (argon2 password hashes, token hashes): replaced in
/// what the audit log shows, so staff reading the log cannot crack or replay them.
const SECRET_FIELDS: [&str; 2] = ["password_hash", "token_hash"];

/// The payload as the audit log shows it: every secret field, at any depth, replaced.
pub fn redact(mut payload: serde_json::Value) -> serde_json::Value {
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

/// Whether `event` passes the parts of `filter` the database does not apply (one stream, the
/// actor, the gateway; time bounds do not apply to a live feed).
fn passes(filter: &AuditFilter, event: &RecordedEvent) -> bool {
    filter.stream.as_ref().is_none_or(|s| !s.contains('-') || event.stream.as_str() == s)
        && filter.actor.as_ref().is_none_or(|a| event.metadata.actor.to_string() == *a)
        && filter.gateway.as_ref().is_none_or(|g| event.metadata.gateway.as_str() == g)
}

/// Every new event matching `filter` (checked with [`check_filter`] first), after `after` (a
/// reconnect resumes exactly there) or, without it, from now. Only for [`LIVE_LEVEL`].
///
/// With `session`, the token that opened the feed is re-checked every few seconds, and the
/// feed ends when it is revoked or expires or its holder is no longer a superuser. A read
/// error ends the feed too (logged): the consumer reconnects after its last position.
pub async fn live_events(
    app: Arc<App>,
    viewer: &Viewer,
    filter: AuditFilter,
    after: Option<Position>,
    session: Option<String>,
) -> ApiResult<BoxStream<'static, RecordedEvent>> {
    viewer.require(LIVE_LEVEL, LIVE_LOG)?;
    let filter = check_filter(filter)?;
    let start = match after {
        Some(p) => p,
        None => app.store.head().await?,
    };
    // Type and category are filtered in the database; the rest in `passes`.
    let mut store_filter = Filter::all();
    if let Some(t) = &filter.event_type {
        store_filter.event_types = vec![t.clone()];
    }
    if let Some(s) = &filter.stream {
        let category = s.split_once('-').map_or(s.as_str(), |(category, _)| category);
        store_filter.categories = vec![category.to_owned()];
    }
    let events = app.store.subscribe_all(start, store_filter);
    let watch_app = app.clone();
    let ended = async move {
        let Some(token) = session else { return futures::future::pending::<()>().await };
        loop {
            tokio::time::sleep(SESSION_RECHECK).await;
            match crate::auth::viewer_for_token(&watch_app.read, &token).await {
                Ok(viewer) if viewer.level >= LIVE_LEVEL => continue,
                _ => return,
            }
        }
    };
    Ok(events
        .take_until(Box::pin(ended))
        .take_while(|item| {
            let ok = item.is_ok();
            if let Err(e) = item {
                tracing::warn!(error = %e, "live event feed ended");
            }
            futures::future::ready(ok)
        })
        .filter_map(move |item| futures::future::ready(item.ok().filter(|e| passes(&filter, e))))
        .boxed())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_fields_are_redacted_at_any_depth() {
        let shown = redact(json!({ "password_hash": "$argon2id$…", "inner": { "token_hash": "abc", "kept": 1 }, "nick": "bob" }));
        assert_eq!(shown, json!({ "password_hash": "[redacted]", "inner": { "token_hash": "[redacted]", "kept": 1 }, "nick": "bob" }));
    }

    #[test]
    fn a_filter_with_an_unknown_type_actor_or_gateway_is_refused() {
        for bad in [
            AuditFilter { event_type: Some("room.nothing".into()), ..Default::default() },
            AuditFilter { actor: Some("bob".into()), ..Default::default() },
            AuditFilter { gateway: Some("fax".into()), ..Default::default() },
            AuditFilter { stream: Some(String::new()), ..Default::default() },
        ] {
            assert!(check_filter(bad).is_err());
        }
        let good = AuditFilter { event_type: Some("room.message_posted".into()), gateway: Some("irc".into()), ..Default::default() };
        assert_eq!(check_filter(good.clone()).unwrap(), good);
    }
}
