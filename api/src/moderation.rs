//! The moderation steps GraphQL and the web pages share: ban and unban (an account by nick, or
//! a host mask), room mutes, kicks, levels, and asking for and deciding ban requests. Each step checks the
//! caller's level (the same check for every way in), looks up who the target is and what level
//! they have, and runs the room's or user's command; the domain enforces the rank rules
//! (nobody acts on someone of their own rank or above, a level-3 cannot grant level 4).

use domain::{
    BanDuration, DisplayNick, HostMask, Level, Metadata, Reason, Room, RoomCommand, StreamName, User, UserCommand, events::BanTarget,
    events::MemberRef,
};
use uuid::Uuid;

use crate::App;
use crate::accounts::{Applied, applied};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult, Code};
use crate::graphql::{level_of_user, user_by_nick};

/// Whom a ban names: an account by nick (on every gateway), or an IRC host mask. Steps take it
/// as the two optional inputs GraphQL and the forms carry (`(nick, mask)`), exactly one given.
#[derive(Debug, Clone)]
enum Target {
    Nick(String),
    /// `nick!user@host` with `*`/`?` wildcards; normalised the way IRC servers do.
    Mask(String),
}

impl Target {
    fn from_parts(nick: Option<&str>, mask: Option<&str>) -> ApiResult<Self> {
        let given = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        match (given(nick), given(mask)) {
            (Some(nick), None) => Ok(Target::Nick(nick)),
            (None, Some(mask)) => Ok(Target::Mask(mask)),
            _ => Err(ApiError::bad_input("give exactly one of `nick` and `mask`")),
        }
    }

    /// The domain target and the target's level (guests and masks rank as guests).
    async fn resolve(&self, app: &App) -> ApiResult<(BanTarget, Level)> {
        match self {
            Target::Nick(nick) => match user_by_nick(app, nick).await {
                Ok((user_id, level)) => Ok((BanTarget::User { user_id }, level)),
                // An IRC guest without an account: ban their nick everywhere (`nick!*@*`).
                Err(e) if e.code() == Code::NotFound => Ok((BanTarget::Mask { mask: HostMask::parse(nick)? }, Level::Guest)),
                Err(e) => Err(e),
            },
            Target::Mask(mask) => Ok((BanTarget::Mask { mask: HostMask::parse(mask.trim())? }, Level::Guest)),
        }
    }
}

fn duration(text: Option<&str>) -> ApiResult<Option<BanDuration>> {
    Ok(text.map(str::trim).filter(|t| !t.is_empty()).map(BanDuration::parse).transpose()?)
}

fn reason(text: Option<&str>) -> ApiResult<Option<Reason>> {
    Ok(text.map(str::trim).filter(|t| !t.is_empty()).map(Reason::parse).transpose()?)
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

/// The room a step names, which must exist.
async fn existing_room(app: &App, room: Uuid) -> ApiResult<()> {
    match app.read.room(room, None).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no room has id {room}"))),
    }
}

/// Runs one command on a room's stream and reports what changed.
pub async fn room_command(app: &App, room: Uuid, command: RoomCommand, metadata: Metadata) -> ApiResult<Applied> {
    let done = app.executor.execute::<Room>(&StreamName::room(room), &command, metadata).await?;
    applied(app, done.appended.map(|a| a.position), done.events.len()).await
}

/// Bans an account or mask from a room, for `duration` (`30m`, `2h`, `3d`, `1w`) or until
/// lifted. Members who match are kicked. Operators and above, on people below their rank.
pub async fn ban(
    app: &App,
    viewer: &Viewer,
    metadata: Metadata,
    room: Uuid,
    target: (Option<&str>, Option<&str>),
    duration: Option<&str>,
    reason: Option<&str>,
) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "banning")?;
    let target = Target::from_parts(target.0, target.1)?;
    existing_room(app, room).await?;
    let (target, target_level) = target.resolve(app).await?;
    let command = RoomCommand::Ban {
        ban_id: Uuid::now_v7(),
        target,
        duration: self::duration(duration)?,
        reason: self::reason(reason)?,
        caller_level: viewer.level,
        target_level,
    };
    room_command(app, room, command, metadata).await
}

/// Lifts every ban in force on the account or mask. Operators and above.
pub async fn unban(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, target: (Option<&str>, Option<&str>)) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "unbanning")?;
    let target = Target::from_parts(target.0, target.1)?;
    existing_room(app, room).await?;
    let (target, _) = target.resolve(app).await?;
    room_command(app, room, RoomCommand::Unban { target, caller_level: viewer.level }, metadata).await
}

/// Lifts one ban by its id (the desk's "lift" button), whatever it names. Operators and above.
pub async fn lift_ban(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, ban_id: Uuid) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "unbanning")?;
    let bans = app.read.bans(room, projections::AsOf::Now).await?;
    let ban = bans.into_iter().find(|b| b.ban_id == ban_id).ok_or_else(|| ApiError::not_found("no such ban in force in this room"))?;
    let target = match (ban.target_user, ban.target_mask) {
        (Some(user_id), _) => BanTarget::User { user_id },
        (None, Some(mask)) => BanTarget::Mask { mask: HostMask::parse(&mask)? },
        (None, None) => return Err(ApiError::not_found("that ban names nobody")),
    };
    room_command(app, room, RoomCommand::Unban { target, caller_level: viewer.level }, metadata).await
}

/// Mutes a member in a room (their messages are not relayed), for `duration` or until lifted.
/// Operators and above.
pub async fn mute(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, nick: &str, duration: Option<&str>) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "muting")?;
    existing_room(app, room).await?;
    let (target, target_level) = member_by_nick(app, nick).await?;
    let command = RoomCommand::Mute { target, duration: self::duration(duration)?, caller_level: viewer.level, target_level };
    room_command(app, room, command, metadata).await
}

/// Lifts a member's room mute. Operators and above.
pub async fn unmute(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, nick: &str) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "unmuting")?;
    existing_room(app, room).await?;
    let (target, _) = member_by_nick(app, nick).await?;
    room_command(app, room, RoomCommand::Unmute { target, caller_level: viewer.level }, metadata).await
}

/// Removes a member from a room. Operators and above.
pub async fn kick(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, nick: &str, reason: Option<&str>) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "kicking")?;
    existing_room(app, room).await?;
    let (target, target_level) = member_by_nick(app, nick).await?;
    let command = RoomCommand::Kick { target, reason: self::reason(reason)?, caller_level: viewer.level, target_level };
    room_command(app, room, command, metadata).await
}

/// Sets a user's level. Operators may grant up to their own level to people below it;
/// superusers may do anything.
pub async fn set_level(app: &App, viewer: &Viewer, metadata: Metadata, nick: &str, level: Level) -> ApiResult<Applied> {
    viewer.require(Level::Operator, "changing levels")?;
    let (user_id, _) = user_by_nick(app, nick).await?;
    let done = app
        .executor
        .execute::<User>(&StreamName::user(user_id), &UserCommand::ChangeLevel { to: level, caller_level: viewer.level }, metadata)
        .await?;
    applied(app, done.appended.map(|a| a.position), done.events.len()).await
}

/// Asks staff to ban an account or mask from a room, saying why (IRC's `.requestban`): the
/// request waits on the desk for approval. Members, in a room they are in (on IRC the asker is
/// on the channel); staff in any room. Returns the request's id.
pub async fn request_ban(
    app: &App,
    viewer: &Viewer,
    metadata: Metadata,
    room: Uuid,
    target: (Option<&str>, Option<&str>),
    reason: &str,
) -> ApiResult<(Uuid, Applied)> {
    viewer.require(Level::Member, "asking for a ban")?;
    let target = Target::from_parts(target.0, target.1)?;
    existing_room(app, room).await?;
    if viewer.level < Level::Staff && !app.read.is_member(room, viewer.user_id).await? {
        return Err(ApiError::forbidden("you can ask for a ban only in a room you are in"));
    }
    let (target, _) = target.resolve(app).await?;
    let reason = Reason::parse(reason.trim())?;
    let request_id = Uuid::now_v7();
    let command = RoomCommand::RequestBan { request_id, target, reason, caller_level: viewer.level };
    Ok((request_id, room_command(app, room, command, metadata).await?))
}

/// Approves a ban request: the ban takes effect. Staff.
pub async fn approve_ban_request(
    app: &App,
    viewer: &Viewer,
    metadata: Metadata,
    room: Uuid,
    request: Uuid,
    duration: Option<&str>,
) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "deciding ban requests")?;
    let target_level = ban_request_target_level(app, room, request).await?;
    let command = RoomCommand::ApproveBanRequest {
        request_id: request,
        ban_id: Uuid::now_v7(),
        duration: self::duration(duration)?,
        caller_level: viewer.level,
        target_level,
    };
    room_command(app, room, command, metadata).await
}

/// Rejects a ban request. Staff.
pub async fn reject_ban_request(app: &App, viewer: &Viewer, metadata: Metadata, room: Uuid, request: Uuid) -> ApiResult<Applied> {
    viewer.require(Level::Staff, "deciding ban requests")?;
    room_command(app, room, RoomCommand::RejectBanRequest { request_id: request, caller_level: viewer.level }, metadata).await
}

/// The level of the account a ban request names (guest for masks), from the room's own
/// history so a request not yet in the read model is still found.
async fn ban_request_target_level(app: &App, room: Uuid, request: Uuid) -> ApiResult<Level> {
    let (state, _) = app.executor.load::<Room>(&StreamName::room(room)).await?;
    match state.ban_requests.get(&request).map(|r| &r.target) {
        Some(BanTarget::User { user_id }) => level_of_user(app, *user_id).await,
        Some(BanTarget::Mask { .. }) => Ok(Level::Guest),
        None => Err(ApiError::not_found("no such ban request in this room")),
    }
}

/// Read-your-writes for a page: returns once the named projections have applied `applied`
/// (at most the configured wait), so the page shown next reflects the step.
pub async fn caught_up(app: &App, applied: Applied, projections: &[&str]) -> ApiResult<()> {
    crate::graphql::wait_for(app, Some(&crate::graphql::LogPosition(applied.position)), projections).await
}
