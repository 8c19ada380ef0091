//! Moderation: ban and unban (an account by nick, or a host mask), timed or not; room mutes;
//! kicks; levels; deciding ban requests. The domain enforces the rules (operators ban, nobody
//! acts on someone of their own rank or above, a level-3 cannot grant level 4); this module
//! looks up who the target is and what level they have, and reports what changed.

use async_graphql::{Context, InputObject, Object};
use domain::{
    BanDuration, DisplayNick, HostMask, Level, Reason, RoomCommand, StreamName, User, UserCommand, events::BanTarget, events::MemberRef,
};
use uuid::Uuid;

use super::accounts::changed;
use super::rooms::{existing_room, room_command};
use super::types::{Changed, LevelName};
use super::{ContextExt, user_by_nick};
use crate::App;
use crate::error::{ApiError, ApiResult, Code};

/// Whom a ban names: an account by nick (on every gateway), or an IRC host mask.
#[derive(InputObject)]
pub struct BanTargetInput {
    pub nick: Option<String>,
    /// `nick!user@host` with `*`/`?` wildcards; normalised the way IRC servers do.
    pub mask: Option<String>,
}

impl BanTargetInput {
    /// The domain target and the target's level (guests and masks rank as guests).
    async fn resolve(&self, app: &App) -> ApiResult<(BanTarget, Level)> {
        match (&self.nick, &self.mask) {
            (Some(nick), None) => match user_by_nick(app, nick).await {
                Ok((user_id, level)) => Ok((BanTarget::User { user_id }, level)),
                // An IRC guest without an account: ban their nick everywhere (`nick!*@*`).
                Err(e) if e.code() == Code::NotFound => Ok((BanTarget::Mask { mask: HostMask::parse(nick)? }, Level::Guest)),
                Err(e) => Err(e),
            },
            (None, Some(mask)) => Ok((BanTarget::Mask { mask: HostMask::parse(mask.trim())? }, Level::Guest)),
            _ => Err(ApiError::bad_input("give exactly one of `nick` and `mask`")),
        }
    }
}

fn duration(text: Option<&str>) -> ApiResult<Option<BanDuration>> {
    Ok(text.map(BanDuration::parse).transpose()?)
}

fn reason(text: Option<&str>) -> ApiResult<Option<Reason>> {
    Ok(text.map(|r| Reason::parse(r.trim())).transpose()?)
}

/// A room member named by nick: an account when the nick is one, otherwise an IRC guest.
async fn member_by_nick(app: &App, nick: &str) -> ApiResult<(MemberRef, Level)> {
    let display = DisplayNick::parse(nick.trim())?;
    match user_by_nick(app, nick.trim()).await {
        Ok((user_id, level)) => Ok((MemberRef { user_id: Some(user_id), nick: display }, level)),
        Err(e) if matches!(e.code(), Code::NotFound | Code::BadUserInput) => Ok((MemberRef { user_id: None, nick: display }, Level::Guest)),
        Err(e) => Err(e),
    }
}

#[derive(Default)]
pub struct ModerationMutation;

#[Object]
impl ModerationMutation {
    /// Bans an account or mask from a room, for `duration` (`30m`, `2h`, `3d`, `1w`) or until
    /// lifted. Members who match are kicked. Operators and above, on people below their rank.
    async fn ban(
        &self,
        ctx: &Context<'_>,
        room: Uuid,
        target: BanTargetInput,
        duration: Option<String>,
        reason: Option<String>,
    ) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Operator, "banning")?.clone();
        let app = ctx.app();
        existing_room(app, room).await?;
        let (target, target_level) = target.resolve(app).await?;
        let command = RoomCommand::Ban {
            ban_id: Uuid::now_v7(),
            target,
            duration: self::duration(duration.as_deref())?,
            reason: self::reason(reason.as_deref())?,
            caller_level: viewer.level,
            target_level,
        };
        Ok(room_command(ctx, room, command).await?)
    }

    /// Lifts every ban in force on the account or mask. Operators and above.
    async fn unban(&self, ctx: &Context<'_>, room: Uuid, target: BanTargetInput) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Operator, "unbanning")?.clone();
        let app = ctx.app();
        existing_room(app, room).await?;
        let (target, _) = target.resolve(app).await?;
        Ok(room_command(ctx, room, RoomCommand::Unban { target, caller_level: viewer.level }).await?)
    }

    /// Mutes a member in a room (their messages are not relayed), for `duration` or until
    /// lifted. Operators and above.
    async fn mute(&self, ctx: &Context<'_>, room: Uuid, nick: String, duration: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Operator, "muting")?.clone();
        let app = ctx.app();
        existing_room(app, room).await?;
        let (target, target_level) = member_by_nick(app, &nick).await?;
        let command =
            RoomCommand::Mute { target, duration: self::duration(duration.as_deref())?, caller_level: viewer.level, target_level };
        Ok(room_command(ctx, room, command).await?)
    }

    /// Lifts a member's room mute. Operators and above.
    async fn unmute(&self, ctx: &Context<'_>, room: Uuid, nick: String) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Operator, "unmuting")?.clone();
        let app = ctx.app();
        existing_room(app, room).await?;
        let (target, _) = member_by_nick(app, &nick).await?;
        Ok(room_command(ctx, room, RoomCommand::Unmute { target, caller_level: viewer.level }).await?)
    }

    /// Removes a member from a room. Operators and above.
    async fn kick(&self, ctx: &Context<'_>, room: Uuid, nick: String, reason: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Operator, "kicking")?.clone();
        let app = ctx.app();
        existing_room(app, room).await?;
        let (target, target_level) = member_by_nick(app, &nick).await?;
        let command = RoomCommand::Kick { target, reason: self::reason(reason.as_deref())?, caller_level: viewer.level, target_level };
        Ok(room_command(ctx, room, command).await?)
    }

    /// Sets a user's level. Operators may grant up to their own level to people below it;
    /// superusers may do anything.
    async fn set_level(&self, ctx: &Context<'_>, nick: String, level: LevelName) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Operator, "changing levels")?.clone();
        let app = ctx.app();
        let (user_id, _) = user_by_nick(app, &nick).await?;
        let done = app
            .executor
            .execute::<User>(
                &StreamName::user(user_id),
                &UserCommand::ChangeLevel { to: level.into(), caller_level: viewer.level },
                ctx.metadata(),
            )
            .await?;
        Ok(changed(app, done.appended.map(|a| a.position), done.events.len()).await?)
    }

    /// Approves a ban request: the ban takes effect. Staff.
    async fn approve_ban_request(&self, ctx: &Context<'_>, room: Uuid, request: Uuid, duration: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Staff, "deciding ban requests")?.clone();
        let app = ctx.app();
        let target_level = ban_request_target_level(app, room, request).await?;
        let command = RoomCommand::ApproveBanRequest {
            request_id: request,
            ban_id: Uuid::now_v7(),
            duration: self::duration(duration.as_deref())?,
            caller_level: viewer.level,
            target_level,
        };
        Ok(room_command(ctx, room, command).await?)
    }

    /// Rejects a ban request. Staff.
    async fn reject_ban_request(&self, ctx: &Context<'_>, room: Uuid, request: Uuid) -> ApiResult<Changed> {
        let viewer = ctx.require(Level::Staff, "deciding ban requests")?.clone();
        Ok(room_command(ctx, room, RoomCommand::RejectBanRequest { request_id: request, caller_level: viewer.level }).await?)
    }
}

/// The level of the account a ban request names (guest for masks), from the room's own
/// history so a request not yet in the read model is still found.
async fn ban_request_target_level(app: &App, room: Uuid, request: Uuid) -> ApiResult<Level> {
    let (state, _) = app.executor.load::<domain::Room>(&StreamName::room(room)).await?;
    match state.ban_requests.get(&request).map(|r| &r.target) {
        Some(BanTarget::User { user_id }) => super::level_of_user(app, *user_id).await,
        Some(BanTarget::Mask { .. }) => Ok(Level::Guest),
        None => Err(ApiError::not_found("no such ban request in this room")),
    }
}
