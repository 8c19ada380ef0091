//! The history rules GraphQL and the web pages share: a room's conversation between two times
//! (searched in the database, a page at a time), the level and the limits of message counts and
//! of the gateway share, and who sees SMS deliveries (who may read a room's history is
//! [`crate::access`]).

use chrono::{DateTime, TimeDelta, Utc};
use domain::Level;
use projections::queries::{
    ChartCounts, DeliveryFilter, DeliveryRow, DeliveryStatusChange, GatewayCount, Message, MessageCount, StatisticsBucket,
};
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
    check_statistics_span(query.from, query.to)?;
    Ok(app.read.message_counts(query.bucket, query.from, query.to, query.room, query.user, query.per_user).await?)
}

fn check_statistics_span(from: DateTime<Utc>, to: DateTime<Utc>) -> ApiResult<()> {
    if to <= from || to - from > TimeDelta::days(MAX_STATISTICS_DAYS) {
        return Err(ApiError::bad_input("`from` must be before `to`, at most 366 days apart"));
    }
    Ok(())
}

/// Messages per gateway (IRC, SMS, the web and API) in `[from, to)`, of one room or all, the
/// most used first: the same level and limits as [`statistics`]. Staff.
pub async fn gateway_share(
    app: &App,
    viewer: &Viewer,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    room: Option<Uuid>,
) -> ApiResult<Vec<GatewayCount>> {
    viewer.require(Level::Staff, "statistics")?;
    check_statistics_span(from, to)?;
    Ok(app.read.message_counts_by_gateway(from, to, room).await?)
}

/// What a charts page shows over the whole hours `[from, to)`, of one room or all: the same
/// level and limits as [`statistics`]. Staff.
pub async fn chart_counts(
    app: &App,
    viewer: &Viewer,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    room: Option<Uuid>,
) -> ApiResult<ChartCounts> {
    viewer.require(Level::Staff, "statistics")?;
    check_statistics_span(from, to)?;
    Ok(app.read.chart_counts(from, to, room).await?)
}

/// One page of a room's conversation in `[from, to)`, oldest first, after a
/// `(posted_at, message_id)` cursor; with `search`, only the messages whose text or author's
/// nick contains it (any case), searched across the whole window. The room's members and staff
/// ([`crate::access::require_history_access`]).
pub async fn conversation(
    app: &App,
    viewer: &Viewer,
    room: Uuid,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    search: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Vec<Message>> {
    crate::access::require_history_access(app, viewer, room).await?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(ApiError::bad_input("`to` is before `from`"));
    }
    match search.map(str::trim).filter(|s| !s.is_empty()) {
        Some(words) => {
            crate::access::check_search(words)?;
            Ok(app.read.search_messages(room, (from, to), words, after, limit).await?)
        }
        None => Ok(app.read.messages(room, from, to, after, limit).await?),
    }
}

/// The statuses the deliveries read model stores.
pub const DELIVERY_STATUSES: [&str; 6] = ["queued", "sent", "delivered", "undelivered", "failed", "opted_out"];

/// Whether `viewer` may list deliveries with `filter`: staff, and a status that is one of
/// [`DELIVERY_STATUSES`] (a typo is refused, not an empty page).
pub fn check_deliveries(viewer: &Viewer, filter: &DeliveryFilter) -> ApiResult<()> {
    viewer.require(Level::Staff, "deliveries")?;
    if let Some(s) = filter.status.as_deref().filter(|s| !DELIVERY_STATUSES.contains(s)) {
        return Err(ApiError::bad_input(format!(
            "no delivery status is called {:?}; one of {}",
            s.chars().take(40).collect::<String>(),
            DELIVERY_STATUSES.join(", ")
        )));
    }
    Ok(())
}

/// SMS deliveries matching `filter`, newest first, before a `(queued_at, delivery_id)` cursor,
/// at most `limit` ([`check_deliveries`] first). Staff.
pub async fn deliveries(
    app: &App,
    viewer: &Viewer,
    filter: &DeliveryFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Vec<DeliveryRow>> {
    check_deliveries(viewer, filter)?;
    Ok(app.read.deliveries(filter, before, limit).await?)
}

/// Every status Twilio reported for a delivery, in order. Staff.
pub async fn delivery_history(app: &App, viewer: &Viewer, delivery: Uuid) -> ApiResult<Vec<DeliveryStatusChange>> {
    viewer.require(Level::Staff, "deliveries")?;
    Ok(app.read.delivery_history(delivery).await?)
}
