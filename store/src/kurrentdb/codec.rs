//! How Switchboard's events are written as KurrentDB events and read back, and how a
//! [`Filter`] becomes a server-side filter.
//!
//! A KurrentDB event carries an id, a type, JSON data and opaque custom metadata. The payload is
//! the data (content type JSON); the custom metadata is a small JSON envelope with what KurrentDB
//! has no field for: the schema version, whether the event is inert (decision fences), and the
//! event's [`Metadata`]. The time is the server's `created` stamp, read at its full precision
//! (100 ns ticks) from the raw metadata rather than the client's whole-second `created` field.

use chrono::{DateTime, Utc};
use domain::{Metadata, StreamName};
use kurrentdb::{EventData, SubscriptionFilter};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::limits::{MAX_EVENT_PAYLOAD_BYTES, valid_event_type};
use crate::types::{Filter, NewEvent, Position, RecordedEvent, StoredJson};

/// KurrentDB's default `MaxAppendSize`: the server refuses a bigger append.
pub const MAX_APPEND_BYTES: usize = 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    schema_version: i16,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    inert: bool,
    metadata: Metadata,
    /// When the event was first recorded, for an event copied from another log (`log copy`):
    /// KurrentDB stamps `created` itself and takes no time from a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recorded_at: Option<DateTime<Utc>>,
}

/// The events of one append as the client sends them, checked against the store's limits
/// and KurrentDB's append size before anything is sent.
pub(crate) fn encode_all(events: &[NewEvent]) -> Result<Vec<EventData>, StoreError> {
    let mut size = 0;
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        if !valid_event_type(&event.event_type) {
            return Err(StoreError::InvalidEventType(event.event_type.chars().take(80).collect()));
        }
        let payload = serde_json::to_vec(&event.payload).expect("a serde_json::Value always serialises");
        if payload.len() > MAX_EVENT_PAYLOAD_BYTES {
            return Err(StoreError::PayloadTooLarge { event_id: event.event_id, size: payload.len(), limit: MAX_EVENT_PAYLOAD_BYTES });
        }
        let envelope =
            Envelope { schema_version: event.schema_version, inert: event.inert, metadata: event.metadata.clone(), recorded_at: None };
        let metadata = serde_json::to_vec(&envelope).expect("metadata always serialises");
        size += payload.len() + metadata.len() + event.event_type.len();
        if size > MAX_APPEND_BYTES {
            return Err(StoreError::AppendTooLarge { size, limit: MAX_APPEND_BYTES });
        }
        // Serialised again by the client (its JSON constructor takes a value): the same bytes.
        let data = EventData::json(&event.event_type, &event.payload)
            .map_err(|e| StoreError::Kurrent(format!("encoding event {}: {e}", event.event_id)))?
            .id(event.event_id)
            .metadata(metadata.into());
        encoded.push(data);
    }
    Ok(encoded)
}

/// Events copied from another log, as the client sends them: each keeps its id, type, payload,
/// metadata and the time it was first recorded (in the envelope). Checked against
/// KurrentDB's append size.
pub(crate) fn encode_copied(events: &[RecordedEvent]) -> Result<Vec<EventData>, StoreError> {
    let mut size = 0;
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        let envelope = Envelope {
            schema_version: event.schema_version,
            inert: false,
            metadata: event.metadata.clone(),
            recorded_at: Some(event.recorded_at),
        };
        let metadata = serde_json::to_vec(&envelope).expect("metadata always serialises");
        let payload = event.payload.as_str().as_bytes();
        size += payload.len() + metadata.len() + event.event_type.len();
        if size > MAX_APPEND_BYTES {
            return Err(StoreError::AppendTooLarge { size, limit: MAX_APPEND_BYTES });
        }
        let data = EventData::json(&event.event_type, &event.payload.to_value())
            .map_err(|e| StoreError::Kurrent(format!("encoding event {}: {e}", event.event_id)))?
            .id(event.event_id)
            .metadata(metadata.into());
        encoded.push(data);
    }
    Ok(encoded)
}

/// A recorded KurrentDB event as the store's [`RecordedEvent`]; `None` for KurrentDB's own
/// system events (`$`-prefixed streams or types), which are not Switchboard's log.
pub(crate) fn decode(event: &kurrentdb::RecordedEvent) -> Result<Option<RecordedEvent>, StoreError> {
    if is_system(event.stream_id(), &event.event_type) {
        return Ok(None);
    }
    let position = Position::kurrent(event.position.commit, event.position.prepare);
    let envelope: Envelope = serde_json::from_slice(&event.custom_metadata)
        .map_err(|e| StoreError::BadMetadata { event_id: event.id, reason: format!("not a Switchboard event envelope: {e}") })?;
    let payload = StoredJson::checked(&event.data).map_err(|reason| StoreError::Decode {
        position,
        event_id: event.id,
        source: domain::DecodeError::BadPayload { event_type: event.event_type.clone(), version: envelope.schema_version, reason },
    })?;
    Ok(Some(RecordedEvent {
        position,
        stream: StreamName::parse(event.stream_id())?,
        stream_version: event.revision,
        event_id: event.id,
        event_type: event.event_type.clone(),
        schema_version: envelope.schema_version,
        payload,
        metadata: envelope.metadata,
        recorded_at: envelope.recorded_at.unwrap_or_else(|| created(event)),
    }))
}

/// Whether a stored event was marked inert (see [`NewEvent::inert`]); an event that is not
/// Switchboard's counts as fencing, the safe side.
pub(crate) fn is_inert(event: &kurrentdb::RecordedEvent) -> bool {
    serde_json::from_slice::<Envelope>(&event.custom_metadata).is_ok_and(|e| e.inert)
}

pub(crate) fn is_system(stream: &str, event_type: &str) -> bool {
    stream.starts_with('$') || event_type.starts_with('$')
}

/// The server's `created` stamp: 100 ns ticks since the Unix epoch.
fn created(event: &kurrentdb::RecordedEvent) -> DateTime<Utc> {
    event
        .metadata
        .get("created")
        .and_then(|ticks| ticks.parse::<i64>().ok())
        .and_then(|ticks| DateTime::from_timestamp(ticks.div_euclid(10_000_000), (ticks.rem_euclid(10_000_000) * 100) as u32))
        .unwrap_or(event.created)
}

/// The server-side part of a filter. KurrentDB filters on stream names or on event types, not
/// both: categories go to the server (an anchored regex on the stream name) and types too when
/// there are no categories; readers re-check every event with [`Filter::matches`]. Without a
/// filter, KurrentDB's system events are left out on the server.
pub(crate) fn server_filter(filter: &Filter) -> SubscriptionFilter {
    if !filter.categories.is_empty() {
        let names: Vec<String> = filter.categories.iter().map(|c| escape(c)).collect();
        SubscriptionFilter::on_stream_name().regex(format!("^(?:{})(?:-|$)", names.join("|")))
    } else if !filter.event_types.is_empty() {
        let names: Vec<String> = filter.event_types.iter().map(|t| escape(t)).collect();
        SubscriptionFilter::on_event_type().regex(format!("^(?:{})$", names.join("|")))
    } else {
        SubscriptionFilter::on_event_type().exclude_system_events()
    }
}

/// A name as a regex matching only itself.
fn escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_server_filters_match_only_themselves() {
        assert_eq!(escape("room.message_posted"), "room\\.message_posted");
        assert_eq!(escape("a|b"), "a\\|b");
    }
}
