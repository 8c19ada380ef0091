//! A worker applies batches of events to one generation of one projection, each batch and its
//! checkpoint in one transaction.
//!
//! Exactly-once for read models comes from the checkpoint check inside that transaction: a batch
//! commits only if the checkpoint still is where the worker expects it, so a batch delivered
//! twice, a runner racing another, or a rebuild switching generations underneath can never apply
//! an event twice. When the check fails the worker reports [`BatchOutcome::Stale`] and the caller
//! re-reads where it stands.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{Event, EventCodec};
use futures::future::join_all;
use store::{Envelope, Position, RecordedEvent};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::error::{ProjectionError, describe, is_connection_error};
use crate::projection::Projection;
use crate::writes::Writes;
use crate::{db, locks};

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Written, and the checkpoint moved to the batch's last position.
    Applied,
    /// Nothing written: the checkpoint (or, for the live generation, the generation itself) was
    /// not what this worker expected. Re-attach and carry on from the stored checkpoint.
    Stale,
}

/// Whether the worker feeds the generation readers see (and must yield to a switch-over) or a
/// generation being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Live,
    Build,
}

pub struct Worker {
    projection: Arc<dyn Projection>,
    client: Client,
    generation: i32,
    role: Role,
    position: Position,
    statements: HashMap<&'static str, Statement>,
    bookkeeping: Bookkeeping,
}

/// The statements every batch runs around the projection's own, prepared once so that they can
/// be pipelined (a statement sent as text would wait for its own prepare round trip and fall
/// out of order).
struct Bookkeeping {
    lock: Statement,
    guard: Statement,
    checkpoint: Statement,
}

const GUARD_SQL: &str = "SELECT (SELECT generation FROM es_projections WHERE name = $1), \
        coalesce((SELECT (log_era, tx_id, global_position) = ($3::smallint, $4::text::xid8, $5::bigint) \
                  FROM es_checkpoints WHERE subscriber = $2), $5::bigint = 0)";

const CHECKPOINT_SQL: &str = "INSERT INTO es_checkpoints (subscriber, log_era, tx_id, global_position, updated_at) \
        VALUES ($1, $2, $3::text::xid8, $4, now()) \
        ON CONFLICT (subscriber) DO UPDATE SET log_era = excluded.log_era, tx_id = excluded.tx_id, \
            global_position = excluded.global_position, updated_at = excluded.updated_at";

impl Worker {
    /// Attaches `client` to a generation: sets its search path and reads its checkpoint.
    pub async fn attach(projection: Arc<dyn Projection>, client: Client, generation: i32, role: Role) -> Result<Self, ProjectionError> {
        let schema = db::schema_name(projection.name(), generation);
        client.batch_execute(&format!("SET search_path TO {schema}, public")).await?;
        let position = db::checkpoint(&client, &db::subscriber(projection.name(), generation)).await?;
        let bookkeeping = Bookkeeping {
            lock: client.prepare("SELECT pg_advisory_xact_lock($1, $2)").await?,
            guard: client.prepare(GUARD_SQL).await?,
            checkpoint: client.prepare(CHECKPOINT_SQL).await?,
        };
        Ok(Self { projection, client, generation, role, position, statements: HashMap::new(), bookkeeping })
    }

    pub fn projection(&self) -> &Arc<dyn Projection> {
        &self.projection
    }

    pub fn position(&self) -> Position {
        self.position
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn into_client(self) -> Client {
        self.client
    }

    /// Decodes and applies recorded events (already filtered to this projection's types).
    /// `upto` is where the reader stands (at or after the last event).
    pub async fn apply_recorded(&mut self, events: Vec<RecordedEvent>, upto: Position) -> Result<BatchOutcome, ProjectionError> {
        let mut decoded = Vec::with_capacity(events.len());
        for event in events {
            decoded.push(self.decode(event)?);
        }
        let refs: Vec<&Envelope<Event>> = decoded.iter().collect();
        self.apply(&refs, upto).await
    }

    pub(crate) fn decode(&self, event: RecordedEvent) -> Result<Envelope<Event>, ProjectionError> {
        let (position, event_id) = (event.position, event.event_id);
        let event_type = event.event_type.clone();
        event.decode::<Event>().map_err(|e| ProjectionError::EventFailed {
            projection: self.projection.name(),
            position,
            event_type,
            event_id,
            reason: e.to_string(),
        })
    }

    /// Applies decoded events and moves the checkpoint to `upto` (at least the last event's
    /// position; it may be further when the reader skipped events of other types). When the
    /// batch fails on a statement, the events are retried one per transaction so the error
    /// names the event that caused it; the ones before it are kept.
    pub async fn apply(&mut self, events: &[&Envelope<Event>], upto: Position) -> Result<BatchOutcome, ProjectionError> {
        // Events at or before the checkpoint were applied already (a batch handed over twice):
        // they are dropped here, whoever the caller is.
        let fresh: Vec<&Envelope<Event>> = events.iter().copied().filter(|e| e.position > self.position).collect();
        if fresh.is_empty() && upto <= self.position {
            return Ok(BatchOutcome::Applied);
        }
        let events = fresh.as_slice();
        let first = self.apply_once(events, upto).await;
        // A statement may fail only because the generation was switched (its tables are gone):
        // that is staleness, not the event's fault.
        if matches!(first, Err(BatchError::Statement(_))) && self.is_stale().await? {
            return Ok(BatchOutcome::Stale);
        }
        match first {
            Err(BatchError::Statement(reason)) if events.len() > 1 => {
                tracing::warn!(projection = self.projection.name(), %reason, "batch failed; locating the event");
                for (i, event) in events.iter().enumerate() {
                    let upto_here = if i + 1 == events.len() { upto } else { event.position };
                    match self.apply_once(std::slice::from_ref(event), upto_here).await {
                        Ok(BatchOutcome::Applied) => {}
                        Ok(BatchOutcome::Stale) => return Ok(BatchOutcome::Stale),
                        Err(e) => return Err(self.blame(event, e)),
                    }
                }
                Ok(BatchOutcome::Applied)
            }
            Err(e) => match events.first() {
                Some(event) => Err(self.blame(event, e)),
                None => Err(e.into()),
            },
            Ok(outcome) => Ok(outcome),
        }
    }

    /// Whether the checkpoint (or, for the live generation, the generation) moved under us.
    async fn is_stale(&self) -> Result<bool, ProjectionError> {
        let (era, tx, pos) = self.position.stored_parts();
        let row = self
            .client
            .query_one(
                &self.bookkeeping.guard,
                &[&self.projection.name(), &db::subscriber(self.projection.name(), self.generation), &era, &tx.to_string(), &pos],
            )
            .await?;
        let live_generation: Option<i32> = row.get(0);
        let checkpoint_matches: bool = row.get(1);
        Ok(!checkpoint_matches || (self.role == Role::Live && live_generation != Some(self.generation)))
    }

    fn blame(&self, event: &Envelope<Event>, e: BatchError) -> ProjectionError {
        match e {
            BatchError::Statement(reason) => ProjectionError::EventFailed {
                projection: self.projection.name(),
                position: event.position,
                event_type: event.event.event_type().to_string(),
                event_id: event.event_id,
                reason,
            },
            other => other.into(),
        }
    }

    async fn apply_once(&mut self, events: &[&Envelope<Event>], upto: Position) -> Result<BatchOutcome, BatchError> {
        let mut writes = Writes::default();
        self.projection.apply(events, &mut writes);
        for write in writes.iter() {
            if !self.statements.contains_key(write.sql) {
                let statement = self.client.prepare(write.sql).await.map_err(BatchError::classify)?;
                self.statements.insert(write.sql, statement);
            }
        }
        let (era, tx, pos) = upto.stored_parts();
        let (expected_era, expected_tx, expected_pos) = self.position.stored_parts();
        let subscriber = db::subscriber(self.projection.name(), self.generation);
        let name = self.projection.name();
        let (lock_space, lock_key) = locks::batch(name);
        let tx_text = tx.to_string();
        let expected_tx_text = expected_tx.to_string();

        // Everything below is sent as one pipeline: BEGIN, lock, guard, the writes, the
        // checkpoint. The guard's answer decides between COMMIT and ROLLBACK, so a stale batch
        // writes nothing even though its statements were already sent.
        let transaction = self.client.transaction().await.map_err(BatchError::classify)?;
        let tx_ref = &transaction;
        let bookkeeping = &self.bookkeeping;
        let statements = &self.statements;
        let live = self.role == Role::Live;
        let lock_params: [&(dyn ToSql + Sync); 2] = [&lock_space, &lock_key];
        let guard_params: [&(dyn ToSql + Sync); 5] = [&name, &subscriber, &expected_era, &expected_tx_text, &expected_pos];
        let checkpoint_params: [&(dyn ToSql + Sync); 4] = [&subscriber, &era, &tx_text, &pos];
        let lock = async move { if live { tx_ref.execute(&bookkeeping.lock, &lock_params).await.map(|_| ()) } else { Ok(()) } };
        let guard = tx_ref.query_one(&bookkeeping.guard, &guard_params);
        let writes_done = join_all(writes.iter().map(|w| {
            let statement = &statements[w.sql];
            let params: Vec<&(dyn ToSql + Sync)> = w.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            async move { tx_ref.execute(statement, &params).await }
        }));
        let checkpoint = tx_ref.execute(&bookkeeping.checkpoint, &checkpoint_params);
        // futures::join! polls in argument order, and tokio-postgres sends a request on its
        // future's first poll: the server sees lock, guard, writes, checkpoint in that order.
        let (lock, guard, writes_done, checkpoint) = futures::join!(lock, guard, writes_done, checkpoint);
        lock.map_err(BatchError::classify)?;
        let guard = guard.map_err(BatchError::classify)?;
        let live_generation: Option<i32> = guard.get(0);
        let checkpoint_matches: bool = guard.get(1);
        let generation_matches = self.role == Role::Build || live_generation == Some(self.generation);
        if !checkpoint_matches || !generation_matches {
            transaction.rollback().await.map_err(BatchError::classify)?;
            return Ok(BatchOutcome::Stale);
        }
        for result in writes_done {
            result.map_err(BatchError::classify)?;
        }
        checkpoint.map_err(BatchError::classify)?;
        transaction.commit().await.map_err(BatchError::classify)?;
        self.position = upto;
        Ok(BatchOutcome::Applied)
    }
}

/// Why one attempt at a batch failed: a statement the server refused (bad data or a handler bug:
/// blame an event) or the connection (lost: retry later).
enum BatchError {
    Statement(String),
    Unavailable(String),
}

impl BatchError {
    fn classify(e: tokio_postgres::Error) -> Self {
        if is_connection_error(&e) { BatchError::Unavailable(e.to_string()) } else { BatchError::Statement(describe(&e)) }
    }
}

impl From<BatchError> for ProjectionError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Statement(reason) => ProjectionError::Database(reason),
            BatchError::Unavailable(reason) => ProjectionError::Unavailable(reason),
        }
    }
}
