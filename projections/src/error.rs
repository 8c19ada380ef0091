//! Why a projection stopped or a read failed.

use store::{Position, StoreError};
use uuid::Uuid;

/// A failure of the projection machinery. [`ProjectionError::EventFailed`] is the one that stops
/// a projection for good (until fixed code restarts it): the named event could not be applied and
/// skipping it would silently corrupt the read model.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection {projection} cannot apply event at {position} ({event_type}, id {event_id}): {reason}")]
    EventFailed { projection: &'static str, position: Position, event_type: String, event_id: Uuid, reason: String },

    #[error("no projection is called {0:?} (known: {1})")]
    Unknown(String, String),

    #[error("a rebuild of {0} is already running in another process")]
    RebuildRunning(&'static str),

    #[error("projection {0} has not been built yet (run `switchboard rebuild {0}` or start the server)")]
    NotInstalled(&'static str),

    #[error(transparent)]
    Store(#[from] StoreError),

    /// The connection failed or the server went away: worth retrying after a pause.
    #[error("database unavailable: {0}")]
    Unavailable(String),

    #[error("database error: {0}")]
    Database(String),

    /// A read model holds a name this code has no variant for (written by a newer version).
    #[error("read.{table}.{column} holds {value:?}, which this version does not know")]
    UnknownStoredValue { table: &'static str, column: &'static str, value: String },

    #[error("timed out after {0:?} waiting for the read models to reach {1}")]
    Timeout(std::time::Duration, Position),
}

impl ProjectionError {
    /// Whether trying again later may succeed (the server went away), as opposed to a bug or bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            ProjectionError::Unavailable(_) => true,
            ProjectionError::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl From<tokio_postgres::Error> for ProjectionError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_connection_error(&e) { ProjectionError::Unavailable(e.to_string()) } else { ProjectionError::Database(describe(&e)) }
    }
}

/// No SQLSTATE (closed, reset, refused), class 08, or 57P0x (shutdown, terminated backend).
pub(crate) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || match e.code() {
            None => true,
            Some(code) => code.code().starts_with("08") || code.code().starts_with("57P0"),
        }
}

/// "message (SQLSTATE xxxxx)" rather than tokio-postgres' bare "db error".
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}; {})", db.message(), db.code().code(), detail),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}
