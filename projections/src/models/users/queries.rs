//! Reads of the `users` tables: accounts, tokens, IRC sessions, and nick, level and privacy now
//! or as of a time or position.

use chrono::{DateTime, Utc};
use domain::Gateway;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::queries::ReadModels;
use crate::replay::AsOf;

/// A user as the `users` table has them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub user_id: Uuid,
    pub nick: String,
    pub nick_fold: String,
    /// Where the user first appeared.
    pub registered_via: Gateway,
    /// 0 (guest) … 5 (superuser).
    pub level: i16,
    pub private: bool,
    pub about: Option<String>,
    pub phone: Option<String>,
    pub sms_stopped: bool,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub irc_nick: Option<String>,
    pub irc_mask: Option<String>,
    pub login_locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "user_id, nick, registered_via, level, private, about, phone, sms_stopped, username, email, \
     email_verified, irc_nick, irc_mask, login_locked_until, created_at, nick_fold";

impl TryFrom<&Row> for UserRow {
    type Error = ProjectionError;

    /// A row of `USER_COLUMNS`.
    fn try_from(row: &Row) -> Result<Self, Self::Error> {
        let registered_via: String = row.get("registered_via");
        Ok(Self {
            user_id: row.get("user_id"),
            nick: row.get("nick"),
            nick_fold: row.get("nick_fold"),
            registered_via: registered_via.parse().map_err(|_| ProjectionError::UnknownStoredValue {
                table: "users",
                column: "registered_via",
                value: registered_via,
            })?,
            level: row.get("level"),
            private: row.get("private"),
            about: row.get("about"),
            phone: row.get("phone"),
            sms_stopped: row.get("sms_stopped"),
            username: row.get("username"),
            email: row.get("email"),
            email_verified: row.get("email_verified"),
            irc_nick: row.get("irc_nick"),
            irc_mask: row.get("irc_mask"),
            login_locked_until: row.get("login_locked_until"),
            created_at: row.get("created_at"),
        })
    }
}

/// Which users [`ReadModels::users`] lists; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Exactly this level.
    pub level: Option<i16>,
    /// At least this level.
    pub min_level: Option<i16>,
    /// First appeared through this gateway.
    pub registered_via: Option<Gateway>,
    /// Part of the nick or username, case-insensitive, taken literally (`%` and `_` are no
    /// wildcards).
    pub text: Option<String>,
}

/// A user's id and current level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLevel {
    pub user_id: Uuid,
    pub level: i16,
}

/// What `#who` tells about someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub nick: String,
    pub created_at: DateTime<Utc>,
    pub private: bool,
    pub phone: Option<String>,
}

/// The holder of an API token, with the token's validity (the caller checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub nick: String,
    pub level: i16,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live IRC session of a user, as the users read model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIrcSession {
    pub session_id: Uuid,
    pub nick: String,
    pub mask: String,
    pub started_at: DateTime<Utc>,
}

/// An API token of a user (never its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRow {
    pub token_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A period during which a user had a nick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NickPeriod {
    pub nick: String,
    pub from: DateTime<Utc>,
    /// `None`: still so.
    pub to: Option<DateTime<Utc>>,
}

/// A period during which a user had a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelPeriod {
    pub level: i16,
    /// Who set it (`user:<id>` or `system`).
    pub by: String,
    pub from: DateTime<Utc>,
    /// `None`: still so.
    pub to: Option<DateTime<Utc>>,
}

impl ReadModels {
    /// A user by id.
    pub async fn user(&self, user_id: Uuid) -> Result<Option<UserRow>, ProjectionError> {
        let row = self.query_opt_planned(&format!("SELECT {USER_COLUMNS} FROM read.users WHERE user_id = $1"), &[&user_id]).await?;
        row.as_ref().map(UserRow::try_from).transpose()
    }

    /// The current nicks of many users in one query (pages naming hundreds of people: a room's
    /// bans, top talkers). Unknown ids are left out.
    pub async fn nicks(&self, user_ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, String>, ProjectionError> {
        if user_ids.is_empty() {
            return Ok(Default::default());
        }
        let rows = self.query("SELECT user_id, nick FROM read.users WHERE user_id = ANY($1)", &[&user_ids]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Users matching `filter` whose casefolded nick sorts after `after_nick_fold`, by nick, at
    /// most `limit`.
    pub async fn users(&self, filter: &UserFilter, after_nick_fold: &str, limit: i64) -> Result<Vec<UserRow>, ProjectionError> {
        let registered_via = filter.registered_via.map(Gateway::as_str);
        let text = filter.text.as_ref().map(|t| format!("%{}%", t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let rows = self
            .query_planned(
                &format!(
                    "SELECT {USER_COLUMNS} FROM read.users \
                     WHERE ($1::smallint IS NULL OR level = $1) AND ($2::smallint IS NULL OR level >= $2) \
                       AND ($3::text IS NULL OR registered_via = $3) \
                       AND ($4::text IS NULL OR nick ILIKE $4 OR username ILIKE $4) \
                       AND nick_fold > $5 \
                     ORDER BY nick_fold LIMIT $6"
                ),
                &[&filter.level, &filter.min_level, &registered_via, &text, &after_nick_fold, &limit],
            )
            .await?;
        rows.iter().map(UserRow::try_from).collect()
    }

    /// The id and level of whoever holds a nick (casefolded) now.
    pub async fn user_level_by_nick(&self, nick_fold: &str) -> Result<Option<UserLevel>, ProjectionError> {
        let row = self.query_opt_planned("SELECT user_id, level FROM read.users WHERE nick_fold = $1", &[&nick_fold]).await?;
        Ok(row.map(|r| UserLevel { user_id: r.get(0), level: r.get(1) }))
    }

    /// A user's current level (`None`: no such user).
    pub async fn current_level(&self, user_id: Uuid) -> Result<Option<i16>, ProjectionError> {
        let row = self.query_opt_planned("SELECT level FROM read.users WHERE user_id = $1", &[&user_id]).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The public profile of whoever holds a nick (casefolded) now.
    pub async fn profile_by_nick(&self, nick_fold: &str) -> Result<Option<UserProfile>, ProjectionError> {
        let row =
            self.query_opt_planned("SELECT nick, created_at, private, phone FROM read.users WHERE nick_fold = $1", &[&nick_fold]).await?;
        Ok(row.map(|r| UserProfile { nick: r.get(0), created_at: r.get(1), private: r.get(2), phone: r.get(3) }))
    }

    /// Who holds the API token with this hash (expired and revoked ones too).
    pub async fn api_token_holder(&self, token_hash: &str) -> Result<Option<TokenHolder>, ProjectionError> {
        let row = self
            .query_opt_planned(
                "SELECT t.token_id, t.user_id, u.nick, u.level, t.expires_at, t.revoked_at \
                 FROM read.api_tokens t JOIN read.users u USING (user_id) WHERE t.token_hash = $1",
                &[&token_hash],
            )
            .await?;
        Ok(row.map(|r| TokenHolder {
            token_id: r.get(0),
            user_id: r.get(1),
            nick: r.get(2),
            level: r.get(3),
            expires_at: r.get(4),
            revoked_at: r.get(5),
        }))
    }

    /// Every nick a user has had, oldest first.
    pub async fn nick_history(&self, user_id: Uuid) -> Result<Vec<NickPeriod>, ProjectionError> {
        let rows = self
            .query_planned(
                "SELECT nick, lower(valid), upper(valid) FROM read.nick_history WHERE user_id = $1 ORDER BY lower(valid)",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(|r| NickPeriod { nick: r.get(0), from: r.get(1), to: r.get(2) }).collect())
    }

    /// Every level a user has had, oldest first.
    pub async fn level_history(&self, user_id: Uuid) -> Result<Vec<LevelPeriod>, ProjectionError> {
        let rows = self
            .query_planned(
                "SELECT level, by_actor, lower(valid), upper(valid) FROM read.level_history WHERE user_id = $1 ORDER BY lower(valid)",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(|r| LevelPeriod { level: r.get(0), by: r.get(1), from: r.get(2), to: r.get(3) }).collect())
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

    /// A user's IRC sessions that have not ended, newest first.
    pub async fn open_irc_sessions_of(&self, user_id: Uuid) -> Result<Vec<OpenIrcSession>, ProjectionError> {
        let rows = self
            .query(
                "SELECT session_id, nick, mask, started_at FROM read.irc_sessions WHERE user_id = $1 AND ended_at IS NULL \
                 ORDER BY started_at DESC LIMIT 100",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(|r| OpenIrcSession { session_id: r.get(0), nick: r.get(1), mask: r.get(2), started_at: r.get(3) }).collect())
    }

    /// A user's API tokens that still work (neither revoked nor expired), newest first.
    pub async fn live_api_tokens_of(&self, user_id: Uuid) -> Result<Vec<ApiTokenRow>, ProjectionError> {
        let rows = self
            .query(
                "SELECT token_id, issued_at, expires_at FROM read.api_tokens \
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY issued_at DESC LIMIT 200",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(|r| ApiTokenRow { token_id: r.get(0), issued_at: r.get(1), expires_at: r.get(2) }).collect())
    }

    /// IRC sessions that have not ended: `(user_id, session_id)`.
    pub async fn open_irc_sessions(&self) -> Result<Vec<(Uuid, Uuid)>, ProjectionError> {
        let rows = self.query("SELECT user_id, session_id FROM read.irc_sessions WHERE ended_at IS NULL", &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
