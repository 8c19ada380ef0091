//! Reads of `messages`: a room's history a page at a time, and message counts.

use chrono::{DateTime, Utc};
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
        Ok(rows
            .iter()
            .map(|r| Message {
                message_id: r.get(0),
                room_id: r.get(1),
                posted_at: r.get(2),
                author_id: r.get(3),
                author_nick: r.get(4),
                kind: r.get(5),
                gateway: r.get(6),
                body: r.get(7),
            })
            .collect())
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
        Ok(rows
            .iter()
            .map(|r| Message {
                message_id: r.get(0),
                room_id: r.get(1),
                posted_at: r.get(2),
                author_id: r.get(3),
                author_nick: r.get(4),
                kind: r.get(5),
                gateway: r.get(6),
                body: r.get(7),
            })
            .collect())
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
        let whole_hours = |t: DateTime<Utc>| t.timestamp_subsec_nanos() == 0 && t.timestamp() % 3600 == 0;
        let sql = if whole_hours(from) && whole_hours(to) {
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
