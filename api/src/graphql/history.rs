//! What was said and seen: a room's message history (time range, cursor pagination) and its
//! conversation between two times, message statistics, last seen, quotes, reply-numbers and
//! SMS deliveries with their status history.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Object, SimpleObject};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use domain::Level;
use uuid::Uuid;

use projections::queries as read;

use super::types::{Bucket, LogPosition};
use super::{ContextExt, page_size, wait_for};
use crate::App;
use crate::error::{ApiError, ApiResult};

#[derive(SimpleObject, Clone, Debug)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    pub posted_at: DateTime<Utc>,
    pub author_id: Option<Uuid>,
    pub author_nick: String,
    /// `say`, `action` or `notice`.
    pub kind: String,
    pub gateway: String,
    pub body: String,
}

impl From<read::Message> for Message {
    fn from(m: read::Message) -> Self {
        Self {
            id: m.message_id,
            room_id: m.room_id,
            posted_at: m.posted_at,
            author_id: m.author_id,
            author_nick: m.author_nick,
            kind: m.kind,
            gateway: m.gateway,
            body: m.body,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct StatBucket {
    pub start: DateTime<Utc>,
    pub room_id: Uuid,
    /// Set when the statistics were asked per user (`null`: the bot or all users).
    pub user_id: Option<Uuid>,
    pub messages: i64,
}

impl From<read::MessageCount> for StatBucket {
    fn from(c: read::MessageCount) -> Self {
        Self { start: c.start, room_id: c.room_id, user_id: c.author_id, messages: c.messages }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Sighting {
    pub nick: String,
    pub user_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub gateway: String,
    /// `said`, `action`, `notice`, `joined`, `left`, `kicked` or `nick_changed`.
    pub activity: String,
    /// The room, unless it is private (invite-only) and you are not staff.
    pub room_name: Option<String>,
    /// What they said or did, under the same rule.
    pub detail: Option<String>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Quote {
    pub id: i64,
    pub nick: String,
    pub text: String,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

impl From<read::Quote> for Quote {
    fn from(q: read::Quote) -> Self {
        Self { id: q.quote_id, nick: q.nick, text: q.text, added_by: q.added_by, added_at: q.added_at }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Recipient {
    pub user_id: Uuid,
    pub nick: String,
    pub phone: String,
}

impl From<read::Recipient> for Recipient {
    fn from(r: read::Recipient) -> Self {
        Self { user_id: r.user_id, nick: r.nick, phone: r.phone }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct DeliveryStatus {
    pub status: String,
    pub error_code: Option<i32>,
    pub at: DateTime<Utc>,
}

impl From<read::DeliveryStatusChange> for DeliveryStatus {
    fn from(s: read::DeliveryStatusChange) -> Self {
        Self { status: s.status, error_code: s.error_code, at: s.at }
    }
}

#[derive(Clone, Debug)]
pub struct Delivery(read::DeliveryRow);

impl From<read::DeliveryRow> for Delivery {
    fn from(row: read::DeliveryRow) -> Self {
        Self(row)
    }
}

#[Object]
impl Delivery {
    async fn id(&self) -> Uuid {
        self.0.delivery_id
    }
    async fn room_id(&self) -> Uuid {
        self.0.room_id
    }
    async fn recipient(&self) -> Uuid {
        self.0.recipient
    }
    async fn to_number(&self) -> &str {
        &self.0.to_number
    }
    async fn from_number(&self) -> &str {
        &self.0.from_number
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// 1-based part of a message split for SMS length.
    async fn segment(&self) -> i32 {
        self.0.segment
    }
    async fn segments(&self) -> i32 {
        self.0.segments
    }
    async fn queued_at(&self) -> DateTime<Utc> {
        self.0.queued_at
    }
    async fn twilio_sid(&self) -> Option<&str> {
        self.0.twilio_sid.as_deref()
    }
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed` or `opted_out`.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn error_code(&self) -> Option<i32> {
        self.0.error_code
    }
    async fn failure(&self) -> Option<&str> {
        self.0.failure.as_deref()
    }
    /// Every status Twilio reported, in order.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<DeliveryStatus>> {
        ctx.spend()?;
        let history = ctx.app().read.delivery_history(self.0.delivery_id).await?;
        Ok(history.into_iter().map(DeliveryStatus::from).collect())
    }
}

/// Cursors are opaque to clients (base64 of our own key), so their form may change.
fn encode_cursor(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> ApiResult<String> {
    let bad = || ApiError::bad_input("that cursor is not one this API gave out");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// A keyset cursor of a time and a key that breaks ties (an id, a member key).
pub(super) fn time_key_cursor(at: DateTime<Utc>, key: &str) -> String {
    encode_cursor(&format!("{}|{key}", at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)))
}

pub(super) fn parse_time_key_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, String)> {
    let raw = decode_cursor(cursor)?;
    let bad = || ApiError::bad_input("that cursor is not one this API gave out");
    let (at, key) = raw.split_once('|').ok_or_else(bad)?;
    Ok((DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc), key.to_owned()))
}

fn time_id_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    time_key_cursor(at, &id.to_string())
}

fn parse_time_id_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let (at, id) = parse_time_key_cursor(cursor)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::bad_input("that cursor is not one this API gave out"))?;
    Ok((at, id))
}

async fn messages_page(
    app: &App,
    viewer: &crate::auth::Viewer,
    room: Uuid,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    search: Option<&str>,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Connection<String, Message, EmptyFields, EmptyFields>> {
    let limit = page_size(first)?;
    let after = after.as_deref().map(parse_time_id_cursor).transpose()?;
    let rows = crate::history::conversation(app, viewer, room, window, search, after, limit + 1).await?;
    let has_next = rows.len() as i64 > limit;
    let mut connection = Connection::new(after.is_some(), has_next);
    connection
        .edges
        .extend(rows.into_iter().take(limit as usize).map(|m| Edge::new(time_id_cursor(m.posted_at, m.message_id), Message::from(m))));
    Ok(connection)
}

#[derive(Default)]
pub struct HistoryQuery;

// Resolvers take one argument per GraphQL argument.
#[allow(clippy::too_many_arguments)]
#[Object]
impl HistoryQuery {
    /// A room's messages, oldest first, in `[from, to)`, a page at a time (Relay cursors).
    /// Members of the room and staff.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        room: Uuid,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>,
    ) -> ApiResult<Connection<String, Message, EmptyFields, EmptyFields>> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?.clone();
        let app = ctx.app();
        wait_for(app, wait_for_position.as_ref(), &["rooms", "history"]).await?;
        messages_page(app, &viewer, room, (from, to), None, first, after).await
    }

    /// What was said in a room between two times (replay of a conversation), a page at a time;
    /// with `search`, only messages whose text or author's nick contains it (any case), searched
    /// across the whole window. Members of the room and staff.
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        room: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Message, EmptyFields, EmptyFields>> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?.clone();
        messages_page(ctx.app(), &viewer, room, (Some(from), Some(to)), search.as_deref(), first, after).await
    }

    /// Messages per room (and per author, with `perUser`) per hour or day, in `[from, to)`.
    /// At most 366 days at a time. Staff.
    async fn statistics(
        &self,
        ctx: &Context<'_>,
        bucket: Bucket,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        room: Option<Uuid>,
        user: Option<Uuid>,
        per_user: Option<bool>,
    ) -> ApiResult<Vec<StatBucket>> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?;
        let bucket = match bucket {
            Bucket::Hour => read::StatisticsBucket::Hour,
            Bucket::Day => read::StatisticsBucket::Day,
        };
        let query = crate::history::StatisticsQuery { bucket, from, to, room, user, per_user: per_user.unwrap_or(false) };
        let counts = crate::history::statistics(ctx.app(), viewer, query).await?;
        Ok(counts.into_iter().map(StatBucket::from).collect())
    }

    /// Where and when a nick was last seen. Signed-in users. The room and what was said there are
    /// shown to that room's members and to staff, and to others only when neither the room
    /// (invite-only) nor the person (`private`) is private.
    async fn last_seen(&self, ctx: &Context<'_>, nick: String) -> ApiResult<Option<Sighting>> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?.clone();
        crate::access::check_lookup_nick(&nick)?;
        let app = ctx.app();
        let Some(s) = app.read.last_seen(&nick).await? else { return Ok(None) };
        let s = crate::access::visible_sighting(app, &viewer, s).await?;
        Ok(Some({
            Sighting {
                nick: s.nick,
                user_id: s.user_id,
                at: s.at,
                gateway: s.gateway.as_str().to_owned(),
                activity: s.activity.as_str().to_owned(),
                room_name: s.room_name,
                detail: s.detail,
            }
        }))
    }

    /// Quotes: with `search`, full-text matches best first; otherwise all, newest first.
    /// Signed-in users.
    async fn quotes(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Quote, EmptyFields, EmptyFields>> {
        ctx.spend()?;
        ctx.signed_in()?;
        let limit = page_size(first)?;
        let app = ctx.app();
        // Search results are ranked, so their cursor is an offset; the full list pages by id.
        let (quotes, offset_cursor) = match search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(words) => {
                crate::access::check_search(words)?;
                // Parsed unsigned: a negative offset would reach PostgreSQL, which refuses it.
                let offset: i64 = after.as_deref().map(decode_cursor).transpose()?.map_or(Ok(0), |c| {
                    c.strip_prefix("o:")
                        .and_then(|n| n.parse::<u32>().ok())
                        .map(i64::from)
                        .ok_or_else(|| ApiError::bad_input("that cursor is not one this API gave out"))
                })?;
                (app.read.search_quotes_page(words, offset, limit + 1).await?, Some(offset))
            }
            None => {
                let before: i64 = after.as_deref().map(decode_cursor).transpose()?.map_or(Ok(i64::MAX), |c| {
                    c.strip_prefix("id:")
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| ApiError::bad_input("that cursor is not one this API gave out"))
                })?;
                (app.read.quotes_before(before, limit + 1).await?, None)
            }
        };
        let has_next = quotes.len() as i64 > limit;
        let mut connection = Connection::new(after.is_some(), has_next);
        for (i, quote) in quotes.into_iter().take(limit as usize).enumerate() {
            let quote = Quote::from(quote);
            let cursor = match offset_cursor {
                Some(offset) => encode_cursor(&format!("o:{}", offset + i as i64 + 1)),
                None => encode_cursor(&format!("id:{}", quote.id)),
            };
            connection.edges.push(Edge::new(cursor, quote));
        }
        Ok(connection)
    }

    /// One quote by number.
    async fn quote(&self, ctx: &Context<'_>, id: i64) -> ApiResult<Option<Quote>> {
        ctx.spend()?;
        ctx.signed_in()?;
        Ok(ctx.app().read.quote(id).await?.map(Quote::from))
    }

    /// Who receives `sender`'s messages in an SMS room (members not stopped, not muting the
    /// sender, not the sender). Staff.
    async fn reply_numbers(
        &self,
        ctx: &Context<'_>,
        room: Uuid,
        sender: Uuid,
        #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>,
    ) -> ApiResult<Vec<Recipient>> {
        ctx.spend()?;
        ctx.require(Level::Staff, "reply-numbers")?;
        let app = ctx.app();
        wait_for(app, wait_for_position.as_ref(), &["reply_numbers"]).await?;
        Ok(app.read.reply_numbers(room, sender).await?.into_iter().map(Recipient::from).collect())
    }

    /// SMS deliveries, newest first, by room, recipient and/or status. Staff.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        room: Option<Uuid>,
        recipient: Option<Uuid>,
        status: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>,
    ) -> ApiResult<Connection<String, Delivery, EmptyFields, EmptyFields>> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?;
        let limit = page_size(first)?;
        let app = ctx.app();
        let before = after.as_deref().map(parse_time_id_cursor).transpose()?;
        let filter = read::DeliveryFilter { room_id: room, recipient, status };
        // Refused before waiting: a typo or a missing level does not wait for the read model.
        crate::history::check_deliveries(viewer, &filter)?;
        wait_for(app, wait_for_position.as_ref(), &["deliveries"]).await?;
        let rows = crate::history::deliveries(app, viewer, &filter, before, limit + 1).await?;
        let has_next = rows.len() as i64 > limit;
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter().take(limit as usize).map(|row| Edge::new(time_id_cursor(row.queued_at, row.delivery_id), Delivery::from(row))),
        );
        Ok(connection)
    }
}
