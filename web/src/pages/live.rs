//! The live log, for superusers: the event log as it happens, filtered by room, event type, actor
//! and gateway, each event opening to its metadata (position, time, stream, actor, gateway,
//! correlation and causation) and its payload as JSON.
//!
//! `/live` is a plain page: the newest matching events, oldest first, rendered by the server
//! (it works without JavaScript; "Show newer" reloads it). `live.js` then follows
//! `/live/stream`, server-sent events from the feed GraphQL's `liveEvents` follows
//! ([`api::audit::live_events`]: the same superuser check, filters and redaction), and appends
//! each event as it arrives. Every SSE event's id is its log position, and a stream starts after
//! `Last-Event-ID` (a reconnect) or `after` (the page's last event): nothing is skipped or
//! repeated between the page and the stream or across a reconnect. Pausing closes the stream
//! and resuming opens it after the last event shown, so what arrived meanwhile comes in order.

use std::convert::Infallible;
use std::time::Duration;

use api::audit::{LIVE_LEVEL, LIVE_LOG};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use domain::{Gateway, Nick};
use futures::{Stream, StreamExt};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use store::AuditFilter;
use store::{EventStore, Position, RecordedEvent};
use uuid::Uuid;

use crate::error::PageError;
use crate::session::{SESSION_COOKIE, SignedIn, cookie};
use crate::{WebState, assets, layout};

/// Events the page shows when it loads.
const RECENT: usize = 50;
/// Events the script keeps on the page (older ones leave it; the audit log keeps them all).
const KEPT: usize = 500;
/// Longest summary line.
const SUMMARY_CHARS: usize = 200;
/// How soon a browser reconnects after the stream ends (it resumes after its last event).
const RETRY: Duration = Duration::from_secs(1);

/// The filters, as the form sends them (empty: any).
#[derive(Debug, Default, Deserialize)]
pub struct LiveQuery {
    #[serde(default)]
    room: String,
    #[serde(default, rename = "type")]
    event_type: String,
    /// A nick, `user:<id>`, `system` or `anonymous`.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    gateway: String,
    /// The stream starts after this log position (unless the browser sends `Last-Event-ID`).
    #[serde(default)]
    after: String,
}

impl LiveQuery {
    /// The query string of these filters (for the stream's URL and "Show newer").
    fn filters(&self) -> String {
        serde_urlencoded::to_string([
            ("room", self.room.trim()),
            ("type", self.event_type.trim()),
            ("actor", self.actor.trim()),
            ("gateway", self.gateway.trim()),
        ])
        .unwrap_or_default()
    }

    /// The filters as the audit log takes them: a room is its stream, a nick is whoever holds
    /// it now. Checked by [`api::audit::check_filter`] like GraphQL's.
    async fn audit_filter(&self, state: &WebState) -> Result<AuditFilter, PageError> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let stream = match some(&self.room) {
            Some(room) => {
                let id = Uuid::parse_str(&room).map_err(|_| PageError::BadForm(format!("“{room}” is not a room id")))?;
                Some(domain::StreamName::room(id).as_str().to_owned())
            }
            None => None,
        };
        let actor = match some(&self.actor) {
            Some(actor) if actor.parse::<domain::Actor>().is_ok() => Some(actor),
            Some(nick) => {
                let refused =
                    || PageError::BadForm(format!("nobody has the nick “{nick}”; an actor is a nick, user:<id>, system or anonymous"));
                let fold = Nick::parse(&nick).map_err(|_| refused())?.casefold();
                let holder = state.app.read.user_level_by_nick(&fold).await?.ok_or_else(refused)?;
                Some(domain::Actor::User(holder.user_id).to_string())
            }
            None => None,
        };
        let filter = AuditFilter { stream, event_type: some(&self.event_type), actor, gateway: some(&self.gateway), from: None, to: None };
        Ok(api::audit::check_filter(filter)?)
    }
}

/// One event as the page shows it and the stream sends it (JSON, for `live.js`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    position: String,
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: i16,
    stream: String,
    stream_version: u64,
    actor: String,
    gateway: &'static str,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    /// RFC 3339, milliseconds, UTC.
    recorded_at: String,
    /// `HH:MM:SS` UTC, for the summary line.
    time: String,
    /// One line about what happened (who said what, the nick, the topic …).
    summary: String,
    /// The payload, secrets redacted, pretty-printed.
    payload: String,
}

impl From<&RecordedEvent> for Entry {
    fn from(e: &RecordedEvent) -> Self {
        let payload = api::audit::redact(e.payload.to_value());
        Self {
            position: e.position.to_string(),
            id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            stream: e.stream.as_str().to_owned(),
            stream_version: e.stream_version,
            actor: e.metadata.actor.to_string(),
            gateway: e.metadata.gateway.as_str(),
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            recorded_at: e.recorded_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            time: e.recorded_at.format("%H:%M:%S").to_string(),
            summary: summary(&payload),
            payload: serde_json::to_string_pretty(&payload).unwrap_or_default(),
        }
    }
}

/// Who said what for a message; otherwise the payload's telling fields, by name (a member's or
/// a target's nick from inside their reference).
fn summary(payload: &serde_json::Value) -> String {
    let text = |key: &str| payload.get(key).and_then(serde_json::Value::as_str);
    let nick_in = |key: &str| payload.get(key).and_then(|inner| inner.get("nick")).and_then(serde_json::Value::as_str);
    let line = match (text("author_nick"), text("body")) {
        (Some(nick), Some(body)) => format!("<{nick}> {body}"),
        (None, Some(body)) => body.to_owned(),
        _ => [
            ("nick", text("nick")),
            ("new nick", text("new_nick")),
            ("member", nick_in("member")),
            ("target", nick_in("target")),
            ("topic", text("topic")),
            ("name", text("name")),
            ("channel", text("channel")),
            ("reason", text("reason")),
        ]
        .into_iter()
        .filter_map(|(label, value)| value.map(|value| format!("{label}: {value}")))
        .collect::<Vec<_>>()
        .join(", "),
    };
    match line.char_indices().nth(SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// One event in the list; `live.js` builds the same structure for the events it appends.
fn entry(e: &Entry) -> Markup {
    html! {
        li.event data-position=(e.position) {
            details {
                summary {
                    time datetime=(e.recorded_at) { (e.time) }
                    " " code.type { (e.event_type) }
                    " " span.gateway { (e.gateway) }
                    " " span.summary { (e.summary) }
                }
                dl.facts {
                    dt { "Position" } dd { code { (e.position) } }
                    dt { "Recorded" } dd { (e.recorded_at) }
                    dt { "Stream" } dd { code { (e.stream) } " (version " (e.stream_version) ")" }
                    dt { "Event id" } dd { code { (e.id) } }
                    dt { "Actor" } dd { code { (e.actor) } }
                    dt { "Gateway" } dd { (e.gateway) }
                    dt { "Correlation" } dd { code { (e.correlation_id) } }
                    dt { "Causation" } dd { @match e.causation_id { Some(id) => { code { (id) } } None => { "—" } } }
                    dt { "Schema version" } dd { (e.schema_version) }
                }
                pre.payload { code { (e.payload) } }
            }
        }
    }
}

fn select(name: &str, label: &str, chosen: &str, options: &[(String, String)]) -> Markup {
    let id = format!("live-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                option value="" selected[chosen.is_empty()] { "Any" }
                @for (value, text) in options { option value=(value) selected[chosen.trim() == value] { (text) } }
            }
        }
    }
}

/// `GET /live`: the filters, the newest matching events, and the hooks for `live.js`.
pub async fn live_log(State(state): State<WebState>, signed_in: SignedIn, Query(query): Query<LiveQuery>) -> Result<Markup, PageError> {
    signed_in.require(LIVE_LEVEL, LIVE_LOG)?;
    let filter = query.audit_filter(&state).await?;
    let app = &state.app;
    // The head before the page's read: with no matching event below the read's watermark, the
    // stream starts there, and whatever matches after it was not on the page.
    let head = app.store.head().await?;
    let mut events = app.store.audit_page(&filter, None, true, RECENT).await?;
    events.reverse();
    let after = events.last().map_or(head, |e| e.position);
    let entries: Vec<Entry> = events.iter().map(Entry::from).collect();
    let rooms: Vec<(String, String)> = app.read.rooms(None).await?.into_iter().map(|r| (r.room_id.to_string(), r.name)).collect();
    let types: Vec<(String, String)> = domain::EVENT_TYPES.iter().map(|t| (t.to_string(), t.to_string())).collect();
    let gateways: Vec<(String, String)> = Gateway::ALL.iter().map(|g| (g.as_str().to_owned(), g.as_str().to_owned())).collect();
    let filters = query.filters();
    let stream_url = format!("/live/stream?{filters}");
    Ok(layout::page(
        &signed_in.visitor,
        "Live log",
        html! {
            p.lead { "Every event as it is recorded. Open one for its metadata and payload." }
            form.live-filters method="get" action="/live" {
                (select("room", "Room", &query.room, &rooms))
                (select("type", "Event type", &query.event_type, &types))
                div.field {
                    label for="live-actor" { "Actor" }
                    small.hint id="live-actor-hint" { "A nick, user:<id>, system or anonymous" }
                    input id="live-actor" name="actor" type="text" value=(query.actor.trim()) autocomplete="off" aria-describedby="live-actor-hint";
                }
                (select("gateway", "Gateway", &query.gateway, &gateways))
                div.buttons {
                    button type="submit" { "Filter" }
                    a href="/live" { "Clear filters" }
                }
            }
            div.live-controls {
                button #live-pause type="button" hidden { "Pause" }
                p #live-status role="status" { "Showing the newest " (entries.len()) " events. " a href=(format!("/live?{filters}")) { "Show newer" } }
            }
            @if entries.is_empty() { p #live-empty { "No matching events yet." } }
            ol.live-log #live-log data-stream=(stream_url) data-after=(after.to_string()) data-kept=(KEPT) {
                @for e in &entries { (entry(e)) }
            }
            script src=(assets::url("live.js")) defer {}
        },
    ))
}

/// `GET /live/stream`: server-sent events, one per matching event (its id the log position,
/// its data the [`Entry`] as JSON), after `Last-Event-ID`, else `after`, else from now.
pub async fn live_stream(
    State(state): State<WebState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> Result<Response, PageError> {
    signed_in.require(LIVE_LEVEL, LIVE_LOG)?;
    let filter = query.audit_filter(&state).await?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let after = match resume.or(Some(query.after.trim()).filter(|v| !v.is_empty())) {
        Some(position) => Some(
            position
                .parse::<Position>()
                .map_err(|_| PageError::BadForm(format!("“{position}” is not a log position this site gave out")))?,
        ),
        None => None,
    };
    let session = cookie(&headers, SESSION_COOKIE).map(str::to_owned);
    let events = api::audit::live_events(state.app.clone(), &signed_in.viewer, filter, after, session).await?;
    let mut response = Sse::new(sse_events(events)).keep_alive(KeepAlive::default()).into_response();
    // Proxies that buffer responses (nginx) would hold the events back.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn sse_events(events: impl Stream<Item = RecordedEvent> + Send + 'static) -> impl Stream<Item = Result<Event, Infallible>> {
    let retry = futures::stream::once(async { Ok(Event::default().retry(RETRY)) });
    retry.chain(events.map(|e| {
        let entry = Entry::from(&e);
        let data = serde_json::to_string(&entry).expect("an entry is plain JSON");
        Ok(Event::default().id(entry.position).data(data))
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_message_is_summed_up_as_who_said_what() {
        assert_eq!(summary(&json!({ "author_nick": "bob", "body": "<script>hi</script>" })), "<bob> <script>hi</script>");
        assert_eq!(summary(&json!({ "nick": "bob", "room_id": "x" })), "nick: bob");
        assert_eq!(summary(&json!({ "member": { "nick": "bob" }, "gateway": "irc" })), "member: bob");
        assert_eq!(summary(&json!({ "room_id": "x" })), "");
        let long = "é".repeat(SUMMARY_CHARS + 10);
        assert_eq!(summary(&json!({ "body": long })).chars().count(), SUMMARY_CHARS + 1);
    }

    #[test]
    fn the_filters_round_trip_through_the_stream_url() {
        let query = LiveQuery { room: " r ".into(), event_type: "room.message_posted".into(), actor: "bob".into(), ..Default::default() };
        assert_eq!(query.filters(), "room=r&type=room.message_posted&actor=bob&gateway=");
    }
}
