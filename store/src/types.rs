//! Values that cross the store's API: positions, expected versions, new and recorded events.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::{EventCodec, Metadata, StreamName};
use uuid::Uuid;

use crate::error::StoreError;

/// A place in the global log. Opaque to callers: compare, store as a token, wait for it.
///
/// PostgreSQL positions are `(log_era, tx_id, global_position)`; KurrentDB positions are
/// `(commit, prepare)`. Both halves of each are always kept (a half position loses events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub(crate) Repr);

/// The era that marks a KurrentDB position in [`Position::stored_parts`].
const KURRENT_ERA: i16 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) enum Repr {
    /// Before the first event.
    #[default]
    Start,
    Pg {
        era: i16,
        tx: u64,
        pos: i64,
    },
    Kurrent {
        commit: u64,
        prepare: u64,
    },
}

impl Position {
    /// Before the first event: reading after it reads everything.
    pub const START: Position = Position(Repr::Start);

    pub(crate) fn pg(era: i16, tx: u64, pos: i64) -> Self {
        Position(Repr::Pg { era, tx, pos })
    }

    /// The PostgreSQL parts; a KurrentDB position here is a caller's mistake, not "the start".
    pub(crate) fn as_pg(&self) -> Result<(i16, u64, i64), StoreError> {
        match self.0 {
            Repr::Start => Ok((0, 0, 0)),
            Repr::Pg { era, tx, pos } => Ok((era, tx, pos)),
            Repr::Kurrent { .. } => Err(StoreError::InvalidPosition(format!("{self} is not a PostgreSQL position"))),
        }
    }

    /// A KurrentDB position: both halves, as the server reports them.
    pub fn kurrent(commit: u64, prepare: u64) -> Self {
        Position(Repr::Kurrent { commit, prepare })
    }

    /// The KurrentDB halves `(commit, prepare)`; `None` for the start, an error for a
    /// PostgreSQL position (a token of the other backend is a caller's mistake).
    pub fn kurrent_parts(&self) -> Result<Option<(u64, u64)>, StoreError> {
        match self.0 {
            Repr::Start => Ok(None),
            Repr::Kurrent { commit, prepare } => Ok(Some((commit, prepare))),
            Repr::Pg { .. } => Err(StoreError::InvalidPosition(format!("{self} is not a KurrentDB position"))),
        }
    }

    pub fn is_start(&self) -> bool {
        self.0 == Repr::Start
    }

    /// The PostgreSQL parts `(era, tx, pos)` for code that keeps positions in its own tables
    /// (projection checkpoints); `None` for a KurrentDB position. The start is `(0, 0, 0)`.
    pub fn pg_parts(&self) -> Option<(i16, u64, i64)> {
        self.as_pg().ok()
    }

    /// The three columns any position is kept in where both backends' positions must fit
    /// (`es_checkpoints`: `log_era`, `tx_id`, `global_position`). A PostgreSQL position is its
    /// own parts; a KurrentDB position is era `-1` (PostgreSQL eras start at 1), its commit in
    /// `tx_id` and its prepare in `global_position`. The start is `(0, 0, 0)`.
    pub fn stored_parts(&self) -> (i16, u64, i64) {
        match self.0 {
            Repr::Start => (0, 0, 0),
            Repr::Pg { era, tx, pos } => (era, tx, pos),
            Repr::Kurrent { commit, prepare } => (KURRENT_ERA, commit, prepare as i64),
        }
    }

    /// The inverse of [`Position::stored_parts`].
    pub fn from_stored_parts(era: i16, tx: u64, pos: i64) -> Self {
        if era == KURRENT_ERA { Position::kurrent(tx, pos as u64) } else { Position::from_pg_parts(era, tx, pos) }
    }

    /// The inverse of [`Position::pg_parts`]: `(0, 0, 0)` is the start.
    pub fn from_pg_parts(era: i16, tx: u64, pos: i64) -> Self {
        if (era, tx, pos) == (0, 0, 0) { Position::START } else { Position::pg(era, tx, pos) }
    }
}

/// The token form, e.g. `pg.1.7312.88120`; stable across releases because checkpoints and
/// GraphQL clients keep it.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Start => f.write_str("start"),
            Repr::Pg { era, tx, pos } => write!(f, "pg.{era}.{tx}.{pos}"),
            Repr::Kurrent { commit, prepare } => write!(f, "kdb.{commit}.{prepare}"),
        }
    }
}

impl FromStr for Position {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || StoreError::InvalidPosition(s.chars().take(64).collect());
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            ["start"] => Ok(Position::START),
            ["pg", era, tx, pos] => {
                // Eras and positions are never negative; refused here rather than searched for.
                let era = era.parse::<i16>().ok().filter(|e| *e >= 0).ok_or_else(bad)?;
                let pos = pos.parse::<i64>().ok().filter(|p| *p >= 0).ok_or_else(bad)?;
                Ok(Position::pg(era, tx.parse().map_err(|_| bad())?, pos))
            }
            ["kdb", commit, prepare] => {
                Ok(Position(Repr::Kurrent { commit: commit.parse().map_err(|_| bad())?, prepare: prepare.parse().map_err(|_| bad())? }))
            }
            _ => Err(bad()),
        }
    }
}

/// What the writer believes about the stream before appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check (chat messages: talkers never conflict with each other).
    Any,
    /// The stream must not exist yet (reservations, creation).
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this version (0-based).
    Exact(u64),
    /// The stream has this version or later, and nothing after it but *inert* events
    /// ([`NewEvent::inert`]): no event that could change a decision taken at this version.
    /// What the command executor expects, so that writers of a busy room, whose stream is mostly
    /// chat messages, do not refuse each other.
    UnchangedSince(u64),
}

impl ExpectedVersion {
    /// From the version a reader saw: `None` means it saw no stream.
    pub fn from_seen(version: Option<u64>) -> Self {
        match version {
            None => ExpectedVersion::NoStream,
            Some(v) => ExpectedVersion::Exact(v),
        }
    }

    /// From the version a decision was taken at: `None` means it saw no stream.
    pub fn from_decision(version: Option<u64>) -> Self {
        match version {
            None => ExpectedVersion::NoStream,
            Some(v) => ExpectedVersion::UnchangedSince(v),
        }
    }

    /// The encoding the append functions take for the stream's version (`a_expected`).
    pub(crate) fn sql_code(self) -> i64 {
        match self {
            ExpectedVersion::Any => -1,
            ExpectedVersion::NoStream => -2,
            ExpectedVersion::StreamExists | ExpectedVersion::UnchangedSince(_) => -3,
            ExpectedVersion::Exact(v) => v as i64,
        }
    }

    /// The encoding the append functions take for the stream's fence (`a_fence`, migration V4).
    pub(crate) fn sql_fence(self) -> Option<i64> {
        match self {
            ExpectedVersion::UnchangedSince(v) => Some(v as i64),
            _ => None,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("stream exists"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
            ExpectedVersion::UnchangedSince(v) => write!(f, "nothing but inert events after version {v}"),
        }
    }
}

/// One stream's share of [`EventStore::append_in_order`](crate::EventStore::append_in_order).
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream: StreamName,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Idempotency key: appending the same id again returns the original result.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i16,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
    /// Changes no decision of the stream's aggregate (a chat message): appending it does not
    /// move the stream's fence, so it does not refuse appends that expect
    /// [`ExpectedVersion::UnchangedSince`]. An append moves the fence unless all its events are
    /// inert.
    pub inert: bool,
}

impl NewEvent {
    /// A domain event with a fresh, time-ordered id.
    pub fn from_domain<E: EventCodec>(event: &E, metadata: Metadata) -> Self {
        Self::with_id(Uuid::now_v7(), event, metadata)
    }

    /// A domain event with a caller-chosen id (derived from an outside idempotency key such as
    /// a Twilio `MessageSid`).
    pub fn with_id<E: EventCodec>(event_id: Uuid, event: &E, metadata: Metadata) -> Self {
        Self {
            event_id,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.encode(),
            metadata,
            inert: false,
        }
    }

    /// Marks the event inert (or not): see [`NewEvent::inert`].
    pub fn inert(mut self, inert: bool) -> Self {
        self.inert = inert;
        self
    }
}

/// Where a stored event is (see [`EventStore::find_event`](crate::EventStore::find_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLocation {
    pub stream: StreamName,
    pub stream_version: u64,
    pub position: Position,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Version of the stream's last event after the append (`None`: the stream has no events,
    /// possible only for an empty append).
    pub stream_version: Option<u64>,
    /// Position of the last event appended: a consistency token that readers can wait for.
    /// [`Position::START`] for an empty append.
    pub position: Position,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream: StreamName,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i16,
    /// The payload's JSON text as stored, parsed only by whoever needs it ([`Self::decode`]).
    pub payload: StoredJson,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

/// A JSON document as the database returned it. Reads hand payloads on unparsed: decoding
/// goes from this text straight into the event's type, without building a
/// `serde_json::Value` first (building one costs more than the read itself).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredJson(Box<str>);

impl StoredJson {
    /// Wraps JSON text that is known to be valid (the database's own output; the only way in).
    pub(crate) fn from_database(text: &str) -> Self {
        Self(text.into())
    }

    /// Wraps bytes that another store handed back, after checking that they are JSON (a
    /// KurrentDB event may have been written by anything).
    #[cfg(feature = "kurrentdb")]
    pub(crate) fn checked(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
        Ok(Self(text.into()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The document as a `serde_json::Value` (for generic handling: audit views, tests).
    pub fn to_value(&self) -> serde_json::Value {
        // Only valid JSON is ever wrapped (see the constructors).
        serde_json::from_str(&self.0).expect("stored JSON is valid")
    }
}

impl std::fmt::Debug for StoredJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A recorded event decoded into its domain type.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    pub event: E,
    pub position: Position,
    pub stream: StreamName,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// Decodes (and upcasts) the payload. A failure names the event's position and type, so
    /// nothing is skipped silently.
    pub fn decode<E: EventCodec>(self) -> Result<Envelope<E>, StoreError> {
        let event = E::decode_json(&self.event_type, self.schema_version, self.payload.as_str()).map_err(|source| StoreError::Decode {
            position: self.position,
            event_id: self.event_id,
            source,
        })?;
        Ok(Envelope {
            event,
            position: self.position,
            stream: self.stream,
            stream_version: self.stream_version,
            event_id: self.event_id,
            metadata: self.metadata,
            recorded_at: self.recorded_at,
        })
    }
}

/// Read direction for a single stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// Which events a global read or subscription wants. Empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub event_types: Vec<String>,
    pub categories: Vec<String>,
}

impl Filter {
    pub fn all() -> Self {
        Self::default()
    }
    pub fn event_types<I: IntoIterator<Item = S>, S: Into<String>>(types: I) -> Self {
        Self { event_types: types.into_iter().map(Into::into).collect(), categories: vec![] }
    }
    pub fn categories<I: IntoIterator<Item = S>, S: Into<String>>(categories: I) -> Self {
        Self { event_types: vec![], categories: categories.into_iter().map(Into::into).collect() }
    }
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && (self.categories.is_empty() || self.categories.iter().any(|c| c == event.stream.category()))
    }
}

/// One page of the global log.
#[derive(Debug, Clone, PartialEq)]
pub struct AllBatch {
    pub events: Vec<RecordedEvent>,
    /// Where the next read should start. It can be past the last event returned: when the page
    /// is not full, every matching event below the watermark has been returned, so a sparse
    /// filter still advances (the "checkpoint" of a filtered subscription).
    pub next: Position,
    /// True when the page reached the watermark (nothing more is readable right now).
    pub caught_up: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_token() {
        for p in [Position::START, Position::pg(1, 9_000_000_000, 42), Position(Repr::Kurrent { commit: 7, prepare: 5 })] {
            assert_eq!(p.to_string().parse::<Position>().unwrap(), p);
        }
        assert!("pg.1.x.2".parse::<Position>().is_err());
        assert!("".parse::<Position>().is_err());
    }

    #[test]
    fn either_backends_position_round_trips_through_its_stored_parts() {
        for p in [Position::START, Position::pg(1, 9_000_000_000, 42), Position::kurrent(u64::MAX >> 1, 12_345)] {
            let (era, tx, pos) = p.stored_parts();
            assert_eq!(Position::from_stored_parts(era, tx, pos), p);
        }
        assert_eq!(Position::kurrent(7, 5).stored_parts(), (-1, 7, 5), "both halves are kept");
    }

    #[test]
    fn only_postgresql_positions_have_postgresql_parts() {
        assert_eq!(Position::START.as_pg().unwrap(), (0, 0, 0));
        assert_eq!(Position::pg(1, 2, 3).as_pg().unwrap(), (1, 2, 3));
        assert!(matches!(Position(Repr::Kurrent { commit: 1, prepare: 1 }).as_pg(), Err(StoreError::InvalidPosition(_))));
    }

    #[test]
    fn positions_order_by_era_then_transaction_then_position() {
        assert!(Position::START < Position::pg(1, 1, 1));
        assert!(Position::pg(1, 5, 100) < Position::pg(1, 6, 1));
        assert!(Position::pg(1, 99, 1) < Position::pg(2, 1, 1));
    }
}
