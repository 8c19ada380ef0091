//! Reads of the `rooms` tables: rooms and their bindings, members, bans, mutes and ban requests,
//! now or as of a time or position.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::queries::ReadModels;
use crate::replay::AsOf;

/// A room with its bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    pub room_id: Uuid,
    pub name: String,
    pub invite_only: bool,
    pub topic: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The IRC channel it is bound to, if any.
    pub irc_channel: Option<String>,
    /// The Twilio number it is bound to, if any.
    pub sms_number: Option<String>,
}

const ROOM_COLUMNS: &str = "r.room_id, r.name, r.invite_only, r.topic, r.created_by, r.created_at, \
     (SELECT channel FROM read.room_irc_channels c WHERE c.room_id = r.room_id LIMIT 1), \
     (SELECT number FROM read.room_sms_numbers s WHERE s.room_id = r.room_id LIMIT 1)";

impl From<&Row> for RoomRow {
    fn from(row: &Row) -> Self {
        Self {
            room_id: row.get(0),
            name: row.get(1),
            invite_only: row.get(2),
            topic: row.get(3),
            created_by: row.get(4),
            created_at: row.get(5),
            irc_channel: row.get(6),
            sms_number: row.get(7),
        }
    }
}

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
    pub room_id: Uuid,
    pub target_user: Option<Uuid>,
    pub target_mask: Option<String>,
    pub reason: Option<String>,
    /// Who banned (`user:<id>` or `system`).
    pub by: String,
    pub banned_at: DateTime<Utc>,
    /// `None`: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    /// Who lifted it. Only [`ReadModels::bans_of_user`] reads it; a ban in force as of a moment
    /// ([`ReadModels::bans`]) was not lifted by then.
    pub lifted_by: Option<String>,
}

const BAN_COLUMNS: &str = "ban_id, room_id, target_user, target_mask, reason, by_actor, banned_at, until, lifted_at, lifted_by";

impl From<&Row> for Ban {
    fn from(row: &Row) -> Self {
        Self {
            ban_id: row.get(0),
            room_id: row.get(1),
            target_user: row.get(2),
            target_mask: row.get(3),
            reason: row.get(4),
            by: row.get(5),
            banned_at: row.get(6),
            until: row.get(7),
            lifted_at: row.get(8),
            lifted_by: row.get(9),
        }
    }
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

/// One member not wanting to hear another in a room.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PersonalMute {
    /// Always an account: SMS members have one.
    pub muter: Uuid,
    /// As in [`members`](ReadModels::members): an account's id, or `nick:` and a guest's
    /// casefolded nick.
    pub mutee_key: String,
    /// The mutee's account, if they were muted as one.
    pub mutee: Option<Uuid>,
    /// An IRC guest's nick as written.
    pub mutee_nick: Option<String>,
}

/// Where a ban request stands; stored as [`as_str`](BanRequestStatus::as_str)'s name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanRequestStatus {
    Open,
    Approved,
    Rejected,
}

impl BanRequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BanRequestStatus::Open => "open",
            BanRequestStatus::Approved => "approved",
            BanRequestStatus::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRequest {
    pub request_id: Uuid,
    pub target_user: Option<Uuid>,
    pub target_mask: Option<String>,
    pub reason: String,
    pub by: String,
    pub requested_at: DateTime<Utc>,
    /// `open`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
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

impl ReadModels {
    /// A room by id; with `created_by`, only if it existed then.
    pub async fn room(&self, room_id: Uuid, created_by: Option<DateTime<Utc>>) -> Result<Option<RoomRow>, ProjectionError> {
        let row = self
            .query_opt_planned(
                &format!(
                    "SELECT {ROOM_COLUMNS} FROM read.rooms r WHERE r.room_id = $1 AND ($2::timestamptz IS NULL OR r.created_at <= $2)"
                ),
                &[&room_id, &created_by],
            )
            .await?;
        Ok(row.as_ref().map(RoomRow::from))
    }

    /// The oldest room with this name (case-insensitive); with `created_by`, among those that
    /// existed then.
    pub async fn room_by_name(&self, name: &str, created_by: Option<DateTime<Utc>>) -> Result<Option<RoomRow>, ProjectionError> {
        let row = self
            .query_opt_planned(
                &format!(
                    "SELECT {ROOM_COLUMNS} FROM read.rooms r WHERE lower(r.name) = lower($1) \
                     AND ($2::timestamptz IS NULL OR r.created_at <= $2) ORDER BY r.created_at LIMIT 1"
                ),
                &[&name, &created_by],
            )
            .await?;
        Ok(row.as_ref().map(RoomRow::from))
    }

    /// Every room (with `created_by`: those that existed then) by name, at most 1,000.
    pub async fn rooms(&self, created_by: Option<DateTime<Utc>>) -> Result<Vec<RoomRow>, ProjectionError> {
        let rows = self
            .query_planned(
                &format!(
                    "SELECT {ROOM_COLUMNS} FROM read.rooms r WHERE ($1::timestamptz IS NULL OR r.created_at <= $1) \
                     ORDER BY lower(r.name), r.room_id LIMIT 1000"
                ),
                &[&created_by],
            )
            .await?;
        Ok(rows.iter().map(RoomRow::from).collect())
    }

    /// Whether a user is a member of a room now.
    /// Whether two users are members of one room now (a private user's profile is shown to them).
    pub async fn share_a_room(&self, a: Uuid, b: Uuid) -> Result<bool, ProjectionError> {
        let row = self
            .query_opt_planned(
                "SELECT 1 FROM read.members x JOIN read.members y ON y.room_id = x.room_id WHERE x.user_id = $1 AND y.user_id = $2 LIMIT 1",
                &[&a, &b],
            )
            .await?;
        Ok(row.is_some())
    }

    pub async fn is_member(&self, room_id: Uuid, user_id: Uuid) -> Result<bool, ProjectionError> {
        let row = self.query_opt_planned("SELECT 1 FROM read.members WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id]).await?;
        Ok(row.is_some())
    }

    /// A room's topic now, or as of a time or position (the newest set by then).
    pub async fn topic(&self, room_id: Uuid, as_of: AsOf) -> Result<Option<String>, ProjectionError> {
        let row = match self.resolve(as_of).await? {
            None => self.query_opt_planned("SELECT topic FROM read.rooms WHERE room_id = $1", &[&room_id]).await?,
            Some(t) => {
                self.query_opt_planned(
                    "SELECT topic FROM read.room_topics WHERE room_id = $1 AND set_at <= $2 ORDER BY set_at DESC LIMIT 1",
                    &[&room_id, &t],
                )
                .await?
            }
        };
        Ok(row.and_then(|r| r.get(0)))
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
        Ok(rows.iter().map(member_from_row).collect())
    }

    /// One page of a room's members now, or as of a time or position, in the order of
    /// [`Self::members`] (when they joined, then member key): the first `limit` after `after`
    /// (a member's `(since, member_key)`). Walks the room's memberships in that order from the
    /// cursor: a page costs its size plus the periods in between that had ended by then (as of
    /// late in a long history, the early members who have left since).
    pub async fn members_page(
        &self,
        room_id: Uuid,
        as_of: AsOf,
        after: Option<(DateTime<Utc>, String)>,
        limit: i64,
    ) -> Result<Vec<Member>, ProjectionError> {
        let (after_since, after_key) = match after {
            Some((since, key)) => (Some(since), Some(key)),
            None => (None, None),
        };
        let rows = match self.resolve(as_of).await? {
            None => {
                self.query_planned(
                    "SELECT member_key, user_id, nick, gateway, joined_at FROM read.members \
                     WHERE room_id = $1 AND ($2::timestamptz IS NULL OR (joined_at, member_key) > ($2, $3::text)) \
                     ORDER BY joined_at, member_key LIMIT $4",
                    &[&room_id, &after_since, &after_key, &limit],
                )
                .await?
            }
            Some(t) => {
                // `valid @> t` spelt out on its bounds: `lower(valid) <= t` bounds the walk and the
                // upper bound keeps the periods still open at t. Written as `@>`, the planner
                // estimates the open periods from the GiST index's statistics, takes them all
                // from it and sorts them, which costs the whole member list for every page.
                self.query_planned(
                    "SELECT member_key, user_id, nick, gateway, lower(valid) FROM read.memberships \
                     WHERE room_id = $1 AND lower(valid) <= $2::timestamptz AND (upper_inf(valid) OR upper(valid) > $2::timestamptz) \
                       AND ($3::timestamptz IS NULL OR (lower(valid), member_key) > ($3, $4::text)) \
                     ORDER BY lower(valid), member_key LIMIT $5",
                    &[&room_id, &t, &after_since, &after_key, &limit],
                )
                .await?
            }
        };
        Ok(rows.iter().map(member_from_row).collect())
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
                room_id,
                target_user: r.get(1),
                target_mask: r.get(2),
                reason: r.get(3),
                by: r.get(4),
                banned_at: r.get(5),
                until: r.get(6),
                lifted_at: r.get(7),
                lifted_by: None,
            })
            .collect())
    }

    /// Every ban naming this account, in any room, newest first (lifted and lapsed ones too).
    pub async fn bans_of_user(&self, user_id: Uuid) -> Result<Vec<Ban>, ProjectionError> {
        let rows = self
            .query_planned(&format!("SELECT {BAN_COLUMNS} FROM read.bans WHERE target_user = $1 ORDER BY banned_at DESC"), &[&user_id])
            .await?;
        Ok(rows.iter().map(Ban::from).collect())
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

    /// Personal mutes in force, by muter and mutee key.
    pub async fn personal_mutes(&self, room_id: Uuid, as_of: AsOf) -> Result<Vec<PersonalMute>, ProjectionError> {
        let t = self.resolve(as_of).await?.unwrap_or_else(Utc::now);
        let rows = match self.query(PERSONAL_MUTES_SQL, &[&room_id, &t]).await {
            Ok(rows) => rows,
            Err(e) => {
                // Right after an upgrade the live generation may still be version 3, whose
                // mutes are all of accounts, without a key column.
                let keyed = self
                    .query(
                        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
                         WHERE table_schema = 'read' AND table_name = 'personal_mutes' AND column_name = 'mutee_key')",
                        &[],
                    )
                    .await?;
                if keyed.first().is_none_or(|r| r.get::<_, bool>(0)) {
                    return Err(e);
                }
                self.query(PERSONAL_MUTES_OF_ACCOUNTS_SQL, &[&room_id, &t]).await?
            }
        };
        Ok(rows.iter().map(|r| PersonalMute { muter: r.get(0), mutee_key: r.get(1), mutee: r.get(2), mutee_nick: r.get(3) }).collect())
    }

    /// A room's ban requests, newest first (at most 500), optionally only those in one status.
    pub async fn ban_requests(&self, room_id: Uuid, status: Option<BanRequestStatus>) -> Result<Vec<BanRequest>, ProjectionError> {
        let status = status.map(BanRequestStatus::as_str);
        let rows = self
            .query_planned(
                "SELECT request_id, target_user, target_mask, reason, by_actor, requested_at, status, decided_by, decided_at \
                 FROM read.ban_requests WHERE room_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY requested_at DESC LIMIT 500",
                &[&room_id, &status],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| BanRequest {
                request_id: r.get(0),
                target_user: r.get(1),
                target_mask: r.get(2),
                reason: r.get(3),
                by: r.get(4),
                requested_at: r.get(5),
                status: r.get(6),
                decided_by: r.get(7),
                decided_at: r.get(8),
            })
            .collect())
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

    /// The room other than `except` that a channel (casefolded) is bound to, if any.
    pub async fn irc_channel_bound_elsewhere(&self, channel_fold: &str, except: Uuid) -> Result<Option<Uuid>, ProjectionError> {
        let row = self
            .query_opt_planned(
                "SELECT room_id FROM read.room_irc_channels WHERE channel_fold = $1 AND room_id <> $2",
                &[&channel_fold, &except],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The room other than `except` that a Twilio number is bound to, if any.
    pub async fn sms_number_bound_elsewhere(&self, number: &str, except: Uuid) -> Result<Option<Uuid>, ProjectionError> {
        let row = self
            .query_opt_planned("SELECT room_id FROM read.room_sms_numbers WHERE number = $1 AND room_id <> $2", &[&number, &except])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The room a Twilio number is bound to, if any.
    pub async fn room_of_sms_number(&self, number: &str) -> Result<Option<Uuid>, ProjectionError> {
        let row = self.query_opt_planned("SELECT room_id FROM read.room_sms_numbers WHERE number = $1", &[&number]).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The SMS number a room is bound to, if any.
    pub async fn sms_number_of(&self, room_id: Uuid) -> Result<Option<String>, ProjectionError> {
        let rows = self.query("SELECT number FROM read.room_sms_numbers WHERE room_id = $1", &[&room_id]).await?;
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
}

const PERSONAL_MUTES_SQL: &str = "SELECT muter, mutee_key, mutee, mutee_nick FROM read.personal_mutes \
     WHERE room_id = $1 AND valid @> $2::timestamptz ORDER BY muter, mutee_key";
/// The same from a version 3 generation (see [`ReadModels::personal_mutes`]).
const PERSONAL_MUTES_OF_ACCOUNTS_SQL: &str = "SELECT muter, mutee::text, mutee, NULL::text FROM read.personal_mutes \
     WHERE room_id = $1 AND valid @> $2::timestamptz ORDER BY muter, mutee::text";

/// A [`Member`] from `member_key, user_id, nick, gateway, since`, the columns both member queries select.
fn member_from_row(r: &Row) -> Member {
    Member { member_key: r.get(0), user_id: r.get(1), nick: r.get(2), gateway: r.get(3), since: r.get(4) }
}
