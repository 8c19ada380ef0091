//! The read API: what the GraphQL layer and the gateways ask of the read models.
//!
//! Every query reads the `read.*` views (never a generation schema), so a rebuild's switch-over
//! is invisible to callers. "As of" variants read the temporal tables: one GiST lookup on
//! `valid @> T`.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use store::Position;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::replay::{AsOf, resolve};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_key: String,
    pub user_id: Option<Uuid>,
    pub nick: String,
    pub gateway: String,
    /// When this membership began.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub ban_id: Uuid,
    pub target_user: Option<Uuid>,
    pub target_mask: Option<String>,
    pub reason: Option<String>,
    pub by: String,
    pub banned_at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMute {
    pub member_key: String,
    pub user_id: Option<Uuid>,
    pub nick: String,
    pub by: String,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: Uuid,
    pub phone: String,
    pub nick: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub nick: String,
    pub user_id: Option<Uuid>,
    /// Nil for activity outside rooms (a nick change).
    pub room_id: Uuid,
    pub room_name: Option<String>,
    /// Whether the room is invite-only: its text is never revealed.
    pub room_private: bool,
    pub at: DateTime<Utc>,
    pub gateway: String,
    pub activity: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: Uuid,
    pub room_id: Uuid,
    pub posted_at: DateTime<Utc>,
    pub author_id: Option<Uuid>,
    pub author_nick: String,
    pub kind: String,
    pub gateway: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub quote_id: i64,
    pub nick: String,
    pub text: String,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// A room bound to an IRC channel (what the bot joins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundChannel {
    pub room_id: Uuid,
    pub channel: String,
    pub key: Option<String>,
    /// The room is invite-only: the channel is kept `+i` and the bot invites members.
    pub invite_only: bool,
}

/// A shared fact (`.info`), with who last changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoEntry {
    pub item: String,
    pub text: String,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub revisions: i32,
}

/// Queries over the read models, on the store's connection pool.
#[derive(Clone)]
pub struct ReadModels {
    pool: Pool,
}

impl ReadModels {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ProjectionError> {
        self.pool.get().await.map_err(|e| ProjectionError::Unavailable(e.to_string()))
    }

    async fn query(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<Vec<Row>, ProjectionError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    /// The time an [`AsOf`] stands for (`None`: now).
    pub async fn resolve(&self, as_of: AsOf) -> Result<Option<DateTime<Utc>>, ProjectionError> {
        let client = self.client().await?;
        resolve(&client, as_of).await
    }

    pub async fn position_at(&self, time: DateTime<Utc>) -> Result<Option<Position>, ProjectionError> {
        let client = self.client().await?;
        crate::replay::position_at(&client, time).await
    }

    /// A room's members now, or as of a time or position.
    pub async fn members(&self, room_id: Uuid, as_of: AsOf) -> Result<Vec<Member>, ProjectionError> {
        let rows = match self.resolve(as_of).await? {
            None => {
                self.query(
                    "SELECT member_key, user_id, nick, gateway, joined_at FROM read.members WHERE room_id = $1 ORDER BY joined_at, member_key",
                    &[&room_id],
                )
                .await?
            }
            Some(t) => {
                self.query(
                    "SELECT member_key, user_id, nick, gateway, lower(valid) FROM read.memberships \
                     WHERE room_id = $1 AND valid @> $2::timestamptz \
                     ORDER BY lower(valid), member_key",
                    &[&room_id, &t],
                )
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| Member { member_key: r.get(0), user_id: r.get(1), nick: r.get(2), gateway: r.get(3), since: r.get(4) })
            .collect())
    }

    /// The bans in force in a room now, or as of a time or position (timed bans lapse by themselves).
    pub async fn bans(&self, room_id: Uuid, as_of: AsOf) -> Result<Vec<Ban>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows = self
            .query(
                "SELECT ban_id, target_user, target_mask, reason, by_actor, banned_at, until, \
                        CASE WHEN lifted_at <= $2 THEN lifted_at END \
                 FROM read.bans WHERE room_id = $1 AND valid @> $2::timestamptz ORDER BY banned_at, ban_id",
                &[&room_id, &t],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Ban {
                ban_id: r.get(0),
                target_user: r.get(1),
                target_mask: r.get(2),
                reason: r.get(3),
                by: r.get(4),
                banned_at: r.get(5),
                until: r.get(6),
                lifted_at: r.get(7),
            })
            .collect())
    }

    /// The room mutes in force now, or as of a time or position.
    pub async fn room_mutes(&self, room_id: Uuid, as_of: AsOf) -> Result<Vec<RoomMute>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows = self
            .query(
                "SELECT member_key, user_id, nick, by_actor, lower(valid), until FROM read.room_mutes \
                 WHERE room_id = $1 AND valid @> $2::timestamptz ORDER BY lower(valid), member_key",
                &[&room_id, &t],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| RoomMute { member_key: r.get(0), user_id: r.get(1), nick: r.get(2), by: r.get(3), since: r.get(4), until: r.get(5) })
            .collect())
    }

    /// Personal mutes in force: (muter, mutee) pairs.
    pub async fn personal_mutes(&self, room_id: Uuid, as_of: AsOf) -> Result<Vec<(Uuid, Uuid)>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows = self
            .query(
                "SELECT muter, mutee FROM read.personal_mutes WHERE room_id = $1 AND valid @> $2::timestamptz ORDER BY muter, mutee",
                &[&room_id, &t],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// A user's level now, or as of a time or position (`None`: no such user then).
    pub async fn level(&self, user_id: Uuid, as_of: AsOf) -> Result<Option<i16>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows =
            self.query("SELECT level FROM read.level_history WHERE user_id = $1 AND valid @> $2::timestamptz", &[&user_id, &t]).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// A user's privacy flag now, or as of a time or position.
    pub async fn private(&self, user_id: Uuid, as_of: AsOf) -> Result<Option<bool>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows =
            self.query("SELECT private FROM read.privacy_history WHERE user_id = $1 AND valid @> $2::timestamptz", &[&user_id, &t]).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// A user's nick now, or as of a time or position.
    pub async fn nick(&self, user_id: Uuid, as_of: AsOf) -> Result<Option<String>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows =
            self.query("SELECT nick FROM read.nick_history WHERE user_id = $1 AND valid @> $2::timestamptz", &[&user_id, &t]).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// Who held a nick (case-insensitive) now, or as of a time or position.
    pub async fn nick_owner(&self, nick: &str, as_of: AsOf) -> Result<Option<Uuid>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows = self
            .query(
                "SELECT user_id FROM read.nick_history WHERE nick_fold = $1 AND valid @> $2::timestamptz ORDER BY lower(valid) DESC LIMIT 1",
                &[&nick.to_ascii_lowercase(), &t],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// Where and when a nick was last seen, with the room's privacy (callers hide private text).
    pub async fn last_seen(&self, nick: &str) -> Result<Option<Sighting>, ProjectionError> {
        let rows = self
            .query(
                "SELECT s.nick, s.user_id, s.room_id, r.name, coalesce(r.invite_only, false), s.seen_at, s.gateway, s.activity, s.detail \
                 FROM read.last_seen s LEFT JOIN read.rooms r ON r.room_id = s.room_id \
                 WHERE s.nick_fold = $1 ORDER BY s.seen_at DESC LIMIT 1",
                &[&nick.to_ascii_lowercase()],
            )
            .await?;
        Ok(rows.first().map(|r| Sighting {
            nick: r.get(0),
            user_id: r.get(1),
            room_id: r.get(2),
            room_name: r.get(3),
            room_private: r.get(4),
            at: r.get(5),
            gateway: r.get(6),
            activity: r.get(7),
            detail: r.get(8),
        }))
    }

    /// Who receives `sender`'s message in an SMS room: one indexed query (see `reply_numbers`).
    pub async fn reply_numbers(&self, room_id: Uuid, sender: Uuid) -> Result<Vec<Recipient>, ProjectionError> {
        let list = self.room_list(room_id, sender, true).await?;
        Ok(list.into_iter().flat_map(|l| l.receivers(sender)).map(|(user_id, phone, nick)| Recipient { user_id, phone, nick }).collect())
    }

    /// The fan-out list of a sender's message: `(user_id, phone)` of every recipient, the same
    /// rule as [`reply_numbers`](Self::reply_numbers) without the nicks.
    pub async fn fan_out(&self, room_id: Uuid, sender: Uuid) -> Result<Vec<(Uuid, String)>, ProjectionError> {
        let list = self.room_list(room_id, sender, false).await?;
        Ok(list.into_iter().flat_map(|l| l.receivers(sender)).map(|(user_id, phone, _)| (user_id, phone)).collect())
    }

    async fn room_list(
        &self,
        room_id: Uuid,
        sender: Uuid,
        nicks: bool,
    ) -> Result<Option<crate::models::reply_numbers::Recipients>, ProjectionError> {
        let rows = match self.query(crate::models::reply_numbers::ROOM_LIST_SQL, &[&room_id, &sender, &nicks]).await {
            Ok(rows) => rows,
            Err(e) => {
                // Right after an upgrade the live generation may still be version 1, without
                // the lists: answer from its recipients until version 2 takes over.
                let missing = self.query("SELECT to_regclass('read.sms_room_lists') IS NULL", &[]).await?;
                if !missing.first().is_some_and(|r| r.get::<_, bool>(0)) {
                    return Err(e);
                }
                self.query(crate::models::reply_numbers::ROOM_LIST_FROM_RECIPIENTS_SQL, &[&room_id, &sender]).await?
            }
        };
        Ok(rows.into_iter().next().map(|row| crate::models::reply_numbers::Recipients {
            user_ids: row.get(0),
            phones: row.get(1),
            nicks: row.get(2),
            muters: row.get(3),
        }))
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

    /// Quotes matching words (full text, best first), at most `limit`.
    pub async fn search_quotes(&self, words: &str, limit: i64) -> Result<Vec<Quote>, ProjectionError> {
        let rows = self
            .query(
                "SELECT quote_id, nick, text, added_by, added_at FROM read.quotes, websearch_to_tsquery('english', $1) q \
                 WHERE deleted_at IS NULL AND search @@ q ORDER BY ts_rank(search, q) DESC, quote_id LIMIT $2",
                &[&words, &limit],
            )
            .await?;
        Ok(rows.iter().map(quote).collect())
    }

    pub async fn quote(&self, quote_id: i64) -> Result<Option<Quote>, ProjectionError> {
        let rows = self
            .query(
                "SELECT quote_id, nick, text, added_by, added_at FROM read.quotes WHERE quote_id = $1 AND deleted_at IS NULL",
                &[&quote_id],
            )
            .await?;
        Ok(rows.first().map(quote))
    }

    /// A random quote that is not deleted (`.quote`).
    pub async fn random_quote(&self) -> Result<Option<Quote>, ProjectionError> {
        // Picks a random id in the range and takes the next live quote, so the cost does not
        // grow with the book (ORDER BY random() would sort every quote).
        let rows = self
            .query(
                "WITH bounds AS (SELECT min(quote_id) lo, max(quote_id) hi FROM read.quotes WHERE deleted_at IS NULL), \
                 pick AS (SELECT lo + floor(random() * (hi - lo + 1))::bigint AS id FROM bounds) \
                 SELECT q.quote_id, q.nick, q.text, q.added_by, q.added_at FROM read.quotes q, pick \
                 WHERE q.deleted_at IS NULL AND q.quote_id >= pick.id ORDER BY q.quote_id LIMIT 1",
                &[],
            )
            .await?;
        Ok(rows.first().map(quote))
    }

    /// Every room bound to an IRC channel.
    pub async fn irc_channels(&self) -> Result<Vec<BoundChannel>, ProjectionError> {
        let rows = self
            .query(
                "SELECT c.room_id, c.channel, c.channel_key, coalesce(r.invite_only, false) FROM read.room_irc_channels c \
                 LEFT JOIN read.rooms r ON r.room_id = c.room_id ORDER BY c.channel_fold",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| BoundChannel { room_id: r.get(0), channel: r.get(1), key: r.get(2), invite_only: r.get(3) }).collect())
    }

    /// Whose IRC token this is (any purpose, even used or expired: the aggregate decides).
    pub async fn irc_token_owner(&self, token_hash: &str) -> Result<Option<Uuid>, ProjectionError> {
        let rows =
            self.query("SELECT user_id FROM read.irc_tokens WHERE token_hash = $1 ORDER BY issued_at DESC LIMIT 1", &[&token_hash]).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// The user whose registered IRC identity (or, failing that, account nick) is `nick`.
    pub async fn user_by_irc_nick(&self, nick: &str) -> Result<Option<Uuid>, ProjectionError> {
        let rows = self
            .query(
                "SELECT user_id FROM read.users WHERE lower(irc_nick) = $1 OR nick_fold = $1 ORDER BY (lower(irc_nick) = $1) DESC NULLS LAST LIMIT 1",
                &[&nick.to_ascii_lowercase()],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// Mask bans that ran out by themselves in `(since, now]` (not lifted by anyone): the IRC bot
    /// takes their `+b` off the channel.
    pub async fn expired_mask_bans(&self, since: DateTime<Utc>) -> Result<Vec<(Uuid, String)>, ProjectionError> {
        let rows = self
            .query(
                "SELECT room_id, target_mask FROM read.bans \
                 WHERE target_mask IS NOT NULL AND lifted_at IS NULL AND until > $1 AND until <= now() ORDER BY until",
                &[&since],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// IRC sessions that have not ended: `(user_id, session_id)`.
    pub async fn open_irc_sessions(&self) -> Result<Vec<(Uuid, Uuid)>, ProjectionError> {
        let rows = self.query("SELECT user_id, session_id FROM read.irc_sessions WHERE ended_at IS NULL", &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The SMS number a room is bound to, if any.
    pub async fn sms_number_of(&self, room_id: Uuid) -> Result<Option<String>, ProjectionError> {
        let rows = self.query("SELECT number FROM read.room_sms_numbers WHERE room_id = $1", &[&room_id]).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// A shared fact by its item name (case-insensitive).
    pub async fn info_item(&self, item: &str) -> Result<Option<InfoEntry>, ProjectionError> {
        let rows = self
            .query(
                "SELECT item, text, changed_by, changed_at, revisions FROM read.info_items WHERE item_fold = $1",
                &[&item.to_lowercase()],
            )
            .await?;
        Ok(rows.first().map(|r| InfoEntry {
            item: r.get(0),
            text: r.get(1),
            changed_by: r.get(2),
            changed_at: r.get(3),
            revisions: r.get(4),
        }))
    }
}

fn quote(r: &Row) -> Quote {
    Quote { quote_id: r.get(0), nick: r.get(1), text: r.get(2), added_by: r.get(3), added_at: r.get(4) }
}
