//! Writing events copied from another log (`log copy`): with their ids, stream versions, types,
//! metadata and recorded times as they are, in the order given, one transaction per batch.

use std::collections::HashMap;
use std::time::Duration;

use super::PgEventStore;
use crate::error::StoreError;
use crate::types::RecordedEvent;

/// How long [`PgEventStore::last_event`] waits for its event to become readable.
const LAST_EVENT_WAIT: Duration = Duration::from_secs(60);

impl PgEventStore {
    /// Appends `events`, copied in log order from another log, keeping each one's id, stream
    /// version and recorded time. Each stream must continue exactly where it stands here (a
    /// gap or an overlap is [`StoreError::WrongExpectedVersion`]); the batch is one
    /// transaction. Copied events all count as fencing for decision fences (the source's
    /// inert marks are not carried; the safe side). The target must not take appends
    /// meanwhile: the copy is its only writer.
    pub async fn import(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut client = self.pool().get().await?;
        let tx = client.transaction().await?;
        // Where each stream of the batch stands, and where the batch leaves it.
        let mut streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        let rows = tx.query("SELECT stream_id, version FROM es_streams WHERE stream_id = ANY ($1) FOR UPDATE", &[&streams]).await?;
        let mut versions: HashMap<String, i64> = rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect();
        for event in events {
            let at = versions.entry(event.stream.as_str().to_owned()).or_insert(-1);
            if event.stream_version as i64 != *at + 1 {
                return Err(StoreError::WrongExpectedVersion {
                    stream: event.stream.clone(),
                    expected: crate::types::ExpectedVersion::Exact(event.stream_version.saturating_sub(1)),
                    actual: u64::try_from(*at).ok(),
                });
            }
            *at += 1;
        }
        let stream_ids: Vec<&str> = streams.clone();
        let categories: Vec<&str> = stream_ids.iter().map(|s| s.split('-').next().unwrap_or(s)).collect();
        let last: Vec<i64> = stream_ids.iter().map(|s| versions[*s]).collect();
        tx.execute(
            "INSERT INTO es_streams AS s (stream_id, category, version, fence) \
             SELECT n.id, n.cat, n.v, n.v FROM unnest($1::text[], $2::text[], $3::bigint[]) AS n(id, cat, v) \
             ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, fence = EXCLUDED.version",
            &[&stream_ids, &categories, &last],
        )
        .await?;
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        let event_streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        let event_categories: Vec<&str> = events.iter().map(|e| e.stream.category()).collect();
        let stream_versions: Vec<i64> = events.iter().map(|e| e.stream_version as i64).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let schema_versions: Vec<i16> = events.iter().map(|e| e.schema_version).collect();
        let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
        let metadata: Vec<String> =
            events.iter().map(|e| serde_json::to_string(&e.metadata).expect("metadata always serialises")).collect();
        let times: Vec<chrono::DateTime<chrono::Utc>> = events.iter().map(|e| e.recorded_at).collect();
        // Identity values follow the order of the SELECT: the batch keeps its order in the log.
        tx.execute(
            "INSERT INTO es_events (log_era, stream_id, category, stream_version, event_id, event_type, schema_version, \
                                    payload, metadata, recorded_at) \
             SELECT (SELECT current_era FROM es_log), e.stream_id, e.category, e.stream_version, e.event_id, e.event_type, \
                    e.schema_version, e.payload::jsonb, e.metadata::jsonb, e.recorded_at \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::smallint[], $7::text[], $8::text[], \
                         $9::timestamptz[]) WITH ORDINALITY \
                  AS e(event_id, stream_id, category, stream_version, event_type, schema_version, payload, metadata, recorded_at, ord) \
             ORDER BY e.ord",
            &[&ids, &event_streams, &event_categories, &stream_versions, &types, &schema_versions, &payloads, &metadata, &times],
        )
        .await?;
        tx.execute("SELECT pg_notify('es_events', '')", &[]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The last committed event of the log, if any, once it is readable: reads after this see
    /// everything up to it (a transaction elsewhere in the cluster can hold the watermark back
    /// for a moment; this waits for it, at most the store's wait limit).
    pub async fn last_event(&self) -> Result<Option<RecordedEvent>, StoreError> {
        let client = self.pool().get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {} FROM es_events e ORDER BY e.log_era DESC, e.tx_id DESC, e.global_position DESC LIMIT 1",
                    super::read::COLUMNS
                ),
                &[],
            )
            .await?;
        drop(client);
        let Some(last) = row.map(|r| super::read::row_to_event(&r, 0)).transpose()? else { return Ok(None) };
        crate::EventStore::wait_for(self, last.position, LAST_EVENT_WAIT).await?;
        Ok(Some(last))
    }
}
