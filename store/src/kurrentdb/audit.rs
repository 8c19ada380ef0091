//! The audit read under KurrentDB: the event index (migrations/V7) selects the page by stream,
//! type, actor, gateway and time, up to the indexer's place (gap-free: the indexer reads `$all`
//! in order), and the events themselves are read from KurrentDB, a few at a time.

use futures::{StreamExt, TryStreamExt};

use super::KurrentEventStore;
use crate::catalogue::{AuditFilter, MAX_AUDIT_PAGE, kurrent_columns};
use crate::error::StoreError;
use crate::event_store::EventStore;
use crate::types::{Direction, Position, RecordedEvent};

/// Events read from KurrentDB at once for one page.
const CONCURRENT_READS: usize = 16;

pub(crate) async fn audit_page(
    store: &KurrentEventStore,
    filter: &AuditFilter,
    cursor: Option<Position>,
    newest_first: bool,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = limit.clamp(1, MAX_AUDIT_PAGE) as i64;
    let (commit, prepare) = match cursor {
        Some(p) if !p.is_start() => kurrent_columns(p)?,
        _ if newest_first => (i64::MAX, i64::MAX),
        _ => (0, 0),
    };
    let (stream, category) = match &filter.stream {
        Some(s) if s.contains('-') => (Some(s.as_str()), None),
        Some(s) => (None, Some(s.as_str())),
        None => (None, None),
    };
    let (compare, order) = if newest_first { ("<", "DESC") } else { (">", "ASC") };
    let sql = format!(
        "SELECT i.event_id, i.stream_id, i.stream_version FROM kurrent_event_index i \
         WHERE (i.commit_position, i.prepare_position) {compare} ($1, $2) \
           AND (i.commit_position, i.prepare_position) <= (SELECT p.commit_position, p.prepare_position FROM kurrent_index_progress p) \
           AND ($3::text IS NULL OR i.stream_id = $3) \
           AND ($4::text IS NULL OR i.category = $4) \
           AND ($5::text IS NULL OR i.event_type = $5) \
           AND ($6::text IS NULL OR i.actor = $6) \
           AND ($7::text IS NULL OR i.gateway = $7) \
           AND ($8::timestamptz IS NULL OR i.recorded_at >= $8) \
           AND ($9::timestamptz IS NULL OR i.recorded_at < $9) \
         ORDER BY i.commit_position {order}, i.prepare_position {order} LIMIT $10"
    );
    let client = store.inner.pool.get().await?;
    let st = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &st,
            &[&commit, &prepare, &stream, &category, &filter.event_type, &filter.actor, &filter.gateway, &filter.from, &filter.to, &limit],
        )
        .await?;
    drop(client);
    let wanted: Vec<(uuid::Uuid, domain::StreamName, u64)> = rows
        .iter()
        .map(|r| Ok((r.get(0), domain::StreamName::parse(r.get::<_, &str>(1))?, r.get::<_, i64>(2) as u64)))
        .collect::<Result<_, StoreError>>()?;
    futures::stream::iter(wanted)
        .map(|(event_id, stream, version)| async move {
            let read = store.read_stream(&stream, Direction::Forwards, Some(version), 1).await?;
            match read.into_iter().next() {
                Some(event) if event.event_id == event_id => Ok(event),
                _ => Err(StoreError::Kurrent(format!(
                    "the event index names event {event_id} at {stream}@{version}, which KurrentDB does not hold"
                ))),
            }
        })
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}
