//! [`AnyEventStore`]: the event store the settings chose (`[store] backend`), one type for the
//! parts that need more than the trait: the read models' pool, the audit log, shutdown.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use domain::StreamName;

use crate::catalogue::{AuditFilter, Backend};
use crate::error::StoreError;
use crate::event_store::{EventStore, EventStream};
#[cfg(feature = "kurrentdb")]
use crate::kurrentdb::KurrentEventStore;
use crate::postgres::PgEventStore;
use crate::types::{
    AllBatch, AppendResult, Direction, EventLocation, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent, StreamAppend,
};

/// Either backend. Cheap to clone.
#[derive(Clone)]
pub enum AnyEventStore {
    Postgres(PgEventStore),
    #[cfg(feature = "kurrentdb")]
    KurrentDb(KurrentEventStore),
}

/// The same call on whichever backend it is.
macro_rules! each {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            AnyEventStore::Postgres($store) => $call,
            #[cfg(feature = "kurrentdb")]
            AnyEventStore::KurrentDb($store) => $call,
        }
    };
}

impl AnyEventStore {
    pub fn backend(&self) -> Backend {
        match self {
            AnyEventStore::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "kurrentdb")]
            AnyEventStore::KurrentDb(_) => Backend::KurrentDb,
        }
    }

    /// Refuses a position of the other backend (a consistency token or cursor from a log this
    /// store does not keep) with [`StoreError::InvalidPosition`]; the start is either's.
    pub fn check_position(&self, position: Position) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Postgres => position.as_pg().map(|_| ()),
            Backend::KurrentDb => position.kurrent_parts().map(|_| ()),
        }
    }

    /// The read models' PostgreSQL database (under PostgreSQL also the log's).
    pub fn pool(&self) -> &Pool {
        each!(self, s => s.pool())
    }

    /// Closes the store's connections, for shutdown.
    pub fn close(&self) {
        each!(self, s => s.close())
    }

    /// Appends waiting for a committer (PostgreSQL's group commit; KurrentDB sends each append
    /// at once and queues none).
    pub fn queued_appends(&self) -> usize {
        match self {
            AnyEventStore::Postgres(s) => s.queued_appends(),
            #[cfg(feature = "kurrentdb")]
            AnyEventStore::KurrentDb(_) => 0,
        }
    }

    /// Appends events copied in log order from another log, keeping their ids, versions and
    /// times (`PgEventStore::import`, `KurrentEventStore::import`).
    pub async fn import(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        each!(self, s => s.import(events).await)
    }

    /// The last readable event of the log, if any.
    pub async fn last_event(&self) -> Result<Option<RecordedEvent>, StoreError> {
        each!(self, s => s.last_event().await)
    }

    /// Waits until what the read side asks of the log by SQL (`catalogue`, the audit log)
    /// covers it up to `position`: at once under PostgreSQL, the event index under KurrentDB.
    pub async fn wait_until_catalogued(&self, position: Position, timeout: Duration) -> Result<(), StoreError> {
        match self {
            AnyEventStore::Postgres(_) => Ok(()),
            #[cfg(feature = "kurrentdb")]
            AnyEventStore::KurrentDb(s) => s.wait_until_indexed(position, timeout).await,
        }
    }

    /// One page of the audit log after (or, `newest_first`, before) `cursor`.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        cursor: Option<Position>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            AnyEventStore::Postgres(s) => crate::postgres::audit::audit_page(s.pool(), filter, cursor, newest_first, limit).await,
            #[cfg(feature = "kurrentdb")]
            AnyEventStore::KurrentDb(s) => s.audit_page(filter, cursor, newest_first, limit).await,
        }
    }
}

impl From<PgEventStore> for AnyEventStore {
    fn from(store: PgEventStore) -> Self {
        AnyEventStore::Postgres(store)
    }
}

#[cfg(feature = "kurrentdb")]
impl From<KurrentEventStore> for AnyEventStore {
    fn from(store: KurrentEventStore) -> Self {
        AnyEventStore::KurrentDb(store)
    }
}

/// The event types of one append, run-length counted, for `switchboard_events_appended_total`
/// once the append succeeded. An idempotent repeat of an append counts again: the store does not
/// say whether the events were new.
struct AppendedTypes(Vec<(String, u64)>);

impl AppendedTypes {
    fn of(events: &[NewEvent]) -> Self {
        let mut runs: Vec<(String, u64)> = Vec::new();
        for event in events {
            match runs.last_mut() {
                Some((event_type, n)) if *event_type == event.event_type => *n += 1,
                _ => runs.push((event.event_type.clone(), 1)),
            }
        }
        Self(runs)
    }

    fn count(self) {
        for (event_type, n) in self.0 {
            metrics::counter!("switchboard_events_appended_total", "type" => event_type).increment(n);
        }
    }
}

#[async_trait]
impl EventStore for AnyEventStore {
    async fn append(&self, stream: &StreamName, expected: ExpectedVersion, events: Vec<NewEvent>) -> Result<AppendResult, StoreError> {
        let types = AppendedTypes::of(&events);
        let outcome = each!(self, s => s.append(stream, expected, events).await);
        if outcome.is_ok() {
            types.count();
        }
        outcome
    }

    async fn append_in_order(&self, appends: Vec<StreamAppend>) -> Vec<Result<AppendResult, StoreError>> {
        let types: Vec<AppendedTypes> = appends.iter().map(|a| AppendedTypes::of(&a.events)).collect();
        let outcomes = each!(self, s => s.append_in_order(appends).await);
        for (types, outcome) in types.into_iter().zip(&outcomes) {
            if outcome.is_ok() {
                types.count();
            }
        }
        outcomes
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        each!(self, s => s.read_stream(stream, direction, from, limit).await)
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        each!(self, s => s.stream_version(stream).await)
    }

    async fn find_event(&self, event_id: uuid::Uuid) -> Result<Option<EventLocation>, StoreError> {
        each!(self, s => s.find_event(event_id).await)
    }

    async fn read_all(&self, after: Position, filter: &Filter, limit: usize) -> Result<AllBatch, StoreError> {
        each!(self, s => s.read_all(after, filter, limit).await)
    }

    fn subscribe_all(&self, after: Position, filter: Filter) -> EventStream {
        each!(self, s => s.subscribe_all(after, filter))
    }

    async fn head(&self) -> Result<Position, StoreError> {
        each!(self, s => s.head().await)
    }

    async fn load_checkpoint(&self, subscriber: &str) -> Result<Position, StoreError> {
        each!(self, s => s.load_checkpoint(subscriber).await)
    }

    async fn save_checkpoint(&self, subscriber: &str, position: Position) -> Result<(), StoreError> {
        each!(self, s => s.save_checkpoint(subscriber, position).await)
    }

    fn wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        each!(self, s => s.wakeups())
    }

    async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), StoreError> {
        each!(self, s => s.wait_for(position, timeout).await)
    }
}
