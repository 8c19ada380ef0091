//! Group commit: concurrent appends are queued and committed together, one transaction (one
//! fsync) for many appends, each with its own expected-version check and outcome.
//!
//! Why: with durable settings every commit waits for a WAL flush, which dominates an append's
//! cost wherever a flush takes milliseconds (BENCHMARKS.md, "Event store: appends").
//! Committing N independent appends in one transaction pays that once. The whole group is one
//! call in an implicit transaction: one round trip per group. Disjoint groups (each append has
//! events and its own stream: nearly all of them) take `es_append_disjoint`, set-based; the
//! rest, and any group meeting an already stored event id, take the general `es_append_group`.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::Pool;
use domain::StreamName;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use crate::error::StoreError;
use crate::limits::{MAX_EVENT_PAYLOAD_BYTES, MAX_EVENTS_PER_APPEND, check_event_count, valid_event_type};
use crate::types::{AppendResult, ExpectedVersion, NewEvent, Position, StreamAppend};

/// A group that fails on a transient race (deadlock, concurrent duplicate id) is retried this
/// often; each retry re-checks idempotency, so a concurrent duplicate turns into `duplicate`.
const GROUP_RETRIES: usize = 5;
/// Consecutive yields without a new arrival after which a group is committed.
const FILL_YIELDS: usize = 3;

/// One append, validated and serialised, waiting for a committer.
struct PendingAppend {
    stream: StreamName,
    expected: ExpectedVersion,
    /// Every event is inert: the append leaves the stream's fence where it was.
    inert: bool,
    events: Vec<EncodedEvent>,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

struct EncodedEvent {
    event_id: Uuid,
    event_type: String,
    schema_version: i16,
    payload: RawJsonb,
    metadata: RawJsonb,
}

/// JSON already serialised once (to measure it), sent to PostgreSQL as jsonb without a second
/// serialisation.
#[derive(Debug)]
struct RawJsonb(Vec<u8>);

impl ToSql for RawJsonb {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // jsonb binary format: a version byte, then the JSON text.
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
    to_sql_checked!();
}

/// Appends that join one group together, in their order: one append, or the appends of an
/// [`append_in_order`](GroupCommitter::append_in_order).
type Bundle = Vec<PendingAppend>;

pub(crate) struct GroupCommitter {
    queue: mpsc::Sender<Bundle>,
    capacity: usize,
}

impl GroupCommitter {
    pub(crate) fn start(pool: Pool, committers: usize, max_group_events: usize, max_queued: usize) -> Self {
        let capacity = max_queued.max(1);
        let (queue, rx) = mpsc::channel(capacity);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..committers.max(1) {
            tokio::spawn(committer(pool.clone(), rx.clone(), max_group_events.max(1)));
        }
        Self { queue, capacity }
    }

    pub(crate) fn queued(&self) -> usize {
        self.capacity - self.queue.capacity()
    }

    pub(crate) async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let (pending, answer) = pending(stream, expected, events)?;
        self.enqueue(vec![pending])?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// Appends that are committed in one group, in the order given, so they stand in the log in
    /// that order; each has its own check and outcome. One that cannot be queued (too large, an
    /// invalid event) fails alone and the others go ahead.
    pub(crate) async fn append_in_order(&self, appends: Vec<StreamAppend>) -> Vec<Result<AppendResult, StoreError>> {
        let total: usize = appends.iter().map(|a| a.events.len()).sum();
        if total > MAX_EVENTS_PER_APPEND {
            let error = || StoreError::TooManyEvents { count: total, limit: MAX_EVENTS_PER_APPEND };
            return appends.iter().map(|_| Err(error())).collect();
        }
        let mut bundle = Vec::new();
        let mut answers = Vec::new();
        for append in appends {
            match pending(&append.stream, append.expected, append.events) {
                Ok((pending, answer)) => {
                    bundle.push(pending);
                    answers.push(Ok(answer));
                }
                Err(e) => answers.push(Err(e)),
            }
        }
        if let Err(e) = self.enqueue(bundle) {
            // Nothing of the bundle was queued: each append hears why.
            let refused = |e: &StoreError| match e {
                StoreError::ShuttingDown => StoreError::ShuttingDown,
                other => StoreError::Unavailable(other.to_string()),
            };
            return answers.into_iter().map(|a| Err(a.err().unwrap_or_else(|| refused(&e)))).collect();
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(match answer {
                Ok(answer) => answer.await.unwrap_or(Err(StoreError::ShuttingDown)),
                Err(e) => Err(e),
            });
        }
        results
    }

    fn enqueue(&self, bundle: Bundle) -> Result<(), StoreError> {
        if bundle.is_empty() {
            return Ok(());
        }
        match self.queue.try_send(bundle) {
            Ok(()) => Ok(()),
            // Full only when the committers cannot keep up at all (a database that hangs): refused
            // now, and nothing of it is stored.
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(StoreError::Unavailable(format!("{} appends are already waiting for the database", self.capacity)))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StoreError::ShuttingDown),
        }
    }
}

type Answer = oneshot::Receiver<Result<AppendResult, StoreError>>;

/// One append validated and serialised for a committer, and where its outcome will come.
fn pending(stream: &StreamName, expected: ExpectedVersion, events: Vec<NewEvent>) -> Result<(PendingAppend, Answer), StoreError> {
    check_event_count(events.len())?;
    let inert = events.iter().all(|e| e.inert);
    let events = events.into_iter().map(encode).collect::<Result<Vec<_>, _>>()?;
    let (reply, answer) = oneshot::channel();
    Ok((PendingAppend { stream: stream.clone(), expected, inert, events, reply }, answer))
}

fn encode(event: NewEvent) -> Result<EncodedEvent, StoreError> {
    if !valid_event_type(&event.event_type) {
        return Err(StoreError::InvalidEventType(event.event_type.chars().take(80).collect()));
    }
    let payload = serde_json::to_vec(&event.payload).expect("a serde_json::Value always serialises");
    if payload.len() > MAX_EVENT_PAYLOAD_BYTES {
        return Err(StoreError::PayloadTooLarge { event_id: event.event_id, size: payload.len(), limit: MAX_EVENT_PAYLOAD_BYTES });
    }
    let metadata = serde_json::to_vec(&event.metadata).expect("metadata always serialises");
    Ok(EncodedEvent {
        event_id: event.event_id,
        event_type: event.event_type,
        schema_version: event.schema_version,
        payload: RawJsonb(payload),
        metadata: RawJsonb(metadata),
    })
}

async fn committer(pool: Pool, queue: Arc<Mutex<mpsc::Receiver<Bundle>>>, max_group_events: usize) {
    loop {
        let group = {
            let mut rx = queue.lock().await;
            let Some(mut group) = rx.recv().await else { return };
            let mut size: usize = group.iter().map(|a| a.events.len()).sum();
            // Take whatever else is waiting, up to the group bound. Writers whose previous append
            // just committed are still waking up when we get here, so yield a few times while new
            // appends keep arriving: microseconds spent here save a whole commit for each
            // append that joins. Under low load nothing arrives and the append commits at once.
            let mut idle_yields = 0;
            while size < max_group_events && idle_yields < FILL_YIELDS {
                match rx.try_recv() {
                    Ok(next) => {
                        size += next.iter().map(|a| a.events.len()).sum::<usize>();
                        group.extend(next);
                        idle_yields = 0;
                    }
                    Err(_) => {
                        tokio::task::yield_now().await;
                        idle_yields += 1;
                    }
                }
            }
            group
        };
        // An append whose caller stopped waiting (its request timed out) is not committed: the
        // caller was told it failed, so it must not appear later.
        let group: Vec<PendingAppend> = group.into_iter().filter(|a| !a.reply.is_closed()).collect();
        if !group.is_empty() {
            commit_group(&pool, group).await;
        }
    }
}

/// The general path: any group (repeated streams, empty appends, retries of stored appends).
const APPEND_GROUP_SQL: &str = "SELECT append_index, outcome, stream_version, log_era, tx_id, global_position \
     FROM es_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// The fast path for a disjoint group: every append has events and its own stream.
const APPEND_DISJOINT_SQL: &str = "SELECT append_index, outcome, stream_version, log_era, tx_id, global_position \
     FROM es_append_disjoint($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

async fn commit_group(pool: &Pool, group: Vec<PendingAppend>) {
    match commit_with_retries(pool, &group).await {
        Ok(results) => {
            for (pending, result) in group.into_iter().zip(results) {
                let _ = pending.reply.send(result);
            }
        }
        Err(StoreError::Database(e)) if group.len() > 1 => {
            // PostgreSQL refused the data of some append (a NUL character in a payload, say):
            // the others must not pay for it. Commit each alone so each gets its own outcome.
            tracing::debug!(error = %e, appends = group.len(), "append group refused; committing its appends one by one");
            for pending in group {
                let result = commit_with_retries(pool, std::slice::from_ref(&pending)).await.and_then(|mut r| r.remove(0));
                let _ = pending.reply.send(result);
            }
        }
        Err(e) if group.len() == 1 => {
            let _ = group.into_iter().next().map(|pending| pending.reply.send(Err(e)));
        }
        Err(e) => {
            // The server went away: every append's outcome is unknown alike.
            tracing::warn!(error = %e, appends = group.len(), "append group failed");
            for pending in group {
                let _ = pending.reply.send(Err(share(&e)));
            }
        }
    }
}

/// Commits a group, retrying transient races between groups.
async fn commit_with_retries(pool: &Pool, group: &[PendingAppend]) -> Result<Vec<Result<AppendResult, StoreError>>, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_commit(pool, group).await {
            Err(StoreError::Database(e)) if attempt < GROUP_RETRIES && is_retryable_race(&e) => {
                tracing::debug!(error = %e, attempt, "append group raced another writer; retrying");
                tokio::time::sleep(Duration::from_millis(rand::random_range(1..10) * attempt as u64)).await;
            }
            other => return other,
        }
    }
}

/// Deadlocks between groups that create the same new streams, and a concurrent append of the
/// same event id, abort the whole transaction; a fresh attempt resolves both.
fn is_retryable_race(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Whether the fast path takes the group: every append writes events, each to its own stream.
fn is_disjoint(group: &[PendingAppend]) -> bool {
    let mut streams = std::collections::HashSet::with_capacity(group.len());
    group.iter().all(|a| !a.events.is_empty() && streams.insert(a.stream.as_str()))
}

/// The same failure for each append of a group (connection-level errors only reach here).
fn share(e: &StoreError) -> StoreError {
    match e {
        StoreError::Pool(m) => StoreError::Pool(m.clone()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

async fn try_commit(pool: &Pool, group: &[PendingAppend]) -> Result<Vec<Result<AppendResult, StoreError>>, StoreError> {
    let n_events: usize = group.iter().map(|a| a.events.len()).sum();
    let mut a_stream = Vec::with_capacity(group.len());
    let mut a_category = Vec::with_capacity(group.len());
    let mut a_expected = Vec::with_capacity(group.len());
    let mut a_fence = Vec::with_capacity(group.len());
    let mut a_inert = Vec::with_capacity(group.len());
    let mut e_append = Vec::with_capacity(n_events);
    let mut e_event_id = Vec::with_capacity(n_events);
    let mut e_type = Vec::with_capacity(n_events);
    let mut e_schema = Vec::with_capacity(n_events);
    let mut e_payload = Vec::with_capacity(n_events);
    let mut e_metadata = Vec::with_capacity(n_events);
    for (i, append) in group.iter().enumerate() {
        a_stream.push(append.stream.as_str());
        a_category.push(append.stream.category());
        a_expected.push(append.expected.sql_code());
        a_fence.push(append.expected.sql_fence());
        a_inert.push(append.inert);
        for event in &append.events {
            e_append.push(i as i32 + 1);
            e_event_id.push(event.event_id);
            e_type.push(event.event_type.as_str());
            e_schema.push(event.schema_version);
            e_payload.push(&event.payload);
            e_metadata.push(&event.metadata);
        }
    }
    let client = pool.get().await?;
    // One statement outside an explicit transaction is its own transaction: atomic, one round trip.
    let mut rows = None;
    if is_disjoint(group) {
        let a_count: Vec<i32> = group.iter().map(|a| a.events.len() as i32).collect();
        let e_index: Vec<i32> = group.iter().flat_map(|a| 1..=a.events.len() as i32).collect();
        let statement = client.prepare_cached(APPEND_DISJOINT_SQL).await?;
        let params: [&(dyn ToSql + Sync); 13] = [
            &a_stream,
            &a_category,
            &a_expected,
            &a_fence,
            &a_inert,
            &a_count,
            &e_append,
            &e_index,
            &e_event_id,
            &e_type,
            &e_schema,
            &e_payload,
            &e_metadata,
        ];
        match client.query(&statement, &params).await {
            Ok(r) => rows = Some(r),
            // An event id is already stored: a retry, or a clash. The general path tells which.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let rows = match rows {
        Some(rows) => rows,
        None => {
            let statement = client.prepare_cached(APPEND_GROUP_SQL).await?;
            client
                .query(
                    &statement,
                    &[
                        &a_stream,
                        &a_category,
                        &a_expected,
                        &a_fence,
                        &a_inert,
                        &e_append,
                        &e_event_id,
                        &e_type,
                        &e_schema,
                        &e_payload,
                        &e_metadata,
                    ],
                )
                .await?
        }
    };

    let mut results: Vec<Option<Result<AppendResult, StoreError>>> = (0..group.len()).map(|_| None).collect();
    for row in rows {
        let index = row.get::<_, i32>(0) as usize - 1;
        let outcome: &str = row.get(1);
        let version: Option<i64> = row.get(2);
        let append = &group[index];
        let position = match (row.get::<_, Option<i16>>(3), row.get::<_, Option<&str>>(4), row.get::<_, Option<i64>>(5)) {
            (Some(era), Some(tx), Some(pos)) => Position::pg(era, tx.parse().unwrap_or_default(), pos),
            _ => Position::START,
        };
        let stream_version = version.filter(|v| *v >= 0).map(|v| v as u64);
        results[index] = Some(match outcome {
            "ok" | "duplicate" => Ok(AppendResult { stream_version, position }),
            "conflict" => {
                Err(StoreError::WrongExpectedVersion { stream: append.stream.clone(), expected: append.expected, actual: stream_version })
            }
            _ => Err(StoreError::IdempotencyMismatch { stream: append.stream.clone() }),
        });
    }
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(StoreError::Unavailable("append group returned no outcome".into())))).collect())
}
