//! The stand-in's transaction log: one append-only list of recorded events in log order, an index
//! of each stream's events, and the expected-version and idempotency checks of an append. It knows
//! nothing of gRPC; `streams.rs` translates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

/// Bytes a record takes in the log besides its variable parts (a real prepare record carries
/// flags, ids, expected version, timestamps and length prefix and suffix), so that positions grow
/// like byte offsets of a real transaction file.
const RECORD_OVERHEAD: u64 = 94;

/// Where the first record goes: a real log opens with a chunk header and an epoch record, so no
/// event ever sits at position 0, and `Position::start()` is never an event's position.
const LOG_START: u64 = 256;

/// One event as the log holds it.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) id: Uuid,
    pub(crate) stream: String,
    pub(crate) revision: u64,
    /// Both the commit and the prepare position (see the module doc of `kurrentdb`).
    pub(crate) position: u64,
    pub(crate) event_type: String,
    pub(crate) content_type: String,
    pub(crate) data: Vec<u8>,
    pub(crate) custom_metadata: Vec<u8>,
    /// 100 ns ticks since the Unix epoch, as KurrentDB sends its `created` metadata.
    pub(crate) created_ticks: u64,
}

/// An event offered by an append.
#[derive(Debug)]
pub(crate) struct Proposed {
    pub(crate) id: Uuid,
    pub(crate) event_type: String,
    pub(crate) content_type: String,
    pub(crate) data: Vec<u8>,
    pub(crate) custom_metadata: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expected {
    Any,
    NoStream,
    StreamExists,
    Revision(u64),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AppendOutcome {
    /// The stream's revision after the append (`None`: still no stream, for an empty append) and
    /// the position of the last event written (`None` when nothing was written).
    Written {
        revision: Option<u64>,
        position: Option<u64>,
    },
    WrongExpectedVersion {
        current: Option<u64>,
        expected: Expected,
    },
}

/// How an `$all` read or subscription narrows the log.
#[derive(Clone, Debug)]
pub(crate) enum Filter {
    StreamPrefixes(Vec<String>),
    StreamRegex(regex::Regex),
    TypePrefixes(Vec<String>),
    TypeRegex(regex::Regex),
}

impl Filter {
    pub(crate) fn allows(&self, event: &Recorded) -> bool {
        match self {
            Self::StreamPrefixes(prefixes) => prefixes.iter().any(|prefix| event.stream.starts_with(prefix.as_str())),
            Self::StreamRegex(regex) => regex.is_match(&event.stream),
            Self::TypePrefixes(prefixes) => prefixes.iter().any(|prefix| event.event_type.starts_with(prefix.as_str())),
            Self::TypeRegex(regex) => regex.is_match(&event.event_type),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Log {
    /// In log order: the index of an event here is its place in `$all`.
    events: Vec<Arc<Recorded>>,
    /// Each stream's events (indexes into `events`), by revision.
    streams: HashMap<String, Vec<usize>>,
    next_position: u64,
    /// Events appended through the API, not the seeded system events.
    appended: usize,
    /// Events appended before this index are no longer in the node's cache of recent ids: an
    /// append under `Any` or `StreamExists` repeating them is not recognised as a retry (as on a
    /// new leader, whose cache starts empty). Exact expectations are unaffected.
    cached_from: usize,
}

impl Log {
    /// A log holding what a freshly started node writes before any client does: a few events in
    /// `$`-prefixed system streams, which `$all` readers see (and usually filter out).
    pub(crate) fn new() -> Self {
        let mut log = Self { events: Vec::new(), streams: HashMap::new(), next_position: LOG_START, appended: 0, cached_from: 0 };
        let system = [
            ("$settings", "$update-default-acl", r#"{"$userStreamAcl":{"$r":"$all","$w":"$all"},"$systemStreamAcl":{"$r":"$admins"}}"#),
            ("$users", "$User", r#""admin""#),
            ("$user-admin", "$user", r#"{"loginName":"admin","fullName":"KurrentDB Administrator","groups":["$admins"]}"#),
        ];
        for (stream, event_type, data) in system {
            let proposed = Proposed {
                id: Uuid::new_v4(),
                event_type: event_type.to_owned(),
                content_type: "application/json".to_owned(),
                data: data.as_bytes().to_vec(),
                custom_metadata: Vec::new(),
            };
            log.write(stream, vec![proposed]);
        }
        log.appended = 0;
        log
    }

    /// Forgets the recent ids: see `cached_from`.
    pub(crate) fn forget_recent_ids(&mut self) {
        self.cached_from = self.events.len();
    }

    pub(crate) fn appended(&self) -> usize {
        self.appended
    }

    /// How many events the log holds, system ones included: a cursor for `$all` followers.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn last_position(&self) -> Option<u64> {
        self.events.last().map(|event| event.position)
    }

    pub(crate) fn stream_revision(&self, stream: &str) -> Option<u64> {
        self.streams.get(stream).map(|events| events.len() as u64 - 1)
    }

    pub(crate) fn append(&mut self, stream: &str, expected: Expected, proposed: Vec<Proposed>) -> AppendOutcome {
        let current = self.stream_revision(stream);
        let wrong = AppendOutcome::WrongExpectedVersion { current, expected };
        let existing: &[usize] = self.streams.get(stream).map_or(&[], Vec::as_slice);
        // Where, in the stream, the proposed events would already have been written if this is a
        // retry of an earlier append: KurrentDB answers such a retry with the first result and
        // writes nothing.
        let retry_from = match expected {
            Expected::Revision(revision) if current.is_some_and(|current| revision < current) => Some(revision as usize + 1),
            Expected::Revision(revision) if current == Some(revision) => None,
            Expected::Revision(_) => return wrong,
            Expected::NoStream if current.is_some() => Some(0),
            Expected::NoStream => None,
            Expected::StreamExists if current.is_none() => return wrong,
            Expected::Any | Expected::StreamExists => proposed
                .first()
                .and_then(|first| existing.iter().position(|&index| index >= self.cached_from && self.events[index].id == first.id)),
        };
        if let Some(from) = retry_from {
            let matching = existing
                .get(from..)
                .unwrap_or_default()
                .iter()
                .zip(&proposed)
                .take_while(|(index, p)| self.events[**index].id == p.id)
                .count();
            if matching == proposed.len() && matching > 0 {
                let last = &self.events[existing[from + matching - 1]];
                return AppendOutcome::Written { revision: Some(last.revision), position: Some(last.position) };
            }
            // Some but not all of the events are already there (or, for an exact expectation,
            // others are): not a retry, so the expectation decides, and it failed.
            if matches!(expected, Expected::Revision(_) | Expected::NoStream) || matching > 0 {
                return wrong;
            }
        }
        if proposed.is_empty() {
            return AppendOutcome::Written { revision: current, position: None };
        }
        let count = proposed.len();
        let position = self.write(stream, proposed);
        self.appended += count;
        AppendOutcome::Written { revision: self.stream_revision(stream), position: Some(position) }
    }

    /// Writes the events at the end of the log and returns the position of the last one.
    fn write(&mut self, stream: &str, proposed: Vec<Proposed>) -> u64 {
        let created_ticks = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_nanos() as u64 / 100;
        let first_revision = self.stream_revision(stream).map_or(0, |revision| revision + 1);
        let mut position = self.next_position;
        for (revision, p) in (first_revision..).zip(proposed) {
            position = self.next_position;
            let size = RECORD_OVERHEAD
                + (stream.len() + p.event_type.len() + p.content_type.len() + p.data.len() + p.custom_metadata.len()) as u64;
            self.next_position += size;
            let index = self.events.len();
            self.events.push(Arc::new(Recorded {
                id: p.id,
                stream: stream.to_owned(),
                revision,
                position,
                event_type: p.event_type,
                content_type: p.content_type,
                data: p.data,
                custom_metadata: p.custom_metadata,
                created_ticks,
            }));
            self.streams.entry(stream.to_owned()).or_default().push(index);
        }
        position
    }

    /// The stream's events from `from` (inclusive), forwards or backwards, at most `count`;
    /// `None` when the stream does not exist. `from == u64::MAX` means its end.
    pub(crate) fn read_stream(&self, stream: &str, from: u64, forwards: bool, count: usize) -> Option<Vec<Arc<Recorded>>> {
        let events = self.streams.get(stream)?;
        let picked: Vec<_> = if forwards {
            let start = usize::try_from(from).unwrap_or(usize::MAX).min(events.len());
            events[start..].iter().take(count).map(|&index| self.events[index].clone()).collect()
        } else {
            let end = usize::try_from(from).map_or(events.len(), |from| from.saturating_add(1).min(events.len()));
            events[..end].iter().rev().take(count).map(|&index| self.events[index].clone()).collect()
        };
        Some(picked)
    }

    /// The stream's events after revision `after` (all of them for `None`), from the cursor on:
    /// what a stream subscription has not delivered yet.
    pub(crate) fn stream_events_after(&self, stream: &str, after: Option<u64>) -> Vec<Arc<Recorded>> {
        let start = after.map_or(0, |after| after as usize + 1);
        self.streams
            .get(stream)
            .map(|events| events.get(start..).unwrap_or_default().iter().map(|&index| self.events[index].clone()).collect())
            .unwrap_or_default()
    }

    /// The index in log order of the first event at or after the (commit, prepare) position,
    /// compared as KurrentDB does, commit first.
    pub(crate) fn index_at_or_after(&self, commit: u64, prepare: u64) -> usize {
        self.events.partition_point(|event| (event.position, event.position) < (commit, prepare))
    }

    /// The index in log order of the first event after the (commit, prepare) position.
    pub(crate) fn index_after(&self, commit: u64, prepare: u64) -> usize {
        self.events.partition_point(|event| (event.position, event.position) <= (commit, prepare))
    }

    /// The events from index `from` in log order, at most `limit`.
    pub(crate) fn slice(&self, from: usize, limit: usize) -> Vec<Arc<Recorded>> {
        self.events.get(from..).unwrap_or_default().iter().take(limit).cloned().collect()
    }

    /// The events before index `before`, newest first, at most `limit`.
    pub(crate) fn slice_backwards(&self, before: usize, limit: usize) -> Vec<Arc<Recorded>> {
        self.events[..before.min(self.events.len())].iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u128) -> Proposed {
        Proposed {
            id: Uuid::from_u128(id),
            event_type: "Said".to_owned(),
            content_type: "application/json".to_owned(),
            data: b"{}".to_vec(),
            custom_metadata: Vec::new(),
        }
    }

    fn written(log: &mut Log, expected: Expected, ids: &[u128]) -> AppendOutcome {
        log.append("room-1", expected, ids.iter().map(|&id| event(id)).collect())
    }

    #[test]
    fn positions_grow_like_byte_offsets_and_each_event_has_its_own() {
        let mut log = Log::new();
        let AppendOutcome::Written { position: Some(last), .. } = written(&mut log, Expected::NoStream, &[1, 2]) else { panic!() };
        let events = log.read_stream("room-1", 0, true, 10).unwrap();
        assert!(events[0].position < events[1].position && events[1].position == last);
        assert!(events[1].position - events[0].position > RECORD_OVERHEAD);
    }

    #[test]
    fn a_retried_append_is_answered_with_the_first_result() {
        let mut log = Log::new();
        let first = written(&mut log, Expected::NoStream, &[1, 2]);
        written(&mut log, Expected::Revision(1), &[3]);
        assert_eq!(written(&mut log, Expected::NoStream, &[1, 2]), first);
        assert_eq!(written(&mut log, Expected::Any, &[1, 2]), first);
        assert_eq!(written(&mut log, Expected::Any, &[2]), first, "a retry of the tail of an append");
        assert_eq!(log.appended(), 3);
        assert_eq!(
            written(&mut log, Expected::Revision(0), &[2, 4]),
            AppendOutcome::WrongExpectedVersion { current: Some(2), expected: Expected::Revision(0) }
        );
        assert!(matches!(written(&mut log, Expected::Any, &[2, 4]), AppendOutcome::WrongExpectedVersion { .. }));
        assert_eq!(log.appended(), 3);
    }
}
