//! The KurrentDB backend (cargo feature `kurrentdb`): the log in a KurrentDB node or cluster
//! through the official `kurrentdb` client, PostgreSQL beside it for what KurrentDB has no
//! native form for (migrations/V6): the index of event ids and log followers' checkpoints.
//!
//! How the trait maps onto KurrentDB:
//! - Expected versions: no stream and exact are KurrentDB's stream states; any and stream
//!   exists are sent as an exact expectation on the version read from the stream's tail, after
//!   looking for the append's ids there (KurrentDB's own deduplication under `Any` is a cache).
//!   [`ExpectedVersion::UnchangedSince`] has no native form: the store reads the stream's tail
//!   back to the decision's version, refuses if a non-inert event is there, and appends at the
//!   exact version it read, again on a conflict with another writer.
//! - Idempotency: KurrentDB deduplicates event ids within a stream (durably only under an exact
//!   expectation). The store checks every append's ids against its index first, so a retry
//!   returns the original result under any expectation, and ids are unique across streams; the
//!   server's own deduplication covers a retry whose first try died before the index write.
//!   Where the guarantee is weaker than PostgreSQL's: two appends of one id to two streams at the
//!   same moment can both be stored (the index notices and logs it; PostgreSQL refuses one).
//!   A retry after an unknown outcome is recognised from the index, else from the stream's last
//!   64 events.
//! - Reads: `$all` with KurrentDB's system events left out; categories are an anchored regex on
//!   stream names, types one on event types, and every event is re-checked here. Positions keep
//!   both halves (commit, prepare).
//! - Subscriptions: `subscribe_to_all` in a loop of this store's own, resubscribing after the
//!   last delivered event with backoff (the client's own retry is not used; a client whose
//!   connection failed is replaced by a new one).
//! - Appends bigger than KurrentDB's 1 MiB limit are refused before they are sent.

mod audit;
mod codec;
mod index;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use domain::StreamName;
use futures::StreamExt;
use kurrentdb::{
    AppendToStreamOptions, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions, StreamPosition, StreamState, SubscribeToAllOptions,
};

use crate::error::StoreError;
use crate::event_store::{EventStore, EventStream};
use crate::limits::{MAX_PAGE, check_event_count};
use crate::postgres::checkpoints;
use crate::types::{AllBatch, AppendResult, Direction, EventLocation, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent};

pub use codec::MAX_APPEND_BYTES;

/// Events read back per step while checking a decision fence.
const FENCE_PAGE: usize = 64;
/// Appends at a decision fence retried at most this often when other writers keep moving the
/// stream (each retry reads the tail again).
const FENCE_ATTEMPTS: usize = 50;
/// Consecutive failed subscription attempts before the subscriber is told.
const SUBSCRIBE_ATTEMPTS: u32 = 10;

/// Settings of the KurrentDB backend (`[store.kurrentdb]` in `switchboard.toml`).
#[derive(Debug, Clone)]
pub struct KurrentOptions {
    /// The client's connection string: `kurrentdb://host:2113?tls=false` for one node,
    /// `kurrentdb+discover://host1:2113,host2:2113` for a cluster, TLS options as the client
    /// documents them.
    pub url: String,
    /// The longest any call may take; beyond, it fails as [`StoreError::Unavailable`] (an
    /// append's outcome is then unknown, and retrying it is safe: appends are idempotent).
    pub deadline: Duration,
    /// Events per page of subscription catch-up and reads of `$all`.
    pub page: usize,
}

impl KurrentOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), deadline: Duration::from_secs(10), page: 1_000 }
    }
}

/// The client and what is needed to replace it, shared with subscriptions and the indexer.
pub(crate) struct Connection {
    settings: ClientSettings,
    client: RwLock<kurrentdb::Client>,
    deadline: Duration,
    page: usize,
    /// Bumped by this store's own appends and by the indexer for every batch of `$all` it
    /// reads (what other processes wrote): see [`EventStore::wakeups`].
    wakeups: tokio::sync::watch::Sender<u64>,
}

impl Connection {
    fn wake(&self) {
        self.wakeups.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Runs one call within the deadline. The client sends the deadline to the server but does
    /// not enforce it itself: a server that hangs would hold the call until HTTP/2 keepalive
    /// gives up.
    async fn within<T>(&self, call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StoreError::Unavailable(format!("KurrentDB did not answer within {:?}", self.deadline))),
        }
    }

    fn client(&self) -> kurrentdb::Client {
        self.client.read().expect("the client lock is never poisoned").clone()
    }

    /// Maps a client error once, here. A connection-level failure also replaces the client:
    /// one whose node discovery failed stays failed.
    fn failed(&self, e: kurrentdb::Error) -> StoreError {
        use kurrentdb::Error as E;
        match e {
            E::ConnectionClosed | E::GrpcConnectionError(_) => {
                match kurrentdb::Client::new(self.settings.clone()) {
                    Ok(client) => *self.client.write().expect("the client lock is never poisoned") = client,
                    Err(e) => tracing::warn!(error = %e, "cannot create a new KurrentDB client"),
                }
                StoreError::Unavailable(format!("KurrentDB: {e}"))
            }
            E::DeadlineExceeded => StoreError::Unavailable(format!("KurrentDB did not answer within {:?}", self.deadline)),
            // The client reconnects to the leader it was told of; the refused call wrote nothing.
            E::NotLeaderException(leader) => {
                StoreError::Unavailable(format!("KurrentDB node is not the leader (leader: {}:{})", leader.host, leader.port))
            }
            E::Grpc {
                code: tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled | tonic::Code::Aborted,
                message,
            } => StoreError::Unavailable(format!("KurrentDB: {message}")),
            other => StoreError::Kurrent(other.to_string()),
        }
    }
}

/// The KurrentDB event store. Cheap to clone.
#[derive(Clone)]
pub struct KurrentEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Arc<Connection>,
    /// PostgreSQL with migrations/V6 applied (the read models' database).
    pool: Pool,
    indexer: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.indexer.abort();
    }
}

impl KurrentEventStore {
    /// Creates the client (it connects on first use) and starts the event-id indexer. `pool` is
    /// the PostgreSQL database of the read models, migrated.
    pub fn connect(options: KurrentOptions, pool: Pool) -> Result<Self, StoreError> {
        let settings: ClientSettings =
            options.url.parse().map_err(|e| StoreError::Kurrent(format!("the KurrentDB connection string is not valid: {e}")))?;
        let client = kurrentdb::Client::new(settings.clone()).map_err(|e| StoreError::Kurrent(format!("creating the client: {e}")))?;
        let connection = Arc::new(Connection {
            settings,
            client: RwLock::new(client),
            deadline: options.deadline,
            page: options.page.clamp(1, MAX_PAGE),
            wakeups: tokio::sync::watch::channel(0).0,
        });
        let indexer = tokio::spawn(index::run_indexer(connection.clone(), pool.clone()));
        Ok(Self { inner: Arc::new(Inner { connection, pool, indexer }) })
    }

    fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// The read models' PostgreSQL database, where the event index and checkpoints live.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Stops the indexer and closes the PostgreSQL pool, for shutdown (the KurrentDB client
    /// closes its connections when the last clone of the store is dropped).
    pub fn close(&self) {
        self.inner.indexer.abort();
        self.inner.pool.close();
    }

    /// [`EventStore::append`] without its metrics.
    async fn append_checked(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_event_count(events.len())?;

        let encoded = codec::encode_all(&events)?;
        if events.is_empty() {
            return self.check_only(stream, expected).await;
        }
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        match index::known(&self.inner.pool, stream, &ids).await? {
            index::Known::Repeat(original) => return Ok(original),
            index::Known::Mismatch => return Err(StoreError::IdempotencyMismatch { stream: stream.clone() }),
            index::Known::None => {}
        }
        let result = match expected {
            ExpectedVersion::Any | ExpectedVersion::StreamExists => self.append_unversioned(stream, expected, &ids, &encoded).await?,
            ExpectedVersion::NoStream => self.write(stream, StreamState::NoStream, expected, &encoded).await?,
            ExpectedVersion::Exact(v) => self.write(stream, StreamState::StreamRevision(v), expected, &encoded).await?,
            ExpectedVersion::UnchangedSince(v) => self.append_at_fence(stream, v, &encoded).await?,
        };
        self.connection().wake();
        if let Some(rows) = self.located(stream, &events, result).await? {
            let clashes = index::record(&self.inner.pool, stream, &rows).await?;
            if !clashes.is_empty() {
                tracing::error!(stream = %stream, ids = ?clashes, "event ids appended to two streams at once; both are stored in KurrentDB");
            }
        }
        Ok(result)
    }

    /// Appends `events`, copied in log order from another log (`log copy`), keeping each one's
    /// id, stream version, type, payload, metadata and recorded time (KurrentDB stamps its own
    /// `created`; the original time travels in the event's envelope and is what reads return).
    /// Consecutive events of one stream go as one append expecting the version before them, so
    /// a gap or an overlap is [`StoreError::WrongExpectedVersion`], and a retry after an unknown
    /// outcome is deduplicated by KurrentDB (same ids, exact expectation). Copied events all
    /// count as fencing for decision fences. The background indexer indexes them
    /// ([`wait_until_indexed`](Self::wait_until_indexed)).
    pub async fn import(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        const ATTEMPTS: usize = 5;
        for run in events.chunk_by(|a, b| a.stream == b.stream) {
            let first = run[0].stream_version;
            let (state, expected) = match first.checked_sub(1) {
                None => (StreamState::NoStream, ExpectedVersion::NoStream),
                Some(before) => (StreamState::StreamRevision(before), ExpectedVersion::Exact(before)),
            };
            let encoded = codec::encode_copied(run)?;
            let mut attempt = 0;
            loop {
                attempt += 1;
                match self.write(&run[0].stream, state, expected, &encoded).await {
                    Ok(_) => break,
                    Err(StoreError::Unavailable(reason)) if attempt < ATTEMPTS => {
                        tracing::warn!(%reason, attempt, "KurrentDB: copying an append failed; sending it again");
                        tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.connection().wake();
        Ok(())
    }

    /// The last event of the log, if any.
    pub async fn last_event(&self) -> Result<Option<RecordedEvent>, StoreError> {
        let c = self.connection();
        c.within(last_event(c)).await
    }

    /// Waits until the event index (and so the audit log, `find_event` for events it did not
    /// append itself, and the read side's catalogue) covers the log up to `position`.
    pub async fn wait_until_indexed(&self, position: Position, timeout: Duration) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if index::progress(&self.inner.pool).await? >= position {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One page of the audit log (see `store::catalogue::AuditFilter`), from the event index
    /// and KurrentDB.
    pub async fn audit_page(
        &self,
        filter: &crate::catalogue::AuditFilter,
        cursor: Option<Position>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        audit::audit_page(self, filter, cursor, newest_first, limit).await
    }

    /// Sends one append with a native stream state; its version and position on success.
    async fn write(
        &self,
        stream: &StreamName,
        state: StreamState,
        expected: ExpectedVersion,
        data: &[EventData],
    ) -> Result<AppendResult, StoreError> {
        let c = self.connection();
        // Clones share the encoded bytes.
        let data = data.to_vec();
        let options = AppendToStreamOptions::default().stream_state(state).deadline(c.deadline);
        let client = c.client();
        let sent = c.within(async { Ok(client.append_to_stream(stream.as_str(), &options, data).await) }).await?;
        match sent {
            Ok(written) => Ok(AppendResult {
                stream_version: Some(written.next_expected_version),
                position: Position::kurrent(written.position.commit, written.position.prepare),
            }),
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => Err(StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual: match current {
                    kurrentdb::CurrentRevision::Current(v) => Some(v),
                    kurrentdb::CurrentRevision::NoStream => None,
                },
            }),
            Err(e) => Err(c.failed(e)),
        }
    }

    /// The stream's version and whether an event that is not inert was written after
    /// `decided` (the decision fence, read back from the stream's tail).
    async fn fence(&self, stream: &StreamName, decided: u64) -> Result<(Option<u64>, bool), StoreError> {
        let mut current = None;
        let mut from = None;
        loop {
            let page = self.raw_read(stream, Direction::Backwards, from, FENCE_PAGE).await?;
            let Some(first) = page.first() else { return Ok((current, false)) };
            current.get_or_insert(first.revision);
            for event in &page {
                if event.revision <= decided {
                    return Ok((current, false));
                }
                if !codec::is_inert(event) {
                    return Ok((current, true));
                }
            }
            // The page ended above `decided` with only inert events: read on unless it was the
            // stream's first event or the stream's last page.
            let oldest = page[page.len() - 1].revision;
            if oldest == 0 || page.len() < FENCE_PAGE {
                return Ok((current, false));
            }
            from = Some(oldest - 1);
        }
    }

    async fn append_at_fence(&self, stream: &StreamName, decided: u64, events: &[EventData]) -> Result<AppendResult, StoreError> {
        let expected = ExpectedVersion::UnchangedSince(decided);
        let mut actual = None;
        for _ in 0..FENCE_ATTEMPTS {
            let (current, fenced) = self.fence(stream, decided).await?;
            actual = current;
            let at = match current {
                Some(v) if v >= decided && !fenced => v,
                _ => return Err(StoreError::WrongExpectedVersion { stream: stream.clone(), expected, actual }),
            };
            if events.is_empty() {
                return Ok(AppendResult { stream_version: current, position: Position::START });
            }
            match self.write(stream, StreamState::StreamRevision(at), expected, events).await {
                // Another writer got the next version first: read the tail again.
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                other => return other,
            }
        }
        Err(StoreError::WrongExpectedVersion { stream: stream.clone(), expected, actual })
    }

    /// `Any` and `StreamExists`, sent as an exact expectation on the version read from the
    /// stream's tail after looking for the append's ids there. KurrentDB deduplicates ids under
    /// `Any` only from a cache of recent ids, which a leader change empties; so a retry whose
    /// first try was written but not yet indexed (its answer lost with the old leader) would be
    /// stored twice. Here it finds the first try in the tail and gets its result, and two tries
    /// racing cannot both be written (an exact expectation lets one through).
    async fn append_unversioned(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        ids: &[uuid::Uuid],
        events: &[EventData],
    ) -> Result<AppendResult, StoreError> {
        for _ in 0..FENCE_ATTEMPTS {
            let tail = self.raw_read(stream, Direction::Backwards, None, FENCE_PAGE).await?;
            let current = tail.first().map(|event| event.revision);
            if expected == ExpectedVersion::StreamExists && current.is_none() {
                return Err(StoreError::WrongExpectedVersion { stream: stream.clone(), expected, actual: None });
            }
            if let Some(earlier) = earlier_try(stream, &tail, ids)? {
                return Ok(earlier);
            }
            let state = current.map_or(StreamState::NoStream, StreamState::StreamRevision);
            match self.write(stream, state, expected, events).await {
                // Another writer got the next version first: read the tail again.
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                other => return other,
            }
        }
        Err(StoreError::Unavailable(format!("{stream} kept moving under {FENCE_ATTEMPTS} attempts to append to it")))
    }

    /// An empty append: only the expectation is checked.
    async fn check_only(&self, stream: &StreamName, expected: ExpectedVersion) -> Result<AppendResult, StoreError> {
        let current = self.stream_version(stream).await?;
        let holds = match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::StreamExists => current.is_some(),
            ExpectedVersion::Exact(v) => current == Some(v),
            ExpectedVersion::UnchangedSince(v) => return self.append_at_fence(stream, v, &[]).await,
        };
        if holds {
            Ok(AppendResult { stream_version: current, position: Position::START })
        } else {
            Err(StoreError::WrongExpectedVersion { stream: stream.clone(), expected, actual: current })
        }
    }

    /// The positions of an append's events, for the index: a single event's is the append's;
    /// several are read back (KurrentDB answers with the last one's only).
    async fn located(
        &self,
        stream: &StreamName,
        events: &[NewEvent],
        result: AppendResult,
    ) -> Result<Option<Vec<index::IndexRow>>, StoreError> {
        let Some(last) = result.stream_version else { return Ok(Some(vec![])) };
        if events.len() == 1 {
            return Ok(Some(vec![index::IndexRow { event_id: events[0].event_id, stream_version: last, position: result.position }]));
        }
        let first = (last + 1).checked_sub(events.len() as u64);
        let Some(first) = first else { return Ok(None) };
        let read = self.raw_read(stream, Direction::Forwards, Some(first), events.len()).await?;
        if read.len() != events.len() || read.iter().zip(events).any(|(r, e)| r.id != e.event_id) {
            // Not where the answer said (the server's own deduplication answered for an earlier
            // copy): the indexer finds them in `$all`.
            return Ok(None);
        }
        Ok(Some(
            read.iter()
                .map(|r| index::IndexRow {
                    event_id: r.id,
                    stream_version: r.revision,
                    position: Position::kurrent(r.position.commit, r.position.prepare),
                })
                .collect(),
        ))
    }

    /// One stream's events as the client returns them (a missing stream has none).
    async fn raw_read(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<kurrentdb::RecordedEvent>, StoreError> {
        let c = self.connection();
        c.within(read_stream(c, stream, direction, from, limit)).await
    }
}

async fn read_stream(
    c: &Connection,
    stream: &StreamName,
    direction: Direction,
    from: Option<u64>,
    limit: usize,
) -> Result<Vec<kurrentdb::RecordedEvent>, StoreError> {
    let position = match (from, direction) {
        (Some(v), _) => StreamPosition::Position(v),
        (None, Direction::Forwards) => StreamPosition::Start,
        (None, Direction::Backwards) => StreamPosition::End,
    };
    let options = ReadStreamOptions::default().position(position).max_count(limit.clamp(1, MAX_PAGE)).deadline(c.deadline);
    let options = match direction {
        Direction::Forwards => options.forwards(),
        Direction::Backwards => options.backwards(),
    };
    let mut read = match c.client().read_stream(stream.as_str(), &options).await {
        Ok(read) => read,
        Err(kurrentdb::Error::ResourceNotFound) => return Ok(vec![]),
        Err(e) => return Err(c.failed(e)),
    };
    let mut events = Vec::new();
    loop {
        match read.next().await {
            Ok(Some(event)) => events.extend(original(event)),
            Ok(None) => return Ok(events),
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(vec![]),
            Err(e) => return Err(c.failed(e)),
        }
    }
}

/// The result of an earlier try of the append with `ids`, if the stream's `tail` (newest first)
/// holds it: all the ids, in order, one after another. Some of them without the rest is another
/// append's events.
fn earlier_try(stream: &StreamName, tail: &[kurrentdb::RecordedEvent], ids: &[uuid::Uuid]) -> Result<Option<AppendResult>, StoreError> {
    let Some(first) = tail.iter().position(|event| event.id == ids[0]) else {
        if tail.iter().any(|event| ids.contains(&event.id)) {
            return Err(StoreError::IdempotencyMismatch { stream: stream.clone() });
        }
        return Ok(None);
    };
    // Newest first: the try's later events sit before its first one.
    let written: Vec<&kurrentdb::RecordedEvent> = tail[..=first].iter().rev().take(ids.len()).collect();
    if written.len() != ids.len() || written.iter().zip(ids).any(|(event, id)| event.id != *id) {
        return Err(StoreError::IdempotencyMismatch { stream: stream.clone() });
    }
    let last = written[written.len() - 1];
    Ok(Some(AppendResult { stream_version: Some(last.revision), position: Position::kurrent(last.position.commit, last.position.prepare) }))
}

/// The event read, owned: the link itself when it is one (the store writes no links).
fn original(event: kurrentdb::ResolvedEvent) -> Option<kurrentdb::RecordedEvent> {
    event.link.or(event.event)
}

#[async_trait]
impl EventStore for KurrentEventStore {
    #[tracing::instrument(level = "debug", skip(self, events), fields(stream = %stream, events = events.len()))]
    async fn append(&self, stream: &StreamName, expected: ExpectedVersion, events: Vec<NewEvent>) -> Result<AppendResult, StoreError> {
        let started = std::time::Instant::now();
        let outcome = self.append_checked(stream, expected, events).await;
        // Successful appends only, as under PostgreSQL.
        if outcome.is_ok() {
            metrics::histogram!("switchboard_append_seconds").record(started.elapsed().as_secs_f64());
        }
        outcome
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let raw = self.raw_read(stream, direction, from, limit).await?;
        let mut events = Vec::with_capacity(raw.len());
        for event in &raw {
            events.extend(codec::decode(event)?);
        }
        Ok(events)
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        Ok(self.raw_read(stream, Direction::Backwards, None, 1).await?.first().map(|e| e.revision))
    }

    async fn find_event(&self, event_id: uuid::Uuid) -> Result<Option<EventLocation>, StoreError> {
        index::find(&self.inner.pool, event_id).await
    }

    async fn read_all(&self, after: Position, filter: &Filter, limit: usize) -> Result<AllBatch, StoreError> {
        let c = self.connection();
        c.within(read_all(c, after, filter, limit)).await
    }

    fn subscribe_all(&self, after: Position, filter: Filter) -> EventStream {
        subscribe(self.inner.connection.clone(), after, filter)
    }

    async fn head(&self) -> Result<Position, StoreError> {
        let c = self.connection();
        c.within(head(c)).await
    }

    async fn load_checkpoint(&self, subscriber: &str) -> Result<Position, StoreError> {
        checkpoints::load(&self.inner.pool, subscriber).await
    }

    async fn save_checkpoint(&self, subscriber: &str, position: Position) -> Result<(), StoreError> {
        position.kurrent_parts()?;
        checkpoints::save(&self.inner.pool, subscriber, position).await
    }

    fn wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.connection().wakeups.subscribe()
    }

    /// KurrentDB makes an event readable on the leader when the append returns; this waits
    /// only for what another node or process wrote.
    async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), StoreError> {
        position.kurrent_parts()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            if self.head().await? >= position {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(StoreError::Timeout(timeout));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

fn native_position(position: Position) -> Result<StreamPosition<kurrentdb::Position>, StoreError> {
    Ok(match position.kurrent_parts()? {
        None => StreamPosition::Start,
        Some((commit, prepare)) => StreamPosition::Position(kurrentdb::Position { commit, prepare }),
    })
}

/// The last event of Switchboard's log (KurrentDB's system events left out).
async fn head(c: &Connection) -> Result<Position, StoreError> {
    Ok(last_event(c).await?.map_or(Position::START, |event| event.position))
}

/// The last event of Switchboard's log, if any.
async fn last_event(c: &Connection) -> Result<Option<RecordedEvent>, StoreError> {
    let options = ReadAllOptions::default()
        .position(StreamPosition::End)
        .filter(codec::server_filter(&Filter::all()))
        .max_count(1)
        .deadline(c.deadline);
    let mut read = c.client().read_all(&options).await.map_err(|e| c.failed(e))?;
    loop {
        match read.next().await.map_err(|e| c.failed(e))? {
            Some(event) => {
                if let Some(event) = codec::decode(event.get_original_event())? {
                    return Ok(Some(event));
                }
            }
            None => return Ok(None),
        }
    }
}

/// `$all` after `after`: KurrentDB reads from a position inclusively, so the event at `after`
/// itself is skipped. When the read ends before `limit`, everything up to the head seen before
/// it was returned, so `next` moves to that head even if nothing matched.
async fn read_all(c: &Connection, after: Position, filter: &Filter, limit: usize) -> Result<AllBatch, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let start = native_position(after)?;
    let head = head(c).await?;
    let asked = if after.is_start() { limit } else { limit + 1 };
    // The direction after the position: `position(End)` would turn the read backwards.
    let options =
        ReadAllOptions::default().position(start).forwards().filter(codec::server_filter(filter)).max_count(asked).deadline(c.deadline);
    let mut read = c.client().read_all(&options).await.map_err(|e| c.failed(e))?;
    let mut events = Vec::new();
    let mut scanned = 0;
    let mut last = after;
    while let Some(event) = read.next().await.map_err(|e| c.failed(e))? {
        scanned += 1;
        let event = event.get_original_event();
        let position = Position::kurrent(event.position.commit, event.position.prepare);
        if position <= after {
            continue;
        }
        last = position;
        if let Some(event) = codec::decode(event)?
            && filter.matches(&event)
        {
            events.push(event);
        }
    }
    let caught_up = scanned < asked;
    let next = if caught_up { last.max(head).max(after) } else { last };
    Ok(AllBatch { events, next, caught_up })
}

/// Catch-up then live, from the server's subscription. Resubscribes after the last event
/// delivered (KurrentDB starts a subscription after the position given), with backoff, and
/// tells the subscriber after [`SUBSCRIBE_ATTEMPTS`] failures in a row.
pub(crate) fn subscribe(connection: Arc<Connection>, after: Position, filter: Filter) -> EventStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordedEvent, StoreError>>(connection.page.max(16));
    tokio::spawn(async move {
        let mut last = after;
        let mut failures = 0u32;
        loop {
            let start = match native_position(last) {
                Ok(start) => start,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let options = SubscribeToAllOptions::default().position(start).filter(codec::server_filter(&filter));
            let mut subscription = connection.client().subscribe_to_all(&options).await;
            let error = loop {
                let next = tokio::select! {
                    _ = tx.closed() => return,
                    next = subscription.next_subscription_event() => next,
                };
                match next {
                    Ok(kurrentdb::SubscriptionEvent::EventAppeared(event)) => {
                        failures = 0;
                        let event = event.get_original_event();
                        let position = Position::kurrent(event.position.commit, event.position.prepare);
                        if position <= last {
                            continue;
                        }
                        let decoded = match codec::decode(event) {
                            Ok(decoded) => decoded,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        last = position;
                        if let Some(event) = decoded
                            && filter.matches(&event)
                            && tx.send(Ok(event)).await.is_err()
                        {
                            return;
                        }
                    }
                    Ok(kurrentdb::SubscriptionEvent::Confirmed(_) | kurrentdb::SubscriptionEvent::CaughtUp(_)) => failures = 0,
                    Ok(_) => {}
                    Err(e) => break e,
                }
            };
            // A dropped subscription comes back as a server error, not as a lost connection:
            // every failure is retried here, except those no retry cures.
            let lasting = matches!(error, kurrentdb::Error::AccessDenied | kurrentdb::Error::UnsupportedFeature);
            let error = match connection.failed(error) {
                StoreError::Kurrent(reason) if !lasting => StoreError::Unavailable(format!("KurrentDB: {reason}")),
                other => other,
            };
            failures += 1;
            if lasting || failures >= SUBSCRIBE_ATTEMPTS {
                let _ = tx.send(Err(error)).await;
                return;
            }
            tracing::warn!(error = %error, failures, "KurrentDB subscription dropped; resubscribing after the last event delivered");
            tokio::time::sleep(Duration::from_millis(100) * failures).await;
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}
