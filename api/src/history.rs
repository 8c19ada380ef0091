//! The statistics rules GraphQL and the web pages share: the level and the limits of message
//! counts (who may read a room's history is [`crate::access`]).

use chrono::{DateTime, TimeDelta, Utc};
use domain::Level;
use projections::queries::{MessageCount, StatisticsBucket};
use uuid::Uuid;

use crate::App;
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};

/// What [`statistics`] counts.
#[derive(Debug, Clone, Copy)]
pub struct StatisticsQuery {
    pub bucket: StatisticsBucket,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub room: Option<Uuid>,
    pub user: Option<Uuid>,
    pub per_user: bool,
}

/// The longest span one statistics request covers.
pub const MAX_STATISTICS_DAYS: i64 = 366;

/// Messages per room (and per author, with `per_user`) per hour or day, in `[from, to)`. At
/// most [`MAX_STATISTICS_DAYS`] at a time. Staff.
pub async fn statistics(app: &App, viewer: &Viewer, query: StatisticsQuery) -> ApiResult<Vec<MessageCount>> {
    viewer.require(Level::Staff, "statistics")?;
    if query.to <= query.from || query.to - query.from > TimeDelta::days(MAX_STATISTICS_DAYS) {
        return Err(ApiError::bad_input("`from` must be before `to`, at most 366 days apart"));
    }
    Ok(app.read.message_counts(query.bucket, query.from, query.to, query.room, query.user, query.per_user).await?)
}
