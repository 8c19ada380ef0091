//! Rooms: listing (now or as of a past moment), members, bans, mutes and ban requests (each
//! with `asOf`), and the staff mutations that create rooms, bind them to an IRC channel and/or
//! an SMS number, and speak in them as the bot.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::Level;
use projections::queries as read;
use uuid::Uuid;

use super::types::{AsOf, Changed, LogPosition};
use super::{ContextExt, read_as_of, wait_for};
use crate::App;
use crate::accounts::Applied;
use crate::error::{ApiError, ApiResult};
use crate::rooms;

#[derive(Clone, Debug)]
pub struct RoomNode {
    room: read::RoomRow,
    /// The moment the parent query asked about; members/bans/mutes default to it.
    as_of: Option<AsOf>,
}

impl RoomNode {
    fn new(room: read::RoomRow, as_of: Option<AsOf>) -> Self {
        Self { room, as_of }
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Member")]
pub struct MemberNode {
    /// `user:<id>` for accounts, `guest:<nick>` for IRC guests (the nick in lower case, as
    /// nicks are compared).
    pub member_key: String,
    pub user_id: Option<Uuid>,
    pub nick: String,
    pub gateway: String,
    pub since: DateTime<Utc>,
    /// This member's place in the room's list (join order): pass it as `members(after:)` for
    /// the page after them.
    pub cursor: String,
}

impl From<read::Member> for MemberNode {
    fn from(m: read::Member) -> Self {
        Self {
            cursor: super::history::time_key_cursor(m.since, &m.member_key),
            member_key: documented_member_key(&m.member_key),
            user_id: m.user_id,
            nick: m.nick,
            gateway: m.gateway,
            since: m.since,
        }
    }
}

/// The read model keys members by user id or `nick:<casefolded nick>`; clients get the
/// documented form, which says which of the two it is.
fn documented_member_key(stored: &str) -> String {
    match stored.strip_prefix("nick:") {
        Some(nick) => format!("guest:{nick}"),
        None => format!("user:{stored}"),
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Ban")]
pub struct BanNode {
    pub id: Uuid,
    pub room_id: Uuid,
    pub target_user: Option<Uuid>,
    pub target_mask: Option<String>,
    pub reason: Option<String>,
    /// Who banned (`user:<id>` or `system`).
    pub by: String,
    pub banned_at: DateTime<Utc>,
    /// `null`: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
}

impl From<read::Ban> for BanNode {
    fn from(b: read::Ban) -> Self {
        Self {
            id: b.ban_id,
            room_id: b.room_id,
            target_user: b.target_user,
            target_mask: b.target_mask,
            reason: b.reason,
            by: b.by,
            banned_at: b.banned_at,
            until: b.until,
            lifted_at: b.lifted_at,
            lifted_by: b.lifted_by,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "RoomMute")]
pub struct MuteNode {
    /// As `Member.memberKey`: `user:<id>` or `guest:<nick>`.
    pub member_key: String,
    pub user_id: Option<Uuid>,
    pub nick: String,
    pub by: String,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl From<read::RoomMute> for MuteNode {
    fn from(m: read::RoomMute) -> Self {
        Self {
            member_key: documented_member_key(&m.member_key),
            user_id: m.user_id,
            nick: m.nick,
            by: m.by,
            since: m.since,
            until: m.until,
        }
    }
}

/// One member not wanting to hear another (`#mute <nick>` over SMS): the muter's texts leave
/// out the mutee's messages.
#[derive(SimpleObject, Clone, Debug)]
pub struct PersonalMute {
    /// The muter's account (SMS members have one).
    pub muter: Uuid,
    /// The mutee as `members` keys them: `user:<id>`, or `guest:<casefolded nick>` for an IRC
    /// guest.
    pub mutee_key: String,
    /// The mutee's account; null for an IRC guest.
    pub mutee: Option<Uuid>,
    /// An IRC guest's nick as written; null for an account.
    pub mutee_nick: Option<String>,
}

impl From<read::PersonalMute> for PersonalMute {
    fn from(m: read::PersonalMute) -> Self {
        Self { muter: m.muter, mutee_key: documented_member_key(&m.mutee_key), mutee: m.mutee, mutee_nick: m.mutee_nick }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BanRequestStatus {
    Open,
    Approved,
    Rejected,
}

impl From<BanRequestStatus> for read::BanRequestStatus {
    fn from(s: BanRequestStatus) -> Self {
        match s {
            BanRequestStatus::Open => read::BanRequestStatus::Open,
            BanRequestStatus::Approved => read::BanRequestStatus::Approved,
            BanRequestStatus::Rejected => read::BanRequestStatus::Rejected,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct BanRequest {
    pub id: Uuid,
    pub target_user: Option<Uuid>,
    pub target_mask: Option<String>,
    pub reason: String,
    pub by: String,
    pub requested_at: DateTime<Utc>,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<read::BanRequest> for BanRequest {
    fn from(r: read::BanRequest) -> Self {
        Self {
            id: r.request_id,
            target_user: r.target_user,
            target_mask: r.target_mask,
            reason: r.reason,
            by: r.by,
            requested_at: r.requested_at,
            status: r.status,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
        }
    }
}

#[Object(name = "Room")]
impl RoomNode {
    async fn id(&self) -> Uuid {
        self.room.room_id
    }
    async fn name(&self) -> &str {
        &self.room.name
    }
    async fn invite_only(&self) -> bool {
        self.room.invite_only
    }
    /// The topic (as of the parent query's `asOf`, when it has one).
    async fn topic(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        match &self.as_of {
            None => Ok(self.room.topic.clone()),
            Some(when) => {
                ctx.spend()?;
                Ok(ctx.app().read.topic(self.room.room_id, read_as_of(Some(when))?).await?)
            }
        }
    }
    async fn created_by(&self) -> &str {
        &self.room.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.room.created_at
    }
    /// The IRC channel this room is bound to, if any.
    async fn irc_channel(&self) -> Option<&str> {
        self.room.irc_channel.as_deref()
    }
    /// The Twilio number this room is bound to, if any.
    async fn sms_number(&self) -> Option<&str> {
        self.room.sms_number.as_deref()
    }

    /// Who is in the room (now, or as of `asOf`, which defaults to the parent query's), in the
    /// order they joined. With `first` (1 to 500): one page of at most that many, after the
    /// member whose `cursor` is `after`; the way to list a large room. Without it: everyone.
    async fn members(
        &self,
        ctx: &Context<'_>,
        as_of: Option<AsOf>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Vec<MemberNode>> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?.clone();
        crate::access::require_members_access(ctx.app(), &viewer, &self.room).await?;
        let when = read_as_of(as_of.as_ref().or(self.as_of.as_ref()))?;
        let members = match (first, after) {
            (None, None) => ctx.app().read.members(self.room.room_id, when).await?,
            (None, Some(_)) => return Err(ApiError::bad_input("`after` continues a page: give `first` too")),
            (Some(n), after) => {
                let limit = super::page_size(Some(n))?;
                let after = after.as_deref().map(super::history::parse_time_key_cursor).transpose()?;
                ctx.app().read.members_page(self.room.room_id, when, after, limit).await?
            }
        };
        Ok(members.into_iter().map(MemberNode::from).collect())
    }

    /// Bans in force (now, or as of `asOf`). Operators and above.
    async fn bans(&self, ctx: &Context<'_>, as_of: Option<AsOf>) -> ApiResult<Vec<BanNode>> {
        ctx.spend()?;
        ctx.require(Level::Operator, "a room's bans")?;
        let when = read_as_of(as_of.as_ref().or(self.as_of.as_ref()))?;
        let bans = ctx.app().read.bans(self.room.room_id, when).await?;
        Ok(bans.into_iter().map(BanNode::from).collect())
    }

    /// Room mutes in force (now, or as of `asOf`). Operators and above.
    async fn mutes(&self, ctx: &Context<'_>, as_of: Option<AsOf>) -> ApiResult<Vec<MuteNode>> {
        ctx.spend()?;
        ctx.require(Level::Operator, "a room's mutes")?;
        let when = read_as_of(as_of.as_ref().or(self.as_of.as_ref()))?;
        let mutes = ctx.app().read.room_mutes(self.room.room_id, when).await?;
        Ok(mutes.into_iter().map(MuteNode::from).collect())
    }

    /// Personal mutes in force (now, or as of `asOf`). Staff and above.
    async fn personal_mutes(&self, ctx: &Context<'_>, as_of: Option<AsOf>) -> ApiResult<Vec<PersonalMute>> {
        ctx.spend()?;
        ctx.require(Level::Staff, "a room's personal mutes")?;
        let when = read_as_of(as_of.as_ref().or(self.as_of.as_ref()))?;
        let mutes = ctx.app().read.personal_mutes(self.room.room_id, when).await?;
        Ok(mutes.into_iter().map(PersonalMute::from).collect())
    }

    /// Ban requests, newest first. Operators and above.
    async fn ban_requests(&self, ctx: &Context<'_>, status: Option<BanRequestStatus>) -> ApiResult<Vec<BanRequest>> {
        ctx.spend()?;
        ctx.require(Level::Operator, "ban requests")?;
        let requests = ctx.app().read.ban_requests(self.room.room_id, status.map(Into::into)).await?;
        Ok(requests.into_iter().map(BanRequest::from).collect())
    }
}

/// Finds a room by id or name (exactly one), as of a moment if given.
pub(crate) async fn find_room(app: &App, id: Option<Uuid>, name: Option<&str>, as_of: Option<&AsOf>) -> ApiResult<Option<RoomNode>> {
    let created_by = match as_of {
        None => None,
        Some(when) => match app.read.resolve(read_as_of(Some(when))?).await? {
            Some(t) => Some(t),
            None => return Ok(None),
        },
    };
    let room = match (id, name) {
        (Some(id), None) => app.read.room(id, created_by).await?,
        (None, Some(name)) => app.read.room_by_name(name, created_by).await?,
        _ => return Err(ApiError::bad_input("give exactly one of `id` and `name`")),
    };
    Ok(room.map(|r| RoomNode::new(r, as_of.cloned())))
}

#[derive(Default)]
pub struct RoomsQuery;

#[Object]
impl RoomsQuery {
    /// Every room (as of `asOf`: those that existed then), by name. Members and above.
    async fn rooms(
        &self,
        ctx: &Context<'_>,
        as_of: Option<AsOf>,
        #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>,
    ) -> ApiResult<Vec<RoomNode>> {
        ctx.spend()?;
        ctx.require(Level::Member, "listing rooms")?;
        let app = ctx.app();
        wait_for(app, wait_for_position.as_ref(), &["rooms"]).await?;
        let created_by = match &as_of {
            None => None,
            Some(when) => match app.read.resolve(read_as_of(Some(when))?).await? {
                Some(t) => Some(t),
                None => return Ok(vec![]),
            },
        };
        let rooms = app.read.rooms(created_by).await?;
        Ok(rooms.into_iter().map(|r| RoomNode::new(r, as_of.clone())).collect())
    }

    /// One room by id or name; with `asOf`, its members, bans and mutes are as of then.
    async fn room(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        name: Option<String>,
        as_of: Option<AsOf>,
        #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>,
    ) -> ApiResult<Option<RoomNode>> {
        ctx.spend()?;
        ctx.require(Level::Member, "a room")?;
        let app = ctx.app();
        wait_for(app, wait_for_position.as_ref(), &["rooms"]).await?;
        Ok(find_room(app, id, name.as_deref(), as_of.as_ref()).await?)
    }
}

#[derive(InputObject)]
pub struct CreateRoomInput {
    pub name: String,
    #[graphql(default)]
    pub invite_only: bool,
    /// Bind to this IRC channel (e.g. `#lobby`).
    pub irc_channel: Option<String>,
    /// The channel key (`+k`), if it has one.
    pub irc_key: Option<String>,
    /// Bind to this Twilio number (E.164).
    pub sms_number: Option<String>,
    /// Also make the Twilio account post the number's incoming texts to this server (its
    /// `SmsUrl`, as `switchboard twilio configure` sets it). Nothing is created when Twilio
    /// refuses.
    #[graphql(default)]
    pub configure_twilio: bool,
}

#[derive(SimpleObject)]
pub struct RoomPayload {
    pub room_id: Uuid,
    pub position: LogPosition,
}

#[derive(Default)]
pub struct RoomsMutation;

fn changed(applied: Applied) -> Changed {
    Changed { position: LogPosition(applied.position), events: applied.events as i32 }
}

#[Object]
impl RoomsMutation {
    /// Creates a room, optionally bound to an IRC channel and/or an SMS number. Staff.
    async fn create_room(&self, ctx: &Context<'_>, input: CreateRoomInput) -> ApiResult<RoomPayload> {
        let viewer = ctx.signed_in()?;
        let new_room = rooms::NewRoom {
            name: input.name,
            invite_only: input.invite_only,
            irc_channel: input.irc_channel,
            irc_key: input.irc_key,
            sms_number: input.sms_number,
            configure_twilio: input.configure_twilio,
        };
        let (room_id, done) = rooms::create_room(ctx.app(), viewer, ctx.metadata(), new_room).await?;
        Ok(RoomPayload { room_id, position: LogPosition(done.position) })
    }

    /// Binds a room to an IRC channel (a channel belongs to one room). Staff.
    async fn bind_irc_channel(&self, ctx: &Context<'_>, room: Uuid, channel: String, key: Option<String>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(rooms::bind_irc_channel(ctx.app(), viewer, ctx.metadata(), room, &channel, key.as_deref()).await?))
    }

    /// Unbinds a room from its IRC channel. Staff.
    async fn unbind_irc_channel(&self, ctx: &Context<'_>, room: Uuid) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(rooms::unbind_irc_channel(ctx.app(), viewer, ctx.metadata(), room).await?))
    }

    /// Binds a room to a Twilio number (a number belongs to one room). Staff. With
    /// `configureTwilio`, first makes the Twilio account post the number's incoming texts to
    /// this server; nothing is bound when Twilio refuses.
    async fn bind_sms_number(
        &self,
        ctx: &Context<'_>,
        room: Uuid,
        number: String,
        #[graphql(default)] configure_twilio: bool,
    ) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(rooms::bind_sms_number(ctx.app(), viewer, ctx.metadata(), room, &number, configure_twilio).await?))
    }

    /// Unbinds a room from its Twilio number. Staff.
    async fn unbind_sms_number(&self, ctx: &Context<'_>, room: Uuid) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(rooms::unbind_sms_number(ctx.app(), viewer, ctx.metadata(), room).await?))
    }

    /// Makes a room invite-only (or open). Staff.
    async fn set_invite_only(&self, ctx: &Context<'_>, room: Uuid, invite_only: bool) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(rooms::set_invite_only(ctx.app(), viewer, ctx.metadata(), room, invite_only).await?))
    }

    /// Says `text` in the room as the bot (an action, like `/me`, when `action`). Staff.
    async fn send_to_room(&self, ctx: &Context<'_>, room: Uuid, text: String, action: Option<bool>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?;
        Ok(changed(rooms::send_as_bot(ctx.app(), viewer, ctx.metadata(), room, &text, action.unwrap_or(false)).await?))
    }
}
