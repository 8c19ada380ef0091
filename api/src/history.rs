//! The history rules GraphQL and the web pages share: who may read a room's history, and the
//! limits and level of the message statistics.

use chrono::{DateTime, TimeDelta, Utc};
use domain::Level;
use projections::queries::{MessageCount, StatisticsBucket};
use uuid::Uuid;

use crate::App;
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};

/// Staff read every room's history; others only rooms they are in now.
pub async fn require_access(app: &App, viewer: &Viewer, room: Uuid) -> ApiResult<()> {
    if viewer.level >= Level::Staff {
        return Ok(());
    }
    let member = app.read.is_member(room, viewer.user_id).await?;
    if member && viewer.level >= Level::Member {
        Ok(())
    } else {
        Err(ApiError::forbidden("a room's history is shown to its members and to staff (level 4)"))
    }
}

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
