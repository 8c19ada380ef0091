//! Switchboard's event store. It owns the log: the backend-neutral [`EventStore`] trait
//! (append with expected version and idempotent event ids, stream reads, gap-free global reads,
//! catch-up-then-live subscriptions, consistency tokens), the PostgreSQL backend
//! ([`PgEventStore`], with group commit), the KurrentDB backend (`KurrentEventStore`, cargo
//! feature `kurrentdb`), [`AnyEventStore`] (whichever the settings chose), the [`catalogue`] of
//! what the read side asks of the log by SQL under either backend (audit filters, times and
//! positions, lag), moving a log between stores and digesting it ([`copy`]), the
//! backend-neutral append [`limits`], the [`CommandExecutor`] (load → decide
//! → append, retry on conflict), the embedded private PostgreSQL cluster, and the schema
//! migrations.
//!
//! Positions are opaque ([`Position`]); stream names are validated ([`domain::StreamName`]).
//! It must not know the read models (that is `projections`) nor any gateway or HTTP concern.

pub mod any;
pub mod catalogue;
pub mod copy;
pub mod embedded;
pub mod error;
pub mod event_store;
pub mod executor;
pub mod follow;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
pub mod limits;
pub mod postgres;
pub mod types;

pub use any::AnyEventStore;
pub use catalogue::{AuditFilter, Backend};
pub use error::StoreError;
pub use event_store::{EventStore, EventStream, SharedStore};
pub use executor::{BatchOutcome, CommandExecutor, ExecuteError, Executed, Loaded};
pub use follow::{FirstStart, follow, follow_runs};
#[cfg(feature = "kurrentdb")]
pub use kurrentdb::{KurrentEventStore, KurrentOptions};
pub use postgres::{MigrationState, PgConfig, PgEventStore, PgStoreOptions, TlsMode};
pub use types::{
    AllBatch, AppendResult, Direction, Envelope, EventLocation, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent, StoredJson,
    StreamAppend,
};
