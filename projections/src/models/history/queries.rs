//! Reads of `messages`: a room's history a page at a time, and message counts.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Timelike, Utc};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::queries::ReadModels;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: Uuid,
    pub room_id: Uuid,
    pub posted_at: DateTime<Utc>,
    pub author_id: Option<Uuid>,
    pub author_nick: String,
    /// `say`, `action` or `notice`.
    pub kind: String,
    pub gateway: String,
    pub body: String,
}

/// The width of a statistics bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticsBucket {
    Hour,
    Day,
}

impl StatisticsBucket {
    /// The unit `date_trunc` truncates to.
    fn unit(self) -> &'static str {
        match self {
            StatisticsBucket::Hour => "hour",
            StatisticsBucket::Day => "day",
        }
    }
}

/// How many messages a room (and, when asked per user, an author) had in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCount {
    /// The bucket's start (UTC).
    pub start: DateTime<Utc>,
    pub room_id: Uuid,
    /// Set when counted per user (`None` there: the bot).
    pub author_id: Option<Uuid>,
    pub messages: i64,
}

/// How many messages came in through one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCount {
    /// `irc`, `sms` or `api` (the web, GraphQL and the bot's announcements).
    pub gateway: String,
    pub messages: i64,
}

/// A charts page's counts over whole hours, added up in the database: per UTC day, per hour of
/// the day, per room, per gateway, and the ten busiest talkers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartCounts {
    pub per_day: Vec<(DateTime<Utc>, i64)>,
    /// Indexed by the UTC hour of the day.
    pub per_hour_of_day: [i64; 24],
    pub per_room: Vec<(Uuid, i64)>,
    pub per_gateway: Vec<GatewayCount>,
    /// The busiest first; `None` is the bot.
    pub top_talkers: Vec<(Option<Uuid>, i64)>,
}

/// Whether `[from, to)` is whole hours, which the hourly counts answer.
fn whole_hours(from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let on_the_hour = |t: DateTime<Utc>| t.timestamp_subsec_nanos() == 0 && t.timestamp() % 3600 == 0;
    on_the_hour(from) && on_the_hour(to)
}

/// How many talkers [`ChartCounts::top_talkers`] names.
pub const TOP_TALKERS: i64 = 10;

const MESSAGE_COLUMNS: &str = "message_id, room_id, posted_at, author_id, author_nick, kind, gateway, body";

fn message(r: &tokio_postgres::Row) -> Message {
    Message {
        message_id: r.get(0),
        room_id: r.get(1),
        posted_at: r.get(2),
        author_id: r.get(3),
        author_nick: r.get(4),
        kind: r.get(5),
        gateway: r.get(6),
        body: r.get(7),
    }
}

impl ReadModels {
    /// A room's newest messages before `before` (a `(posted_at, message_id)` key; `None`: the
    /// newest), newest first: the recent history, a page at a time going back.
    pub async fn messages_before(
        &self,
        room_id: Uuid,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Message>, ProjectionError> {
        let (before_time, before_id) = before.map_or((None, None), |(t, id)| (Some(t), Some(id)));
        let rows = self
            .query(
                "SELECT message_id, room_id, posted_at, author_id, author_nick, kind, gateway, body FROM read.messages \
                 WHERE room_id = $1 AND ($2::timestamptz IS NULL OR (posted_at, message_id) < ($2, $3::uuid)) \
                 ORDER BY posted_at DESC, message_id DESC LIMIT $4",
                &[&room_id, &before_time, &before_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(message).collect())
    }

    /// A room's messages in `[from, to)`, oldest first, after a `(posted_at, message_id)` cursor.
    pub async fn messages(
        &self,
        room_id: Uuid,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Message>, ProjectionError> {
        let (after_time, after_id) = after.map_or((None, None), |(t, id)| (Some(t), Some(id)));
        let rows = self
            .query(
                "SELECT message_id, room_id, posted_at, author_id, author_nick, kind, gateway, body FROM read.messages \
                 WHERE room_id = $1 AND ($2::timestamptz IS NULL OR posted_at >= $2) AND ($3::timestamptz IS NULL OR posted_at < $3) \
                   AND ($4::timestamptz IS NULL OR (posted_at, message_id) > ($4, $5::uuid)) \
                 ORDER BY posted_at, message_id LIMIT $6",
                &[&room_id, &from, &to, &after_time, &after_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(message).collect())
    }

    /// A room's messages in `[from, to)` whose text or author's nick contains `words` (in any
    /// case, as typed: no wildcards), oldest first, after a `(posted_at, message_id)` cursor.
    /// The whole window is searched in the database, a page at a time.
    pub async fn search_messages(
        &self,
        room_id: Uuid,
        (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        words: &str,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Message>, ProjectionError> {
        let (after_time, after_id) = after.map_or((None, None), |(t, id)| (Some(t), Some(id)));
        let rows = self
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM read.messages \
                     WHERE room_id = $1 AND ($2::timestamptz IS NULL OR posted_at >= $2) \
                       AND ($3::timestamptz IS NULL OR posted_at < $3) \
                       AND ($4::timestamptz IS NULL OR (posted_at, message_id) > ($4, $5::uuid)) \
                       AND (strpos(lower(body), lower($6)) > 0 OR strpos(lower(author_nick), lower($6)) > 0) \
                     ORDER BY posted_at, message_id LIMIT $7"
                ),
                &[&room_id, &from, &to, &after_time, &after_id, &words, &limit],
            )
            .await?;
        Ok(rows.iter().map(message).collect())
    }

    /// [`ChartCounts`] over the whole hours `[from, to)` (both on the hour), of one room or all:
    /// the hourly counts added up per hour, room and gateway (a week of a room: a few hundred
    /// rows, whatever the number of talkers) and the busiest talkers, both at once.
    pub async fn chart_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        room_id: Option<Uuid>,
    ) -> Result<ChartCounts, ProjectionError> {
        let (window, talkers_window): ([&(dyn ToSql + Sync); 3], [&(dyn ToSql + Sync); 4]) =
            ([&from, &to, &room_id], [&from, &to, &room_id, &TOP_TALKERS]);
        let totals = self.query_planned(
            "SELECT hour, room_id, gateway, sum(messages)::bigint FROM read.message_counts \
             WHERE hour >= $1 AND hour < $2 AND ($3::uuid IS NULL OR room_id = $3) GROUP BY 1, 2, 3",
            &window,
        );
        let talkers = self.query_planned(
            "SELECT author_id, sum(messages)::bigint FROM read.message_counts \
             WHERE hour >= $1 AND hour < $2 AND ($3::uuid IS NULL OR room_id = $3) \
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $4",
            &talkers_window,
        );
        let (totals, talkers) = futures::try_join!(totals, talkers)?;
        let mut per_day: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
        let mut per_room: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut per_gateway: BTreeMap<String, i64> = BTreeMap::new();
        let mut counts = ChartCounts::default();
        for row in &totals {
            let (hour, room, gateway, messages): (DateTime<Utc>, Uuid, String, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
            let day = hour.duration_trunc(TimeDelta::days(1)).unwrap_or(hour);
            *per_day.entry(day).or_default() += messages;
            counts.per_hour_of_day[hour.hour() as usize] += messages;
            *per_room.entry(room).or_default() += messages;
            *per_gateway.entry(gateway).or_default() += messages;
        }
        counts.per_day = per_day.into_iter().collect();
        counts.per_room = per_room.into_iter().collect();
        counts.per_gateway = per_gateway.into_iter().map(|(gateway, messages)| GatewayCount { gateway, messages }).collect();
        counts.per_gateway.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.gateway.cmp(&b.gateway)));
        counts.top_talkers = talkers.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(counts)
    }

    /// Messages in `[from, to)` per gateway, optionally of one room, the most used first.
    pub async fn message_counts_by_gateway(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        room_id: Option<Uuid>,
    ) -> Result<Vec<GatewayCount>, ProjectionError> {
        // As in `message_counts`: a window of whole hours adds up the hourly counts.
        let sql = if whole_hours(from, to) {
            "SELECT gateway, sum(messages)::bigint FROM read.message_counts \
             WHERE hour >= $1 AND hour < $2 AND ($3::uuid IS NULL OR room_id = $3) \
             GROUP BY 1 ORDER BY 2 DESC, 1"
        } else {
            "SELECT gateway, count(*) FROM read.messages \
             WHERE posted_at >= $1 AND posted_at < $2 AND ($3::uuid IS NULL OR room_id = $3) \
             GROUP BY 1 ORDER BY 2 DESC, 1"
        };
        let rows = self.query_planned(sql, &[&from, &to, &room_id]).await?;
        Ok(rows.iter().map(|r| GatewayCount { gateway: r.get(0), messages: r.get(1) }).collect())
    }

    /// Messages per bucket in `[from, to)` per room (and per author when `per_author`), optionally
    /// of one room and/or one author, in bucket, room, author order; at most 20,000 buckets.
    pub async fn message_counts(
        &self,
        bucket: StatisticsBucket,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        room_id: Option<Uuid>,
        author_id: Option<Uuid>,
        per_author: bool,
    ) -> Result<Vec<MessageCount>, ProjectionError> {
        // A window of whole hours adds up the hourly counts (a week of a busy server: thousands of
        // rows, not a million messages); any other window counts the messages themselves.
        let sql = if whole_hours(from, to) {
            "SELECT date_trunc($1, hour, 'UTC') AS start, room_id, CASE WHEN $6 THEN author_id END AS author, sum(messages)::bigint \
             FROM read.message_counts \
             WHERE hour >= $2 AND hour < $3 AND ($4::uuid IS NULL OR room_id = $4) AND ($5::uuid IS NULL OR author_id = $5) \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 20000"
        } else {
            "SELECT date_trunc($1, posted_at, 'UTC') AS start, room_id, CASE WHEN $6 THEN author_id END AS author, count(*) \
             FROM read.messages \
             WHERE posted_at >= $2 AND posted_at < $3 AND ($4::uuid IS NULL OR room_id = $4) AND ($5::uuid IS NULL OR author_id = $5) \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 20000"
        };
        let rows = self.query_planned(sql, &[&bucket.unit(), &from, &to, &room_id, &author_id, &per_author]).await?;
        Ok(rows.iter().map(|r| MessageCount { start: r.get(0), room_id: r.get(1), author_id: r.get(2), messages: r.get(3) }).collect())
    }
}
