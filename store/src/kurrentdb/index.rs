//! What the KurrentDB backend keeps in PostgreSQL (migrations/V6, V7): the event-id index behind
//! [`find_event`](crate::EventStore::find_event) and cross-stream idempotency, which also
//! catalogues what the read side filters on (`catalogue`, the audit log), and the background
//! indexer that catches the index up from `$all`. (Followers' checkpoints are in
//! `es_checkpoints`, as under PostgreSQL: `postgres::checkpoints`.)

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use domain::StreamName;
use futures::StreamExt;
use uuid::Uuid;

use super::Connection;
use crate::catalogue::{from_kurrent_columns as from_halves, kurrent_columns as halves};
use crate::error::StoreError;
use crate::types::{AppendResult, EventLocation, Filter, Position, RecordedEvent};

/// Events the indexer writes per transaction at most.
const INDEX_BATCH: usize = 500;

/// One event's row in `kurrent_event_index`.
pub(crate) struct IndexRow {
    pub event_id: Uuid,
    pub stream_version: u64,
    pub position: Position,
}

/// What the index says about the ids of an append about to be sent.
pub(crate) enum Known {
    /// None of them is stored: a new append.
    None,
    /// All of them are this stream's events, in this order, one after another: a retry of an
    /// append that was stored. Its original result.
    Repeat(AppendResult),
    /// Some are stored and some not, or they are another stream's: not the same append.
    Mismatch,
}

pub(crate) async fn known(pool: &Pool, stream: &StreamName, ids: &[Uuid]) -> Result<Known, StoreError> {
    let client = pool.get().await?;
    let st = client
        .prepare_cached(
            "SELECT event_id, stream_id, stream_version, commit_position, prepare_position \
             FROM kurrent_event_index WHERE event_id = ANY ($1)",
        )
        .await?;
    let rows = client.query(&st, &[&ids]).await?;
    if rows.is_empty() {
        return Ok(Known::None);
    }
    if rows.len() != ids.len() || rows.iter().any(|r| r.get::<_, &str>(1) != stream.as_str()) {
        return Ok(Known::Mismatch);
    }
    let by_id: std::collections::HashMap<Uuid, &tokio_postgres::Row> = rows.iter().map(|r| (r.get(0), r)).collect();
    let versions: Vec<i64> = ids.iter().filter_map(|id| by_id.get(id)).map(|r| r.get(2)).collect();
    if versions.len() != ids.len() || versions.windows(2).any(|w| w[1] != w[0] + 1) {
        return Ok(Known::Mismatch);
    }
    let last = by_id[&ids[ids.len() - 1]];
    Ok(Known::Repeat(AppendResult { stream_version: Some(last.get::<_, i64>(2) as u64), position: from_halves(last.get(3), last.get(4)) }))
}

/// Records an append's events. Returns the ids that were indexed already under another
/// stream: the same id appended to two streams at once, which only the index can notice.
pub(crate) async fn record(pool: &Pool, stream: &StreamName, rows: &[IndexRow]) -> Result<Vec<Uuid>, StoreError> {
    let client = pool.get().await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut versions = Vec::with_capacity(rows.len());
    let mut commits = Vec::with_capacity(rows.len());
    let mut prepares = Vec::with_capacity(rows.len());
    for row in rows {
        let (commit, prepare) = halves(row.position)?;
        ids.push(row.event_id);
        versions.push(row.stream_version as i64);
        commits.push(commit);
        prepares.push(prepare);
    }
    let st = client
        .prepare_cached(
            "WITH new AS ( \
                 INSERT INTO kurrent_event_index (event_id, stream_id, stream_version, commit_position, prepare_position) \
                 SELECT * FROM unnest($1::uuid[], array_fill($2::text, ARRAY[cardinality($1)]), $3::bigint[], $4::bigint[], $5::bigint[]) \
                 ON CONFLICT (event_id) DO NOTHING RETURNING event_id) \
             SELECT i.event_id FROM kurrent_event_index i \
             WHERE i.event_id = ANY ($1) AND i.event_id NOT IN (SELECT event_id FROM new) AND i.stream_id <> $2",
        )
        .await?;
    let clashes = client.query(&st, &[&ids, &stream.as_str(), &versions, &commits, &prepares]).await?;
    Ok(clashes.iter().map(|r| r.get(0)).collect())
}

pub(crate) async fn find(pool: &Pool, event_id: Uuid) -> Result<Option<EventLocation>, StoreError> {
    let client = pool.get().await?;
    let st = client
        .prepare_cached("SELECT stream_id, stream_version, commit_position, prepare_position FROM kurrent_event_index WHERE event_id = $1")
        .await?;
    match client.query_opt(&st, &[&event_id]).await? {
        None => Ok(None),
        Some(row) => Ok(Some(EventLocation {
            stream: StreamName::parse(row.get::<_, &str>(0))?,
            stream_version: row.get::<_, i64>(1) as u64,
            position: from_halves(row.get(2), row.get(3)),
        })),
    }
}

/// Where the indexer has read `$all` up to.
pub(crate) async fn progress(pool: &Pool) -> Result<Position, StoreError> {
    let client = pool.get().await?;
    let row = client.query_opt("SELECT commit_position, prepare_position FROM kurrent_index_progress", &[]).await?;
    Ok(row.map_or(Position::START, |r| from_halves(r.get(0), r.get(1))))
}

/// Indexes a batch of events read from `$all`, with what the read side filters on (see
/// `catalogue`), and moves the indexer's place past them, in one transaction. The place only
/// moves forwards: several processes' indexers share it. Rows the appender
/// wrote first get those columns here.
async fn index_batch(pool: &Pool, events: &[RecordedEvent]) -> Result<(), StoreError> {
    let Some(last) = events.last() else { return Ok(()) };
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|e| e.stream_version as i64).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let actors: Vec<String> = events.iter().map(|e| e.metadata.actor.to_string()).collect();
    let gateways: Vec<&str> = events.iter().map(|e| e.metadata.gateway.as_str()).collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> = events.iter().map(|e| e.recorded_at).collect();
    let mut commits = Vec::with_capacity(events.len());
    let mut prepares = Vec::with_capacity(events.len());
    for e in events {
        let (commit, prepare) = halves(e.position)?;
        commits.push(commit);
        prepares.push(prepare);
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO kurrent_event_index AS i (event_id, stream_id, stream_version, commit_position, prepare_position, \
                                                  event_type, actor, gateway, recorded_at) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                                  $6::text[], $7::text[], $8::text[], $9::timestamptz[]) \
             ON CONFLICT (event_id) DO UPDATE SET event_type = EXCLUDED.event_type, actor = EXCLUDED.actor, \
                 gateway = EXCLUDED.gateway, recorded_at = EXCLUDED.recorded_at \
             WHERE i.recorded_at IS NULL",
        )
        .await?;
    tx.execute(&st, &[&ids, &streams, &versions, &commits, &prepares, &types, &actors, &gateways, &times]).await?;
    let (commit, prepare) = halves(last.position)?;
    tx.execute(
        "INSERT INTO kurrent_index_progress (only_row, commit_position, prepare_position, updated_at) VALUES (true, $1, $2, now()) \
         ON CONFLICT (only_row) DO UPDATE SET commit_position = EXCLUDED.commit_position, \
             prepare_position = EXCLUDED.prepare_position, updated_at = now() \
         WHERE (kurrent_index_progress.commit_position, kurrent_index_progress.prepare_position) \
             < (EXCLUDED.commit_position, EXCLUDED.prepare_position)",
        &[&commit, &prepare],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Follows `$all` from the indexer's place and indexes every event, so that an event whose
/// appender died before recording it (or that another process or `log copy` wrote) is found
/// by id all the same. Runs until the store is dropped; failures are retried from the place.
pub(crate) async fn run_indexer(connection: Arc<Connection>, pool: Pool) {
    loop {
        let from = match progress(&pool).await {
            Ok(position) => position,
            Err(e) => {
                tracing::warn!(error = %e, "KurrentDB event index: cannot read its place; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let events = super::subscribe(connection.clone(), from, Filter::all());
        // What has arrived together is written together.
        let mut batches = events.ready_chunks(INDEX_BATCH);
        while let Some(batch) = batches.next().await {
            let batch: Result<Vec<RecordedEvent>, StoreError> = batch.into_iter().collect();
            let outcome = match batch {
                Ok(events) => index_batch(&pool, &events).await.map(|()| connection.wake()),
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "KurrentDB event index: catching up failed; resuming from its place");
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
