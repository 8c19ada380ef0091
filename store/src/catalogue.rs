//! What the read side asks of the log by SQL, under either backend: the time an event was
//! recorded, the position at a time, how many events of some types lie after a checkpoint, the
//! log's rough size. Under PostgreSQL these read `es_events` below its transaction watermark;
//! under KurrentDB they read the event index (migrations/V6, V7) up to the indexer's place,
//! which is gap-free the same way (the indexer reads `$all` in order). Both live in the read
//! models' database, so a caller with a connection there and the [`Backend`] can ask.

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::error::StoreError;
use crate::types::Position;

/// Which backend holds the log (`[store] backend`: `"postgres"` or `"kurrentdb"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Postgres,
    KurrentDb,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::KurrentDb => "kurrentdb",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "postgres" => Ok(Backend::Postgres),
            "kurrentdb" => Ok(Backend::KurrentDb),
            other => Err(format!("unknown backend {other:?}: postgres or kurrentdb")),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The two halves of a KurrentDB position as the index keeps them; the start is `(0, 0)`.
pub(crate) fn kurrent_columns(position: Position) -> Result<(i64, i64), StoreError> {
    Ok(match position.kurrent_parts()? {
        Some((commit, prepare)) => (commit as i64, prepare as i64),
        None => (0, 0),
    })
}

pub(crate) fn from_kurrent_columns(commit: i64, prepare: i64) -> Position {
    if (commit, prepare) == (0, 0) { Position::START } else { Position::kurrent(commit as u64, prepare as u64) }
}

/// The index rows the read side may look at: those the indexer has passed.
const KURRENT_INDEXED: &str =
    "(i.commit_position, i.prepare_position) <= (SELECT p.commit_position, p.prepare_position FROM kurrent_index_progress p)";

/// How many events the log holds, counted in its catalogue (a sequential count; for progress
/// bars and fill levels, not for the hot path).
pub async fn event_count(client: &Client, backend: Backend) -> Result<u64, StoreError> {
    let sql = match backend {
        Backend::Postgres => "SELECT count(*) FROM es_events".to_owned(),
        Backend::KurrentDb => format!("SELECT count(*) FROM kurrent_event_index i WHERE {KURRENT_INDEXED}"),
    };
    let count: i64 = client.query_one(&sql, &[]).await?.get(0);
    Ok(count as u64)
}

/// When the event at `position` was recorded; `None` for the start or a position with no event.
pub async fn recorded_at(client: &Client, backend: Backend, position: Position) -> Result<Option<DateTime<Utc>>, StoreError> {
    if position.is_start() {
        return Ok(None);
    }
    let row = match backend {
        Backend::Postgres => {
            let (era, tx, pos) = position.as_pg()?;
            client
                .query_opt(
                    "SELECT recorded_at FROM es_events WHERE log_era = $1 AND tx_id = $2::text::xid8 AND global_position = $3",
                    &[&era, &tx.to_string(), &pos],
                )
                .await?
        }
        Backend::KurrentDb => {
            let (commit, prepare) = kurrent_columns(position)?;
            client
                .query_opt(
                    &format!(
                        "SELECT i.recorded_at FROM kurrent_event_index i \
                         WHERE i.commit_position = $1 AND i.prepare_position = $2 AND {KURRENT_INDEXED}"
                    ),
                    &[&commit, &prepare],
                )
                .await?
        }
    };
    Ok(row.map(|r| r.get(0)))
}

/// The last position recorded at or before `time` (`None` when the log starts later).
pub async fn position_at(client: &Client, backend: Backend, time: DateTime<Utc>) -> Result<Option<Position>, StoreError> {
    match backend {
        Backend::Postgres => {
            let row = client.query_opt("SELECT log_era, tx_id, global_position FROM es_position_at($1)", &[&time]).await?;
            Ok(row.map(|r| {
                let tx: &str = r.get(1);
                Position::from_pg_parts(r.get(0), tx.parse().unwrap_or(0), r.get(2))
            }))
        }
        Backend::KurrentDb => {
            let row = client
                .query_opt(
                    &format!(
                        "SELECT i.commit_position, i.prepare_position FROM kurrent_event_index i \
                         WHERE i.recorded_at <= $1 AND {KURRENT_INDEXED} \
                         ORDER BY i.recorded_at DESC, i.commit_position DESC, i.prepare_position DESC LIMIT 1"
                    ),
                    &[&time],
                )
                .await?;
            Ok(row.map(|r| from_kurrent_columns(r.get(0), r.get(1))))
        }
    }
}

/// Events of `types` readable after `after`: how many, and the age in seconds of the oldest
/// (zero when there are none). A projection's lag.
pub async fn pending(client: &Client, backend: Backend, types: &[&str], after: Position) -> Result<(i64, f64), StoreError> {
    let row = match backend {
        Backend::Postgres => {
            let (era, tx, pos) = after.as_pg()?;
            client
                .query_one(
                    "SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at))::float8, 0) FROM es_events \
                     WHERE event_type = ANY($1) AND (log_era, tx_id, global_position) > ($2::smallint, $3::text::xid8, $4::bigint) \
                       AND tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))",
                    &[&types, &era, &tx.to_string(), &pos],
                )
                .await?
        }
        Backend::KurrentDb => {
            let (commit, prepare) = kurrent_columns(after)?;
            client
                .query_one(
                    &format!(
                        "SELECT count(*), coalesce(extract(epoch FROM now() - min(i.recorded_at))::float8, 0) \
                         FROM kurrent_event_index i \
                         WHERE i.event_type = ANY($1) AND (i.commit_position, i.prepare_position) > ($2, $3) AND {KURRENT_INDEXED}"
                    ),
                    &[&types, &commit, &prepare],
                )
                .await?
        }
    };
    Ok((row.get(0), row.get::<_, f64>(1).max(0.0)))
}

/// Whether a checkpoint at `from` has in effect reached `upto` for a reader of `types`: `upto`
/// is readable (no earlier write can still appear before it) and no event of those types lies
/// in `(from, upto]`.
pub async fn reached(client: &Client, backend: Backend, types: &[&str], from: Position, upto: Position) -> Result<bool, StoreError> {
    let row = match backend {
        Backend::Postgres => {
            let (era, tx, pos) = upto.as_pg()?;
            let (f_era, f_tx, f_pos) = from.as_pg()?;
            client
                .query_one(
                    "SELECT ($1::smallint < (SELECT current_era FROM es_log) OR $2::text::xid8 < pg_snapshot_xmin(pg_current_snapshot())) \
                        AND NOT EXISTS (SELECT 1 FROM es_events WHERE event_type = ANY ($4) \
                              AND (log_era, tx_id, global_position) > ($5::smallint, $6::text::xid8, $7::bigint) \
                              AND (log_era, tx_id, global_position) <= ($1::smallint, $2::text::xid8, $3::bigint))",
                    &[&era, &tx.to_string(), &pos, &types, &f_era, &f_tx.to_string(), &f_pos],
                )
                .await?
        }
        Backend::KurrentDb => {
            let (commit, prepare) = kurrent_columns(upto)?;
            let (f_commit, f_prepare) = kurrent_columns(from)?;
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM kurrent_index_progress p \
                                WHERE ($1::bigint, $2::bigint) <= (p.commit_position, p.prepare_position)) \
                        AND NOT EXISTS (SELECT 1 FROM kurrent_event_index i WHERE i.event_type = ANY ($3) \
                              AND (i.commit_position, i.prepare_position) > ($4, $5) \
                              AND (i.commit_position, i.prepare_position) <= ($1, $2))",
                    &[&commit, &prepare, &types, &f_commit, &f_prepare],
                )
                .await?
        }
    };
    Ok(row.get(0))
}

/// What an audit page selects. Every field narrows; all empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// One stream (`room-…`), or a category when it has no `-` (`room`).
    pub stream: Option<String>,
    /// A stored event type (`room.user_banned`).
    pub event_type: Option<String>,
    /// `user:<id>`, `system` or `anonymous`.
    pub actor: Option<String>,
    /// `irc`, `sms`, `api` or `system`.
    pub gateway: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
}

/// Largest audit page.
pub const MAX_AUDIT_PAGE: usize = 1_000;
