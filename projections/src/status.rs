//! `switchboard projections status`: where each projection stands, read from the database (so it
//! works from any process, whether or not this one runs the projections).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use store::{Backend, Position};
use tokio_postgres::Client;

use crate::db;
use crate::error::ProjectionError;
use crate::projection::Projection;

#[derive(Debug, Clone)]
pub struct ProjectionReport {
    pub name: &'static str,
    /// The code's version, and the version of the live generation (None: never built).
    pub version: i32,
    pub live_version: Option<i32>,
    pub generation: Option<i32>,
    /// `live`, `failed`, or `not built`.
    pub state: String,
    pub error: Option<String>,
    pub position: Position,
    /// Events of its types recorded after its checkpoint.
    pub lag_events: i64,
    /// Age of the oldest event it has not applied yet (zero when caught up).
    pub lag_seconds: f64,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn report(
    client: &Client,
    backend: Backend,
    projections: &[Arc<dyn Projection>],
) -> Result<Vec<ProjectionReport>, ProjectionError> {
    let mut reports = Vec::with_capacity(projections.len());
    for projection in projections {
        let name = projection.name();
        let row =
            client.query_opt("SELECT version, generation, state, error, updated_at FROM es_projections WHERE name = $1", &[&name]).await?;
        let Some(row) = row else {
            reports.push(ProjectionReport {
                name,
                version: projection.version(),
                live_version: None,
                generation: None,
                state: "not built".into(),
                error: None,
                position: Position::START,
                lag_events: 0,
                lag_seconds: 0.0,
                updated_at: None,
            });
            continue;
        };
        let generation: i32 = row.get(1);
        let subscriber = db::subscriber(name, generation);
        let position = db::checkpoint(client, &subscriber).await?;
        let types: Vec<&str> = projection.event_types().to_vec();
        let (lag_events, lag_seconds) = store::catalogue::pending(client, backend, &types, position).await?;
        reports.push(ProjectionReport {
            name,
            version: projection.version(),
            live_version: Some(row.get(0)),
            generation: Some(generation),
            state: row.get(2),
            error: row.get(3),
            position,
            lag_events,
            lag_seconds,
            updated_at: Some(row.get(4)),
        });
    }
    Ok(reports)
}

/// Waits until each named projection has applied everything up to `position`, by reading the
/// checkpoint rows (works whichever process runs the projections; `Runners::wait_for` is the
/// faster wait when this process runs them). A checkpoint only moves when events of the
/// projection's types arrive, so "reached" means: the checkpoint is at or after `position`, or
/// no event of its types lies between the two and `position` is below the gap-free watermark
/// (so no earlier transaction can still add one).
pub async fn wait_for_checkpoints(
    pool: &deadpool_postgres::Pool,
    backend: Backend,
    position: Position,
    names: &[&str],
    timeout: std::time::Duration,
) -> Result<(), ProjectionError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let all = crate::projection::all();
    loop {
        let client = pool.get().await.map_err(|e| ProjectionError::Unavailable(e.to_string()))?;
        let mut reached = true;
        for name in names {
            let Some(projection) = all.iter().find(|p| p.name() == *name) else {
                return Err(ProjectionError::Unknown(name.to_string(), all.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")));
            };
            let Some((generation, _)) = db::live_generation(&client, name).await? else {
                reached = false;
                break;
            };
            let checkpoint = db::checkpoint(&client, &db::subscriber(name, generation)).await?;
            if checkpoint >= position {
                continue;
            }
            let types: Vec<&str> = projection.event_types().to_vec();
            let nothing_between = store::catalogue::reached(&client, backend, &types, checkpoint, position).await?;
            if !nothing_between {
                reached = false;
                break;
            }
        }
        drop(client);
        if reached {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ProjectionError::Timeout(timeout, position));
        }
        // Short: a read-your-writes wait is usually a few milliseconds.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
