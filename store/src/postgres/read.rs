//! Reads: one stream, the global log (gap-free), the head, and catch-up-then-live subscriptions.

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_postgres::Pool;
use domain::{DecodeError, Metadata, StreamName};
use futures::StreamExt;
use tokio_postgres::Row;
use uuid::Uuid;

use super::PgEventStore;
use crate::error::StoreError;
use crate::event_store::{EventStore, EventStream};
use crate::types::{AllBatch, Direction, Filter, Position, RecordedEvent, StoredJson};

use crate::limits::MAX_PAGE;

pub(crate) const COLUMNS: &str = "e.log_era, e.tx_id, e.global_position, e.stream_id, e.stream_version, \
                       e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at";

pub(crate) fn row_to_event(row: &Row, offset: usize) -> Result<RecordedEvent, StoreError> {
    let Xid8(tx) = row.get(offset + 1);
    let event_id: Uuid = row.get(offset + 5);
    let stream: &str = row.get(offset + 3);
    let event_type: String = row.get(offset + 6);
    let schema_version: i16 = row.get(offset + 7);
    let JsonText(payload) = row.try_get(offset + 8).map_err(|e| StoreError::Decode {
        position: Position::pg(row.get(offset), tx, row.get(offset + 2)),
        event_id,
        source: DecodeError::BadPayload { event_type: event_type.clone(), version: schema_version, reason: e.to_string() },
    })?;
    let JsonText(metadata) = row.try_get(offset + 9).map_err(|e| StoreError::BadMetadata { event_id, reason: e.to_string() })?;
    let metadata: Metadata = serde_json::from_str(metadata).map_err(|e| StoreError::BadMetadata { event_id, reason: e.to_string() })?;
    Ok(RecordedEvent {
        position: Position::pg(row.get(offset), tx, row.get(offset + 2)),
        stream: StreamName::parse(stream)?,
        stream_version: row.get::<_, i64>(offset + 4) as u64,
        event_id,
        event_type,
        schema_version,
        payload: StoredJson::from_database(payload),
        metadata,
        recorded_at: row.get(offset + 10),
    })
}

/// An `xid8` column (a transaction id) in its binary form: eight bytes, big-endian.
struct Xid8(u64);

impl<'a> tokio_postgres::types::FromSql<'a> for Xid8 {
    fn from_sql(_: &tokio_postgres::types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Xid8(u64::from_be_bytes(raw.try_into().map_err(|_| "an xid8 is eight bytes")?)))
    }
    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::XID8
    }
}

/// A jsonb column's JSON text, borrowed from the row (binary jsonb is a version byte, then the
/// text), checked as UTF-8 once here so that JSON parsing need not check each string again.
struct JsonText<'a>(&'a str);

impl<'a> tokio_postgres::types::FromSql<'a> for JsonText<'a> {
    fn from_sql(ty: &tokio_postgres::types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == tokio_postgres::types::Type::JSONB {
            match raw.split_first() {
                Some((1, text)) => Ok(JsonText(std::str::from_utf8(text)?)),
                _ => Err("unsupported jsonb format version".into()),
            }
        } else {
            Ok(JsonText(std::str::from_utf8(raw)?))
        }
    }
    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::JSONB || *ty == tokio_postgres::types::Type::JSON
    }
}

pub(crate) async fn read_stream(
    pool: &Pool,
    stream: &StreamName,
    direction: Direction,
    from: Option<u64>,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = limit.min(MAX_PAGE) as i64;
    let client = pool.get().await?;
    let rows = match direction {
        Direction::Forwards => {
            let sql = format!(
                "SELECT {COLUMNS} FROM es_events e WHERE e.stream_id = $1 AND e.stream_version >= $2 ORDER BY e.stream_version LIMIT $3"
            );
            let st = client.prepare_cached(&sql).await?;
            client.query(&st, &[&stream.as_str(), &(from.unwrap_or(0) as i64), &limit]).await?
        }
        Direction::Backwards => {
            let sql = format!(
                "SELECT {COLUMNS} FROM es_events e WHERE e.stream_id = $1 AND e.stream_version <= $2 ORDER BY e.stream_version DESC LIMIT $3"
            );
            let st = client.prepare_cached(&sql).await?;
            let from = from.map(|v| v.min(i64::MAX as u64) as i64).unwrap_or(i64::MAX);
            client.query(&st, &[&stream.as_str(), &from, &limit]).await?
        }
    };
    rows.iter().map(|r| row_to_event(r, 0)).collect()
}

pub(crate) async fn stream_version(pool: &Pool, stream: &StreamName) -> Result<Option<u64>, StoreError> {
    let client = pool.get().await?;
    let st = client.prepare_cached("SELECT version FROM es_streams WHERE stream_id = $1").await?;
    let row = client.query_opt(&st, &[&stream.as_str()]).await?;
    Ok(row.map(|r| r.get::<_, i64>(0)).filter(|v| *v >= 0).map(|v| v as u64))
}

/// The gap-free read. In ONE statement (one snapshot): take the watermark
/// `xmin = pg_snapshot_xmin(pg_current_snapshot())`, the oldest transaction still running, and
/// return only events of transactions below it. Those are final: committed and visible, or
/// rolled back and gone. Any event not yet visible belongs to a transaction >= xmin, which
/// sorts after every position this read can return, so a checkpoint never passes it.
///
/// The watermark comes back even when no row does (LEFT JOIN LATERAL), so a page that is not
/// full can advance the caller to just below it: everything readable has been seen.
///
/// `w` is MATERIALIZED so that the watermark is computed once per read: `pg_current_snapshot()`
/// is only STABLE, and inlined it would be evaluated (and converted) for every row
/// (BENCHMARKS.md, "Event store: reading the global log").
///
/// `{filter}` is left empty for the whole log (the common case), so such reads run no per-row
/// filter tests.
const READ_ALL_SQL: &str = "
WITH w AS MATERIALIZED (
    SELECT s.xmin, s.era, (s.xmin::text)::numeric::bigint - 1 AS watermark
      FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin, (SELECT current_era FROM es_log) AS era) AS s
)
SELECT w.era, w.watermark, page.*
FROM w LEFT JOIN LATERAL (
    SELECT e.log_era, e.tx_id, e.global_position, e.stream_id, e.stream_version,
           e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at
    FROM es_events e
    WHERE (e.log_era, e.tx_id, e.global_position) > ($1, $2::text::xid8, $3)
      AND (e.log_era < w.era OR e.tx_id < w.xmin)
      {filter}
    ORDER BY e.log_era, e.tx_id, e.global_position
    LIMIT $4
) page ON true";

static READ_ALL_UNFILTERED: LazyLock<String> = LazyLock::new(|| READ_ALL_SQL.replace("{filter}", ""));
static READ_ALL_FILTERED: LazyLock<String> = LazyLock::new(|| {
    READ_ALL_SQL.replace(
        "{filter}",
        "AND (cardinality($5::text[]) = 0 OR e.event_type = ANY ($5)) AND (cardinality($6::text[]) = 0 OR e.category = ANY ($6))",
    )
});

pub(crate) async fn read_all(pool: &Pool, after: Position, filter: &Filter, limit: usize) -> Result<AllBatch, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let (era, tx, pos) = after.as_pg()?;
    let client = pool.get().await?;
    let tx = tx.to_string();
    let rows = if filter.event_types.is_empty() && filter.categories.is_empty() {
        let st = client.prepare_cached(&READ_ALL_UNFILTERED).await?;
        client.query(&st, &[&era, &tx, &pos, &(limit as i64)]).await?
    } else {
        let st = client.prepare_cached(&READ_ALL_FILTERED).await?;
        client.query(&st, &[&era, &tx, &pos, &(limit as i64), &filter.event_types, &filter.categories]).await?
    };
    let mut events = Vec::with_capacity(rows.len());
    let mut watermark = Position::START;
    for row in &rows {
        let w_era: i16 = row.get(0);
        let w_tx: i64 = row.get(1);
        watermark = Position::pg(w_era, w_tx.max(0) as u64, i64::MAX);
        if row.get::<_, Option<i16>>(2).is_some() {
            events.push(row_to_event(row, 2)?);
        }
    }
    let full = events.len() == limit;
    let last = events.last().map(|e| e.position).unwrap_or(after);
    // A full page may have more behind it: continue from its last event. Otherwise every
    // matching event below the watermark has been returned: skip to the watermark.
    let next = if full { last } else { last.max(watermark).max(after) };
    Ok(AllBatch { events, next, caught_up: !full })
}

pub(crate) async fn head(pool: &Pool) -> Result<Position, StoreError> {
    let client = pool.get().await?;
    let st = client
        .prepare_cached(
            "SELECT e.log_era, e.tx_id::text, e.global_position FROM es_events e \
             WHERE e.tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())) \
                OR e.log_era < (SELECT current_era FROM es_log) \
             ORDER BY e.log_era DESC, e.tx_id DESC, e.global_position DESC LIMIT 1",
        )
        .await?;
    Ok(match client.query_opt(&st, &[]).await? {
        Some(row) => Position::pg(row.get(0), row.get::<_, &str>(1).parse().unwrap_or_default(), row.get(2)),
        None => Position::START,
    })
}

/// Catch-up then live. A task pages through the log into a bounded channel (back-pressure: a
/// slow consumer slows the reader, never drops events), then waits for a NOTIFY wake-up or the
/// poll interval. It stops when the consumer drops the stream.
pub(crate) fn subscribe(store: PgEventStore, after: Position, filter: Filter) -> EventStream {
    let page = store.inner.options.subscription_page;
    let poll = store.inner.options.poll_interval;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordedEvent, StoreError>>(page.max(16));
    tokio::spawn(async move {
        let mut wakeups = store.wakeups();
        let mut cursor = after;
        let mut failures = 0u32;
        // After a wake-up that found nothing readable, re-check after this (doubling) delay.
        let mut recheck: Option<Duration> = None;
        loop {
            wakeups.borrow_and_update();
            match read_all(&store.inner.pool, cursor, &filter, page).await {
                Ok(batch) => {
                    failures = 0;
                    for event in batch.events {
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    let progressed = batch.next > cursor;
                    cursor = batch.next;
                    if !batch.caught_up {
                        recheck = None;
                        continue;
                    }
                    recheck = match (progressed, recheck) {
                        (true, _) => None,
                        (false, None) => Some(Duration::from_millis(5)),
                        (false, Some(d)) => Some((d * 2).min(poll)),
                    };
                }
                Err(e) if e.is_transient() && failures < 10 => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "subscription read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures))).await;
                    continue;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
            // Caught up: wait for a wake-up. A NOTIFY can arrive before the event is readable
            // (an older writer is still in flight and holds the watermark back), so after a
            // wake-up that found nothing we re-check soon rather than wait a full poll interval.
            let wait = recheck.unwrap_or(poll);
            tokio::select! {
                _ = tx.closed() => return,
                _ = wakeups.changed(), if recheck.is_none() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}
