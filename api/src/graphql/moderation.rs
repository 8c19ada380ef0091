//! Moderation: ban and unban (an account by nick, or a host mask), timed or not; room mutes;
//! kicks; levels; asking for and deciding ban requests. The steps themselves (level checks,
//! target lookups, the commands) are [`crate::moderation`], which the web pages call too; this
//! module maps their inputs and reports what changed.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::ContextExt;
use super::types::{Changed, LevelName, LogPosition};
use crate::accounts::Applied;
use crate::error::ApiResult;
use crate::moderation;

/// Whom a ban names: an account by nick (on every gateway), or an IRC host mask.
#[derive(InputObject)]
pub struct BanTargetInput {
    pub nick: Option<String>,
    /// `nick!user@host` with `*`/`?` wildcards; normalised the way IRC servers do.
    pub mask: Option<String>,
}

impl BanTargetInput {
    fn parts(&self) -> (Option<&str>, Option<&str>) {
        (self.nick.as_deref(), self.mask.as_deref())
    }
}

#[derive(SimpleObject)]
pub struct BanRequestPayload {
    pub request_id: Uuid,
    pub position: LogPosition,
}

fn changed(applied: Applied) -> Changed {
    Changed { position: LogPosition(applied.position), events: applied.events as i32 }
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
        let viewer = ctx.signed_in()?;
        let done = moderation::ban(ctx.app(), viewer, ctx.metadata(), room, target.parts(), duration.as_deref(), reason.as_deref()).await?;
        Ok(changed(done))
    }

    /// Lifts every ban in force on the account or mask. Operators and above.
    async fn unban(&self, ctx: &Context<'_>, room: Uuid, target: BanTargetInput) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(moderation::unban(ctx.app(), viewer, ctx.metadata(), room, target.parts()).await?))
    }

    /// Mutes a member in a room (their messages are not relayed), for `duration` or until
    /// lifted. Operators and above.
    async fn mute(&self, ctx: &Context<'_>, room: Uuid, nick: String, duration: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(moderation::mute(ctx.app(), viewer, ctx.metadata(), room, &nick, duration.as_deref()).await?))
    }

    /// Lifts a member's room mute. Operators and above.
    async fn unmute(&self, ctx: &Context<'_>, room: Uuid, nick: String) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(moderation::unmute(ctx.app(), viewer, ctx.metadata(), room, &nick).await?))
    }

    /// Removes a member from a room. Operators and above.
    async fn kick(&self, ctx: &Context<'_>, room: Uuid, nick: String, reason: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(moderation::kick(ctx.app(), viewer, ctx.metadata(), room, &nick, reason.as_deref()).await?))
    }

    /// Sets a user's level. Operators may grant up to their own level to people below it;
    /// superusers may do anything.
    async fn set_level(&self, ctx: &Context<'_>, nick: String, level: LevelName) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(moderation::set_level(ctx.app(), viewer, ctx.metadata(), &nick, level.into()).await?))
    }

    /// Asks staff to ban an account or mask from a room, saying why (IRC's `.requestban`).
    /// Members, in a room they are in; staff anywhere. The request waits for a decision.
    async fn request_ban(&self, ctx: &Context<'_>, room: Uuid, target: BanTargetInput, reason: String) -> ApiResult<BanRequestPayload> {
        let viewer = ctx.signed_in()?;
        let (request_id, done) = moderation::request_ban(ctx.app(), viewer, ctx.metadata(), room, target.parts(), &reason).await?;
        Ok(BanRequestPayload { request_id, position: LogPosition(done.position) })
    }

    /// Approves a ban request: the ban takes effect. Staff.
    async fn approve_ban_request(&self, ctx: &Context<'_>, room: Uuid, request: Uuid, duration: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        let done = moderation::approve_ban_request(ctx.app(), viewer, ctx.metadata(), room, request, duration.as_deref()).await?;
        Ok(changed(done))
    }

    /// Rejects a ban request. Staff.
    async fn reject_ban_request(&self, ctx: &Context<'_>, room: Uuid, request: Uuid) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(moderation::reject_ban_request(ctx.app(), viewer, ctx.metadata(), room, request).await?))
    }
}
