//! Moving a log from one store to another (`switchboard log copy`): every event in log order
//! with its id, stream version, type, payload, metadata and recorded time; resumable; and a
//! digest of a whole log that is the same for the same events in either backend.
//!
//! Resuming needs no bookkeeping of its own: the target's last event is looked up in the
//! source by id, and the copy goes on after it. So a copy interrupted anywhere (between
//! batches, or after the target took a batch the copy did not see acknowledged) goes on where
//! the target stands, and a target holding events the source does not have is refused.

use sha2::{Digest, Sha256};

use crate::any::AnyEventStore;
use crate::error::StoreError;
use crate::event_store::EventStore;
use crate::types::{Filter, Position, RecordedEvent};

/// Why a copy could not go on.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the target already holds events, and its last one ({0}) is not in the source: it holds another log (copy into an empty store)"
    )]
    TargetHoldsAnotherLog(uuid::Uuid),
}

/// How a copy went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Events the target held before (a resumed copy).
    pub already_there: u64,
    /// Events this run copied.
    pub copied: u64,
}

/// Copies every event of `source` the target does not hold yet (up to the source's last event
/// when the copy starts), `page` at a time, calling `progress` with the number copied so far
/// after each page.
pub async fn copy_log(
    source: &AnyEventStore,
    target: &AnyEventStore,
    page: usize,
    mut progress: impl FnMut(u64),
) -> Result<Copied, CopyError> {
    let (after, already_there) = match target.last_event().await? {
        None => (Position::START, 0),
        Some(last) => match source.find_event(last.event_id).await? {
            Some(location) => (location.position, count_up_to(source, location.position).await?),
            None => return Err(CopyError::TargetHoldsAnotherLog(last.event_id)),
        },
    };
    let mut copied = 0;
    let mut pages = Pages::new(source, after).await?;
    while let Some(events) = pages.next(page).await? {
        target.import(&events).await?;
        copied += events.len() as u64;
        progress(copied);
    }
    Ok(Copied { already_there, copied })
}

/// The log after a position, a page at a time, up to its last event as it stood when the
/// pages began (what is appended later is not included: a copy or digest of a log that still
/// takes appends ends somewhere, and a second run takes up the rest).
struct Pages<'a> {
    store: &'a AnyEventStore,
    after: Position,
    end: Option<Position>,
}

impl<'a> Pages<'a> {
    async fn new(store: &'a AnyEventStore, after: Position) -> Result<Self, StoreError> {
        let end = store.last_event().await?.map(|event| event.position);
        Ok(Self { store, after, end })
    }

    /// The next page; `None` once the end is reached.
    async fn next(&mut self, page: usize) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let Some(end) = self.end else { return Ok(None) };
        loop {
            if self.after >= end {
                return Ok(None);
            }
            let batch = self.store.read_all(self.after, &Filter::all(), page).await?;
            self.after = batch.next;
            let events: Vec<RecordedEvent> = batch.events.into_iter().take_while(|event| event.position <= end).collect();
            if !events.is_empty() {
                return Ok(Some(events));
            }
            if batch.caught_up && self.after < end {
                // Not readable yet everywhere (KurrentDB followers): shortly.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

/// Events of the log up to and including `position`.
async fn count_up_to(store: &AnyEventStore, position: Position) -> Result<u64, StoreError> {
    let mut count = 0;
    let mut pages = Pages::new(store, Position::START).await?;
    while let Some(page) = pages.next(crate::limits::MAX_PAGE).await? {
        for event in &page {
            if event.position > position {
                return Ok(count);
            }
            count += 1;
        }
    }
    Ok(count)
}

/// A whole log's size and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDigest {
    pub events: u64,
    /// SHA-256, hex, over every event in log order (see [`digest_log`]).
    pub sha256: String,
}

/// Reads the whole log and digests it: for each event in order its id, stream, version, type,
/// schema version, payload and metadata as canonical JSON (object keys sorted: PostgreSQL's
/// jsonb and KurrentDB keep the same document as different text), and its recorded time to
/// the microsecond (PostgreSQL's precision). Positions are left out: each backend has its own.
pub async fn digest_log(store: &AnyEventStore, page: usize, mut progress: impl FnMut(u64)) -> Result<LogDigest, StoreError> {
    let mut hasher = Sha256::new();
    let mut events = 0;
    let mut pages = Pages::new(store, Position::START).await?;
    while let Some(page) = pages.next(page).await? {
        for event in &page {
            digest_event(&mut hasher, event);
        }
        events += page.len() as u64;
        progress(events);
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(LogDigest { events, sha256 })
}

fn digest_event(hasher: &mut Sha256, event: &RecordedEvent) {
    let metadata = serde_json::to_value(&event.metadata).expect("metadata always serialises");
    let fields = [
        event.event_id.to_string(),
        event.stream.as_str().to_owned(),
        event.stream_version.to_string(),
        event.event_type.clone(),
        event.schema_version.to_string(),
        canonical(&event.payload.to_value()),
        canonical(&metadata),
        event.recorded_at.timestamp_micros().to_string(),
    ];
    for field in fields {
        // Length-prefixed: no two different events hash the same bytes.
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
}

/// JSON text with every object's keys sorted, whatever order the value keeps them in.
fn canonical(value: &serde_json::Value) -> String {
    fn write(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"a": {"c": "x", "d": [1, {"y": 1, "z": 0}]}, "b": 1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&a), r#"{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}"#);
    }
}
