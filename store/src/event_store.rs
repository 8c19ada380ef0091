//! The backend-neutral event store trait.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use domain::StreamName;
use futures::Stream;

use crate::error::StoreError;
use crate::types::{
    AllBatch, AppendResult, Direction, EventLocation, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent, StreamAppend,
};

/// A live feed of the global log: first everything after the start position, then each new
/// event as it becomes readable, each exactly once and in log order.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RecordedEvent, StoreError>> + Send>>;

/// An event store shared by the parts of a process, whichever backend it is: what gateways hold
/// when they only append and read.
pub type SharedStore = std::sync::Arc<dyn EventStore>;

/// The event store. Implemented by the PostgreSQL backend (default) and the KurrentDB backend;
/// the conformance suite in `testing` runs against any implementation.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if it is at `expected`. Atomic per call. Re-appending
    /// event ids that are already stored in this stream, in the same order, returns the
    /// original result (idempotent retries).
    async fn append(&self, stream: &StreamName, expected: ExpectedVersion, events: Vec<NewEvent>) -> Result<AppendResult, StoreError>;

    /// Appends to several streams, each as [`append`](Self::append) would (its own check, its
    /// own outcome), stored in the log in the order given. Not atomic: one refused leaves the
    /// others stored. The PostgreSQL backend commits them in one transaction; this default
    /// appends them one after another.
    async fn append_in_order(&self, appends: Vec<StreamAppend>) -> Vec<Result<AppendResult, StoreError>> {
        let mut results = Vec::with_capacity(appends.len());
        for append in appends {
            results.push(self.append(&append.stream, append.expected, append.events).await);
        }
        results
    }

    /// Reads one stream. `from` is the first version to return, inclusive (forwards: default
    /// the first event; backwards: default the last event).
    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Version of the stream's last event, `None` when it has none.
    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError>;

    /// Where the event with this id is stored, if it is. Consumers that derive event ids from
    /// an outside key (a Twilio `MessageSid`, a request id) learn from it that a request was
    /// already carried out, without reading the stream it went to.
    async fn find_event(&self, event_id: uuid::Uuid) -> Result<Option<EventLocation>, StoreError>;

    /// Reads the global log after `after`, in order, gap-free: an event that becomes readable
    /// later always sorts after every position returned so far.
    async fn read_all(&self, after: Position, filter: &Filter, limit: usize) -> Result<AllBatch, StoreError>;

    /// Catch-up then live subscription to the global log.
    fn subscribe_all(&self, after: Position, filter: Filter) -> EventStream;

    /// The position up to which the log is readable now (the last readable event).
    async fn head(&self) -> Result<Position, StoreError>;

    /// Where the log follower `subscriber` (an outside consumer such as the SMS gateway) left
    /// off; the start when it never saved a place. Each backend keeps these durably its own way.
    async fn load_checkpoint(&self, subscriber: &str) -> Result<Position, StoreError>;

    /// Records that `subscriber` has handled everything up to `position`.
    async fn save_checkpoint(&self, subscriber: &str, position: Position) -> Result<(), StoreError>;

    /// A counter bumped whenever new events may have become readable: a hint to wake pollers
    /// (projection runners) between reads, not a delivery; they read after it as before.
    fn wakeups(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Waits until `position` is readable (read-your-writes), at most `timeout`.
    async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), StoreError>;
}
