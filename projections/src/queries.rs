//! The read API: what the GraphQL layer and the gateways ask of the read models.
//!
//! [`ReadModels`] is one handle on the store's pool; its queries live next to the projection
//! that writes their tables (`models/<projection>/queries.rs`, each an `impl ReadModels` block
//! with its typed rows), and every row type is re-exported here. Every query reads the `read.*`
//! views (never a generation schema), so a rebuild's switch-over is invisible to callers. "As of"
//! variants read the temporal tables: one GiST lookup on `valid @> T`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use store::{Backend, Position};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::ProjectionError;
use crate::replay::{AsOf, resolve};

pub use crate::models::deliveries::queries::{DeliveryFilter, DeliveryRow, DeliveryStatusChange};
pub use crate::models::history::queries::{ChartCounts, GatewayCount, Message, MessageCount, StatisticsBucket};
pub use crate::models::last_seen::queries::Sighting;
pub use crate::models::last_seen::{Activity, UnknownActivity};
pub use crate::models::quotes::queries::{InfoEntry, Quote};
pub use crate::models::reply_numbers::queries::Recipient;
pub use crate::models::rooms::queries::{Ban, BanRequest, BanRequestStatus, BoundChannel, Member, PersonalMute, RoomMute, RoomRow};
pub use crate::models::users::queries::{LevelPeriod, NickPeriod, TokenHolder, UserFilter, UserLevel, UserProfile, UserRow};

/// Queries over the read models, on the store's connection pool.
#[derive(Clone)]
pub struct ReadModels {
    pool: Pool,
    /// Where questions about the log itself (times of positions, checkpoints' reach) are
    /// answered: es_events or the KurrentDB event index (`store::catalogue`).
    backend: Backend,
}

impl ReadModels {
    /// Queries on `pool`, the read models' database, whose log is kept by `backend`.
    pub fn new(pool: Pool, backend: Backend) -> Self {
        Self { pool, backend }
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, ProjectionError> {
        self.pool.get().await.map_err(|e| ProjectionError::Unavailable(e.to_string()))
    }

    /// Runs a statement prepared once per connection and cached: for lookups by key, whose plan
    /// does not depend on the values.
    pub(crate) async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, ProjectionError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    /// Runs an unnamed statement, planned for this call's values. For queries with optional
    /// filters (`$1 IS NULL OR …`) or ranges whose best plan depends on the values: a cached
    /// statement may switch to a generic plan that cannot use the index a given value allows.
    pub(crate) async fn query_planned(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, ProjectionError> {
        let client = self.client().await?;
        Ok(client.query(sql, params).await?)
    }

    /// [`query_planned`](Self::query_planned) for at most one row; more than one is an error.
    pub(crate) async fn query_opt_planned(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, ProjectionError> {
        let client = self.client().await?;
        Ok(client.query_opt(sql, params).await?)
    }

    /// The time an [`AsOf`] stands for (`None`: now).
    pub async fn resolve(&self, as_of: AsOf) -> Result<Option<DateTime<Utc>>, ProjectionError> {
        let client = self.client().await?;
        resolve(&client, self.backend, as_of).await
    }

    pub async fn position_at(&self, time: DateTime<Utc>) -> Result<Option<Position>, ProjectionError> {
        let client = self.client().await?;
        crate::replay::position_at(&client, self.backend, time).await
    }

    /// Waits until the named projections' checkpoints have reached `position` (whichever process
    /// runs them), at most `timeout`.
    pub async fn wait_for(&self, position: Position, projections: &[&str], timeout: Duration) -> Result<(), ProjectionError> {
        crate::status::wait_for_checkpoints(&self.pool, self.backend, position, projections, timeout).await
    }
}
