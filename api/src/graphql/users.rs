//! Users: look-up by id or nick (now or as of a past moment), filtered lists, and each user's
//! history of nicks, levels and bans. Contact details (phone, email, IRC host) are shown to the
//! user themself and to staff only.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::Level;
use projections::queries as read;
use uuid::Uuid;

use super::rooms::BanNode;
use super::types::{AsOf, LevelName, LogPosition};
use super::{ContextExt, level_of, page_size, read_as_of, wait_for};
use crate::App;
use crate::error::{ApiError, ApiResult};

#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex, name = "User")]
pub struct UserNode {
    pub id: Uuid,
    pub nick: String,
    pub level: LevelName,
    /// The level as a number (0 guest … 5 superuser).
    pub level_number: i32,
    /// Where the user first appeared: `irc`, `sms`, `api` or `system`.
    pub registered_via: String,
    pub private: bool,
    #[graphql(skip)]
    pub about_private: Option<String>,
    pub irc_nick: Option<String>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub sms_stopped_private: bool,
    #[graphql(skip)]
    pub username_private: Option<String>,
    #[graphql(skip)]
    pub email_verified_private: bool,
    #[graphql(skip)]
    pub login_locked_until_private: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub phone_private: Option<String>,
    #[graphql(skip)]
    pub email_private: Option<String>,
    #[graphql(skip)]
    pub irc_mask_private: Option<String>,
    #[graphql(skip)]
    pub nick_fold: String,
}

impl From<read::UserRow> for UserNode {
    fn from(row: read::UserRow) -> Self {
        let level = level_of(row.level);
        Self {
            id: row.user_id,
            nick: row.nick,
            level: level.into(),
            level_number: level.as_u8() as i32,
            registered_via: row.registered_via.as_str().to_owned(),
            private: row.private,
            about_private: row.about,
            sms_stopped_private: row.sms_stopped,
            username_private: row.username,
            email_verified_private: row.email_verified,
            irc_nick: row.irc_nick,
            login_locked_until_private: row.login_locked_until,
            created_at: row.created_at,
            phone_private: row.phone,
            email_private: row.email,
            irc_mask_private: row.irc_mask,
            nick_fold: row.nick_fold,
        }
    }
}

impl UserNode {
    pub async fn load(app: &App, user_id: Uuid) -> ApiResult<Option<Self>> {
        Ok(app.read.user(user_id).await?.map(Self::from))
    }

    /// The same user as of a past moment: nick, level and privacy from the temporal tables;
    /// `None` when they did not exist yet.
    async fn into_as_of(mut self, app: &App, as_of: &AsOf) -> ApiResult<Option<Self>> {
        let when = read_as_of(Some(as_of))?;
        let Some(nick) = app.read.nick(self.id, when).await? else { return Ok(None) };
        self.nick = nick;
        let level = app.read.level(self.id, when).await?.map(level_of).unwrap_or(Level::Guest);
        self.level = level.into();
        self.level_number = level.as_u8() as i32;
        if let Some(private) = app.read.private(self.id, when).await? {
            self.private = private;
        }
        Ok(Some(self))
    }
}

/// Whether the viewer may see this user's contact details and history.
fn may_see_private(ctx: &Context<'_>, user_id: Uuid) -> bool {
    ctx.viewer().is_some_and(|v| v.user_id == user_id || v.level >= Level::Staff)
}

fn require_private(ctx: &Context<'_>, user_id: Uuid, what: &str) -> ApiResult<()> {
    if may_see_private(ctx, user_id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("{what} is shown to the user themself and to staff (level 4) only")))
    }
}

#[derive(SimpleObject)]
pub struct NickPeriod {
    pub nick: String,
    pub from: DateTime<Utc>,
    /// `null`: still so.
    pub to: Option<DateTime<Utc>>,
}

impl From<read::NickPeriod> for NickPeriod {
    fn from(p: read::NickPeriod) -> Self {
        Self { nick: p.nick, from: p.from, to: p.to }
    }
}

#[derive(SimpleObject)]
pub struct LevelPeriod {
    pub level: LevelName,
    /// Who set it (`user:<id>` or `system`).
    pub by: String,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

impl From<read::LevelPeriod> for LevelPeriod {
    fn from(p: read::LevelPeriod) -> Self {
        Self { level: level_of(p.level).into(), by: p.by, from: p.from, to: p.to }
    }
}

#[ComplexObject]
impl UserNode {
    /// What the user says about themself. A `private` user's is shown only to people who share a
    /// room with them, to themself and to staff (otherwise `null`).
    async fn about(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        if self.about_private.is_none() || !self.private || may_see_private(ctx, self.id) {
            return Ok(self.about_private.clone());
        }
        let Some(viewer) = ctx.viewer() else { return Ok(None) };
        ctx.spend()?;
        let shared = ctx.app().read.share_a_room(viewer.user_id, self.id).await?;
        Ok(shared.then(|| self.about_private.clone()).flatten())
    }

    /// Web login name. Self and staff only (otherwise `null`).
    async fn username(&self, ctx: &Context<'_>) -> Option<String> {
        may_see_private(ctx, self.id).then(|| self.username_private.clone()).flatten()
    }
    /// Whether the email address is verified. Self and staff only (otherwise `null`).
    async fn email_verified(&self, ctx: &Context<'_>) -> Option<bool> {
        may_see_private(ctx, self.id).then_some(self.email_verified_private)
    }
    /// Whether texts of any room are stopped (`#stop` or STOP to a room's number); which ones:
    /// `smsStoppedRooms`. Self and staff only (otherwise `null`).
    async fn sms_stopped(&self, ctx: &Context<'_>) -> ApiResult<Option<bool>> {
        if !may_see_private(ctx, self.id) {
            return Ok(None);
        }
        // The account's own flag follows the latest stop or start in any room; a start in one
        // room leaves the others stopped.
        if self.sms_stopped_private {
            return Ok(Some(true));
        }
        ctx.spend()?;
        Ok(Some(!ctx.app().read.sms_stopped_rooms(self.id).await?.is_empty()))
    }
    /// The rooms whose texts are stopped (`#stop` or STOP texted to the room's number, each room
    /// on its own), by id, among the rooms the person receives texts of. Self and staff only
    /// (otherwise `null`).
    async fn sms_stopped_rooms(&self, ctx: &Context<'_>) -> ApiResult<Option<Vec<Uuid>>> {
        if !may_see_private(ctx, self.id) {
            return Ok(None);
        }
        ctx.spend()?;
        Ok(Some(ctx.app().read.sms_stopped_rooms(self.id).await?))
    }
    /// Until when IRC logins from the host of the latest failures are locked (a lockout is per
    /// host). Self and staff only (otherwise `null`).
    async fn login_locked_until(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        may_see_private(ctx, self.id).then_some(self.login_locked_until_private).flatten()
    }
    /// Phone number (E.164). Self and staff only (otherwise `null`).
    async fn phone(&self, ctx: &Context<'_>) -> Option<String> {
        may_see_private(ctx, self.id).then(|| self.phone_private.clone()).flatten()
    }
    /// Email address. Self and staff only (otherwise `null`).
    async fn email(&self, ctx: &Context<'_>) -> Option<String> {
        may_see_private(ctx, self.id).then(|| self.email_private.clone()).flatten()
    }
    /// Registered IRC host mask. Self and staff only (otherwise `null`).
    async fn irc_mask(&self, ctx: &Context<'_>) -> Option<String> {
        may_see_private(ctx, self.id).then(|| self.irc_mask_private.clone()).flatten()
    }

    /// Every nick this user has had, oldest first. Self and staff only.
    async fn nick_history(&self, ctx: &Context<'_>) -> ApiResult<Vec<NickPeriod>> {
        ctx.spend()?;
        require_private(ctx, self.id, "nick history")?;
        let periods = ctx.app().read.nick_history(self.id).await?;
        Ok(periods.into_iter().map(Into::into).collect())
    }

    /// Every level this user has had, oldest first. Self and staff only.
    async fn level_history(&self, ctx: &Context<'_>) -> ApiResult<Vec<LevelPeriod>> {
        ctx.spend()?;
        require_private(ctx, self.id, "level history")?;
        let periods = ctx.app().read.level_history(self.id).await?;
        Ok(periods.into_iter().map(Into::into).collect())
    }

    /// Every ban naming this account, in any room, newest first. Self and staff only.
    async fn ban_history(&self, ctx: &Context<'_>) -> ApiResult<Vec<BanNode>> {
        ctx.spend()?;
        require_private(ctx, self.id, "ban history")?;
        let bans = ctx.app().read.bans_of_user(self.id).await?;
        Ok(bans.into_iter().map(BanNode::from).collect())
    }
}

#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Exactly this level.
    pub level: Option<LevelName>,
    /// At least this level.
    pub min_level: Option<LevelName>,
    /// Where they first appeared: `irc`, `sms`, `api`.
    pub gateway: Option<String>,
    /// Part of the nick or username (case-insensitive).
    pub text: Option<String>,
}

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// One user by id or nick, now or as of a past moment. Members (level 1) may look people
    /// up; contact details and history need the user themself or staff.
    async fn user(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        nick: Option<String>,
        as_of: Option<AsOf>,
        #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>,
    ) -> ApiResult<Option<UserNode>> {
        ctx.spend()?;
        ctx.require(Level::Member, "looking people up")?;
        let app = ctx.app();
        wait_for(app, wait_for_position.as_ref(), &["users"]).await?;
        let user_id = match (id, nick) {
            (Some(id), None) => id,
            (None, Some(nick)) => match &as_of {
                None => match super::user_by_nick(app, &nick).await {
                    Ok((id, _)) => id,
                    Err(e) if e.code() == crate::error::Code::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                },
                Some(when) => {
                    let nick = domain::Nick::parse(&nick)?;
                    match app.read.nick_owner(&nick.casefold(), read_as_of(Some(when))?).await? {
                        Some(id) => id,
                        None => return Ok(None),
                    }
                }
            },
            _ => return Err(ApiError::bad_input("give exactly one of `id` and `nick`")),
        };
        let Some(user) = UserNode::load(app, user_id).await? else { return Ok(None) };
        Ok(match &as_of {
            None => Some(user),
            Some(when) => user.into_as_of(app, when).await?,
        })
    }

    /// Users, by nick, filtered. Operators and above.
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, UserNode, EmptyFields, EmptyFields>> {
        ctx.spend()?;
        ctx.require(Level::Operator, "listing users")?;
        let limit = page_size(first)?;
        let filter = filter.unwrap_or_default();
        let filter = read::UserFilter {
            level: filter.level.map(|l| Level::from(l).as_u8() as i16),
            min_level: filter.min_level.map(|l| Level::from(l).as_u8() as i16),
            registered_via: super::parse_gateway(filter.gateway.as_deref())?,
            text: filter.text,
        };
        let after = after.unwrap_or_default();
        let rows = ctx.app().read.users(&filter, &after, limit + 1).await?;
        let has_next = rows.len() as i64 > limit;
        let mut connection = Connection::new(false, has_next);
        connection.edges.extend(rows.into_iter().take(limit as usize).map(|r| {
            let user = UserNode::from(r);
            Edge::new(user.nick_fold.clone(), user)
        }));
        Ok(connection)
    }
}
