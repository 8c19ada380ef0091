//! The store's errors: a conflict is kept apart from a database failure so callers can retry
//! the one and report the other.

use domain::{DecodeError, InvalidStreamName, StreamName};
use uuid::Uuid;

use crate::types::{ExpectedVersion, Position};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version. Retry by reloading and deciding again.
    #[error("stream {stream}: expected {expected}, but it is at {}", actual.map_or("no stream".to_owned(), |v| format!("version {v}")))]
    WrongExpectedVersion { stream: StreamName, expected: ExpectedVersion, actual: Option<u64> },

    /// Some of the event ids were already stored and others not (or in another stream): the
    /// retry is not the same append.
    #[error("stream {stream}: some event ids of this append are already stored elsewhere or not all of them")]
    IdempotencyMismatch { stream: StreamName },

    #[error(transparent)]
    InvalidStream(#[from] InvalidStreamName),

    #[error("event {event_id} payload is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { event_id: Uuid, size: usize, limit: usize },

    #[error("an append of {count} events exceeds the limit of {limit}")]
    TooManyEvents { count: usize, limit: usize },

    /// The append is bigger than the backend takes in one write (KurrentDB's
    /// `MaxAppendSize`); refused before anything is sent.
    #[error("an append of {size} bytes exceeds the event store's limit of {limit} bytes")]
    AppendTooLarge { size: usize, limit: usize },

    #[error("event type {0:?} is not a valid stored name")]
    InvalidEventType(String),

    #[error("invalid position token {0:?}")]
    InvalidPosition(String),

    /// A stored event could not be decoded: the store stops here rather than skip it.
    #[error("event {event_id} at {position} cannot be decoded: {source}")]
    Decode { position: Position, event_id: Uuid, source: DecodeError },

    #[error("stored metadata of event {event_id} is malformed: {reason}")]
    BadMetadata { event_id: Uuid, reason: String },

    /// The outcome of a write is unknown (connection lost around commit). Appends are
    /// idempotent: retrying with the same event ids is safe and returns the original result.
    #[error("database unavailable: {0}")]
    Unavailable(String),

    #[error("timed out after {0:?} waiting for position")]
    Timeout(std::time::Duration),

    #[error("database error: {}", describe(.0))]
    Database(#[source] tokio_postgres::Error),

    /// The KurrentDB server refused a call for a reason a retry does not cure.
    #[error("KurrentDB: {0}")]
    Kurrent(String),

    #[error("connection pool: {0}")]
    Pool(String),

    #[error("migration failed: {0}")]
    Migration(String),

    #[error("the store is shutting down")]
    ShuttingDown,
}

/// tokio-postgres displays a server error as just "db error", and any other error without its
/// cause ("error performing TLS handshake"); show the server's message and SQLSTATE, or the
/// cause, so the reason is readable in logs and at start-up.
fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

impl StoreError {
    /// True for errors that a retry of the same call may cure.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Pool(_) | StoreError::Timeout(_))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // No SQLSTATE: the connection failed (closed, reset, refused), not the statement.
        // Class 08 (connection exception) and 57P0x (server shutting down, backend terminated)
        // also mean "the server went away", not "the statement is wrong".
        let went_away = e.is_closed()
            || match e.code() {
                None => true,
                Some(code) => code.code().starts_with("08") || code.code().starts_with("57P0"),
            };
        if went_away { StoreError::Unavailable(describe(&e)) } else { StoreError::Database(e) }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Pool(other.to_string()),
        }
    }
}
