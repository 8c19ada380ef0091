//! The audit read: the raw log filtered by stream, type, actor, gateway and time, in log order
//! either way, a page at a time after a position. Same gap-free rule as `read_all` (only events
//! below the transaction watermark), so paging forward never skips an event that commits late.

use deadpool_postgres::Pool;

use super::read::{COLUMNS, row_to_event};
use crate::catalogue::{AuditFilter, MAX_AUDIT_PAGE};
use crate::error::StoreError;
use crate::types::{Position, RecordedEvent};

/// One page of the filtered log after (or, `newest_first`, before) `cursor`.
pub async fn audit_page(
    pool: &Pool,
    filter: &AuditFilter,
    cursor: Option<Position>,
    newest_first: bool,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = limit.clamp(1, MAX_AUDIT_PAGE) as i64;
    let (era, tx, pos) = match cursor {
        Some(p) => p.as_pg()?,
        None if newest_first => (i16::MAX, u64::MAX >> 1, i64::MAX),
        None => (0, 0, 0),
    };
    let (stream, category) = match &filter.stream {
        Some(s) if s.contains('-') => (Some(s.as_str()), None),
        Some(s) => (None, Some(s.as_str())),
        None => (None, None),
    };
    let (compare, order) = if newest_first { ("<", "DESC") } else { (">", "ASC") };
    let sql = format!(
        "SELECT {COLUMNS} FROM es_events e \
         WHERE (e.log_era, e.tx_id, e.global_position) {compare} ($1, $2::text::xid8, $3) \
           AND (e.log_era < (SELECT current_era FROM es_log) OR e.tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))) \
           AND ($4::text IS NULL OR e.stream_id = $4) \
           AND ($5::text IS NULL OR e.category = $5) \
           AND ($6::text IS NULL OR e.event_type = $6) \
           AND ($7::text IS NULL OR e.actor = $7) \
           AND ($8::text IS NULL OR e.metadata ->> 'gateway' = $8) \
           AND ($9::timestamptz IS NULL OR e.recorded_at >= $9) \
           AND ($10::timestamptz IS NULL OR e.recorded_at < $10) \
         ORDER BY e.log_era {order}, e.tx_id {order}, e.global_position {order} LIMIT $11"
    );
    let client = pool.get().await?;
    let st = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &st,
            &[
                &era,
                &tx.to_string(),
                &pos,
                &stream,
                &category,
                &filter.event_type,
                &filter.actor,
                &filter.gateway,
                &filter.from,
                &filter.to,
                &limit,
            ],
        )
        .await?;
    rows.iter().map(|r| row_to_event(r, 0)).collect()
}
