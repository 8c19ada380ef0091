//! `room-<id>`: one conversation — its bindings to IRC and SMS, members, messages, mutes, bans,
//! ban requests and invitations.
//!
//! Levels are not stored here (they live on users): commands carry the caller's level and, where
//! a rule compares ranks, the target's, as looked up by the caller. `Actor::System` (the bot,
//! configuration, timers) counts as a superuser.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::metadata::{Actor, Gateway};
use crate::values::{BanDuration, DisplayNick, HostMask, IrcChannel, Level, MessageBody, PhoneNumber, Reason, RoomName, Topic};

/// Who speaks in a [`RoomCommand::Post`].
#[derive(Debug, Clone, PartialEq)]
pub enum Speaker {
    /// Someone in the room (or on its IRC channel), with their IRC mask when known.
    Member { member: MemberRef, mask: Option<HostMask> },
    /// The bot itself (`.say`, `.act`, `sendToRoom`); needs staff or the system.
    Bot { nick: DisplayNick },
}

/// Someone entering the room ([`RoomCommand::Join`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Joining {
    pub member: MemberRef,
    /// Their IRC `nick!user@host`, checked against mask bans.
    pub mask: Option<HostMask>,
    /// Their SMS number, matched against phone invitations.
    pub phone: Option<PhoneNumber>,
    pub gateway: Gateway,
    pub caller_level: Level,
    /// Marks Switchboard's own bot; only `Actor::System` may claim it.
    pub as_bot: bool,
    /// The account holding the nick they use, when they are not known by account: a ban on
    /// that account covers whoever joins under its nick (logged out by the ban's kick, say).
    pub nick_holder: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RoomCommand {
    Create {
        room_id: Uuid,
        name: RoomName,
        invite_only: bool,
        caller_level: Level,
    },
    Rename {
        name: RoomName,
        caller_level: Level,
    },
    SetInviteOnly {
        invite_only: bool,
        caller_level: Level,
    },
    BindIrcChannel {
        channel: IrcChannel,
        key: Option<String>,
        caller_level: Level,
    },
    UnbindIrcChannel {
        caller_level: Level,
    },
    BindSmsNumber {
        number: PhoneNumber,
        caller_level: Level,
    },
    UnbindSmsNumber {
        caller_level: Level,
    },
    SetTopic {
        topic: Topic,
        caller_level: Level,
    },
    Join(Joining),
    Leave {
        member: MemberRef,
        reason: LeaveReason,
    },
    Post {
        message_id: Uuid,
        speaker: Speaker,
        body: MessageBody,
        kind: MessageKind,
        gateway: Gateway,
        caller_level: Level,
    },
    Mute {
        target: MemberRef,
        duration: Option<BanDuration>,
        caller_level: Level,
        target_level: Level,
    },
    Unmute {
        target: MemberRef,
        caller_level: Level,
    },
    /// `#mute <nick> on|off`: the muter is `ctx.actor`; the mutee is any member but a bot,
    /// found as [`Room::find_member`] finds them.
    PersonalMute {
        mutee: MemberRef,
        on: bool,
    },
    Ban {
        ban_id: Uuid,
        target: BanTarget,
        duration: Option<BanDuration>,
        reason: Option<Reason>,
        caller_level: Level,
        target_level: Level,
    },
    Unban {
        target: BanTarget,
        caller_level: Level,
    },
    RequestBan {
        request_id: Uuid,
        target: BanTarget,
        reason: Reason,
        caller_level: Level,
    },
    ApproveBanRequest {
        request_id: Uuid,
        ban_id: Uuid,
        duration: Option<BanDuration>,
        caller_level: Level,
        target_level: Level,
    },
    RejectBanRequest {
        request_id: Uuid,
        caller_level: Level,
    },
    /// The inviter is `ctx.actor`, who must be a member.
    Invite {
        invite_id: Uuid,
        invitee: Invitee,
        invitee_user: Option<Uuid>,
    },
    Kick {
        target: MemberRef,
        reason: Option<Reason>,
        caller_level: Level,
        target_level: Level,
    },
    ChangeChannelMode {
        nick: DisplayNick,
        mode: ChannelMode,
        caller_level: Level,
        target_level: Level,
    },
    /// The bot banned and kicked someone whose join the room refused as banned (the channel's
    /// `+b` was gone): which ban it enforced on whom. Only `Actor::System` records it.
    EnforceBan {
        member: MemberRef,
        mask: Option<HostMask>,
        nick_holder: Option<Uuid>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("no such room")]
    RoomNotFound,
    #[error("this room already exists")]
    AlreadyCreated,
    #[error("you need level {needed} for that; you have {have}")]
    InsufficientLevel { needed: Level, have: Level },
    #[error("you cannot do that to someone at level {target}: it is not below your own {caller}")]
    TargetOutranksCaller { target: Level, caller: Level },
    #[error("the bot cannot be kicked, banned or muted")]
    CannotTargetBot,
    #[error("only the system may join as the bot or enforce a ban")]
    NotTheBot,
    #[error("only a known user can do that")]
    NotAUser,
    #[error("not a member of this room")]
    NotAMember,
    #[error("already a member of this room")]
    AlreadyMember,
    #[error("banned from this room{}", until.map(|u| format!(" until {u}")).unwrap_or_default())]
    Banned { until: Option<DateTime<Utc>> },
    #[error("muted in this room{}", until.map(|u| format!(" until {u}")).unwrap_or_default())]
    Muted { until: Option<DateTime<Utc>> },
    #[error("this room is invite-only; ask a member for an invitation")]
    InviteRequired,
    #[error("this room is already bound to {channel}")]
    IrcAlreadyBound { channel: IrcChannel },
    #[error("this room is already bound to another SMS number")]
    SmsAlreadyBound,
    #[error("no active ban matches that")]
    NotBanned,
    #[error("no such ban request")]
    BanRequestNotFound,
    #[error("that ban request was already decided")]
    BanRequestAlreadyDecided,
    #[error("you cannot mute yourself")]
    CannotMuteYourself,
}

/// How members are keyed: by account when known, otherwise (IRC guests) by casefolded nick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemberKey {
    User(Uuid),
    Guest(String),
}

impl MemberKey {
    pub fn of(member: &MemberRef) -> Self {
        match member.user_id {
            Some(id) => MemberKey::User(id),
            None => MemberKey::Guest(member.nick.casefold()),
        }
    }

    /// The member a personal mute names.
    pub fn of_mutee(mutee: &Mutee) -> Self {
        match mutee {
            Mutee::User(id) => MemberKey::User(*id),
            Mutee::Guest { nick } => MemberKey::Guest(nick.casefold()),
        }
    }
}

/// The key as the read models store it: an account's id, or `nick:` and a guest's casefolded
/// nick (nicks have no `:`, so the two never meet).
impl std::fmt::Display for MemberKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemberKey::User(id) => write!(f, "{id}"),
            MemberKey::Guest(fold) => write!(f, "nick:{fold}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub member: MemberRef,
    pub mask: Option<HostMask>,
    pub phone: Option<PhoneNumber>,
    pub gateway: Gateway,
    pub is_bot: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ban {
    pub ban_id: Uuid,
    pub target: BanTarget,
    pub until: Option<DateTime<Utc>>,
}

impl Ban {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// Does this ban name the given person? (Ignores expiry.)
    pub fn applies_to(&self, user_id: Option<Uuid>, nick: &str, mask: Option<&HostMask>) -> bool {
        match &self.target {
            BanTarget::User { user_id: banned } => user_id == Some(*banned),
            BanTarget::Mask { mask: pattern } => mask.is_some_and(|m| pattern.matches_mask(m)) || pattern.matches_nick_only(nick),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanRequestStatus {
    Open,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BanRequest {
    pub target: BanTarget,
    pub reason: Reason,
    pub status: BanRequestStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    pub invitee: Invitee,
    pub accepted: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Room {
    pub room_id: Option<Uuid>,
    pub name: Option<RoomName>,
    pub invite_only: bool,
    pub irc_channel: Option<(IrcChannel, Option<String>)>,
    pub sms_number: Option<PhoneNumber>,
    pub topic: Option<Topic>,
    pub members: BTreeMap<MemberKey, Member>,
    /// Room mutes with their end (`None`: until lifted).
    pub room_mutes: BTreeMap<MemberKey, Option<DateTime<Utc>>>,
    /// `(muter, mutee)` pairs.
    pub personal_mutes: BTreeSet<(Uuid, MemberKey)>,
    pub bans: BTreeMap<Uuid, Ban>,
    pub ban_requests: BTreeMap<Uuid, BanRequest>,
    pub invites: BTreeMap<Uuid, Invite>,
}

/// The system is trusted like a superuser; everyone else has the level the caller looked up.
fn effective_level(ctx: &Context, claimed: Level) -> Level {
    if ctx.actor == Actor::System { Level::Superuser } else { claimed }
}

fn require_level(ctx: &Context, claimed: Level, needed: Level) -> Result<Level, RoomError> {
    let have = effective_level(ctx, claimed);
    if have < needed { Err(RoomError::InsufficientLevel { needed, have }) } else { Ok(have) }
}

/// Nobody acts on someone at or above their own level, except a superuser.
fn require_outranks(caller: Level, target: Level) -> Result<(), RoomError> {
    if caller != Level::Superuser && target >= caller { Err(RoomError::TargetOutranksCaller { target, caller }) } else { Ok(()) }
}

impl Room {
    fn id(&self) -> Result<Uuid, RoomError> {
        self.room_id.ok_or(RoomError::RoomNotFound)
    }

    /// The member a reference names: by account first, then by nick (`.kick alice` on IRC does
    /// not know alice's account).
    pub fn find_member(&self, member: &MemberRef) -> Option<(&MemberKey, &Member)> {
        if let Some(id) = member.user_id
            && let Some(found) = self.members.get_key_value(&MemberKey::User(id))
        {
            return Some(found);
        }
        let fold = member.nick.casefold();
        self.members.iter().find(|(_, m)| m.member.nick.casefold() == fold)
    }

    /// Like [`find_member`](Self::find_member), among the members who came in through `gateway`.
    pub fn find_member_on(&self, member: &MemberRef, gateway: Gateway) -> Option<(&MemberKey, &Member)> {
        if let Some(id) = member.user_id
            && let Some(found) = self.members.get_key_value(&MemberKey::User(id)).filter(|(_, m)| m.gateway == gateway)
        {
            return Some(found);
        }
        let fold = member.nick.casefold();
        self.members.iter().find(|(_, m)| m.gateway == gateway && m.member.nick.casefold() == fold)
    }

    /// The IRC guest (not logged in) present under `nick`.
    fn irc_guest(&self, nick: &DisplayNick) -> Option<&Member> {
        self.members.get(&MemberKey::Guest(nick.casefold())).filter(|m| m.gateway == Gateway::Irc && !m.is_bot)
    }

    pub fn is_member(&self, user_id: Uuid) -> bool {
        self.members.contains_key(&MemberKey::User(user_id))
    }

    /// The active ban that refuses this person at `now`, if any: by account, by mask, or by a
    /// pure nick mask (which also covers SMS members).
    pub fn is_banned(&self, user_id: Option<Uuid>, nick: &str, mask: Option<&HostMask>, now: DateTime<Utc>) -> Option<&Ban> {
        self.bans.values().find(|b| b.is_active(now) && b.applies_to(user_id, nick, mask))
    }

    /// The active ban that refuses someone joining, if any: as [`is_banned`](Self::is_banned),
    /// and a ban on the account holding their nick when they are not known by account.
    fn ban_on_joining(&self, member: &MemberRef, nick_holder: Option<Uuid>, mask: Option<&HostMask>, now: DateTime<Utc>) -> Option<&Ban> {
        let nick = member.nick.as_str();
        self.is_banned(member.user_id, nick, mask, now)
            .or_else(|| nick_holder.filter(|_| member.user_id.is_none()).and_then(|holder| self.is_banned(Some(holder), nick, mask, now)))
    }

    /// The end of an active room mute on this member (`Some(None)`: muted until lifted).
    pub fn room_mute(&self, key: &MemberKey, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        self.room_mutes.get(key).copied().filter(|until| until.is_none_or(|u| now < u))
    }

    /// Has `muter` personally muted `mutee`? (The fan-out skips such recipients.)
    pub fn has_muted(&self, muter: Uuid, mutee: &MemberKey) -> bool {
        self.personal_mutes.contains(&(muter, mutee.clone()))
    }

    fn bot_matches(&self, target: &BanTarget) -> bool {
        self.members.values().filter(|m| m.is_bot).any(|bot| match target {
            BanTarget::User { .. } => false,
            BanTarget::Mask { mask } => {
                bot.mask.as_ref().is_some_and(|m| mask.matches_mask(m)) || mask.matches_nick_only(bot.member.nick.as_str())
            }
        })
    }

    /// Resolves a moderation target to a present, non-bot member.
    fn target_member(&self, target: &MemberRef) -> Result<(&MemberKey, &Member), RoomError> {
        let (key, member) = self.find_member(target).ok_or(RoomError::NotAMember)?;
        if member.is_bot {
            return Err(RoomError::CannotTargetBot);
        }
        Ok((key, member))
    }

    fn ban_events(
        &self,
        room_id: Uuid,
        ban_id: Uuid,
        target: &BanTarget,
        until: Option<DateTime<Utc>>,
        reason: Option<Reason>,
        ctx: &Context,
    ) -> Vec<Event> {
        let mut events =
            vec![Event::UserBanned(UserBanned { room_id, ban_id, target: target.clone(), until, reason, by: ctx.actor.clone() })];
        // Present members the ban names leave at once, so SMS fan-out stops and IRC gets its kick.
        let ban = Ban { ban_id, target: target.clone(), until };
        for m in self.members.values().filter(|m| !m.is_bot) {
            if ban.applies_to(m.member.user_id, m.member.nick.as_str(), m.mask.as_ref()) {
                events.push(Event::MemberLeft(MemberLeft { room_id, member: m.member.clone(), reason: LeaveReason::Banned }));
            }
        }
        events
    }

    fn join(&self, room_id: Uuid, joining: &Joining, ctx: &Context) -> Result<Vec<Event>, RoomError> {
        let Joining { member, mask, phone, gateway, caller_level, as_bot, nick_holder } = joining;
        let (gateway, caller_level, as_bot) = (*gateway, *caller_level, *as_bot);
        if let Some(user_id) = member.user_id
            && let Some(guest) = self.irc_guest(&member.nick)
            && gateway == Gateway::Irc
            && !as_bot
        {
            // Already in the channel as a guest, now logged in: the same person, known by account
            // from here on. A ban on the account still refuses them.
            if let Some(ban) = self.ban_on_joining(member, None, mask.as_ref().or(guest.mask.as_ref()), ctx.now) {
                return Err(RoomError::Banned { until: ban.until });
            }
            return Ok(vec![Event::MemberIdentified(MemberIdentified { room_id, nick: member.nick.clone(), user_id })]);
        }
        if self.members.contains_key(&MemberKey::of(member)) {
            return Ok(vec![]);
        }
        let joined = |invite_id| {
            Event::MemberJoined(MemberJoined {
                room_id,
                member: member.clone(),
                mask: mask.clone(),
                phone: phone.clone(),
                gateway,
                invite_id,
                is_bot: as_bot,
            })
        };
        if as_bot {
            if ctx.actor != Actor::System {
                return Err(RoomError::NotTheBot);
            }
            return Ok(vec![joined(None)]);
        }
        if let Some(ban) = self.ban_on_joining(member, *nick_holder, mask.as_ref(), ctx.now) {
            return Err(RoomError::Banned { until: ban.until });
        }
        let invite = member.user_id.and_then(|user_id| {
            self.invites.iter().find(|(_, i)| {
                !i.accepted
                    && match &i.invitee {
                        Invitee::User { user_id: invited } => *invited == user_id,
                        Invitee::Phone { phone: invited } => phone.as_ref() == Some(invited),
                    }
            })
        });
        if let (Some((invite_id, _)), Some(user_id)) = (invite, member.user_id) {
            return Ok(vec![Event::InviteAccepted(InviteAccepted { room_id, invite_id: *invite_id, user_id }), joined(Some(*invite_id))]);
        }
        if self.invite_only {
            let level = effective_level(ctx, caller_level);
            // On IRC the bot invites every logged-in member into the `+i` channel (docs/commands.md#invite-only), so
            // there level 1 is the invitation; on SMS a pending invite is needed. Staff may always.
            let admitted = level >= Level::Staff || (gateway == Gateway::Irc && level >= Level::Member);
            if !admitted {
                return Err(RoomError::InviteRequired);
            }
        }
        Ok(vec![joined(None)])
    }
}

impl Aggregate for Room {
    type Event = Event;
    type Command = RoomCommand;
    type Error = RoomError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::RoomCreated(e) => {
                self.room_id = Some(e.room_id);
                self.name = Some(e.name.clone());
                self.invite_only = e.invite_only;
            }
            Event::RoomRenamed(e) => self.name = Some(e.new.clone()),
            Event::InviteOnlyChanged(e) => self.invite_only = e.invite_only,
            Event::IrcChannelBound(e) => self.irc_channel = Some((e.channel.clone(), e.key.clone())),
            Event::IrcChannelUnbound(_) => self.irc_channel = None,
            Event::SmsNumberBound(e) => self.sms_number = Some(e.number.clone()),
            Event::SmsNumberUnbound(_) => self.sms_number = None,
            Event::TopicSet(e) => self.topic = Some(e.topic.clone()),
            Event::MemberJoined(e) => {
                self.members.insert(
                    MemberKey::of(&e.member),
                    Member { member: e.member.clone(), mask: e.mask.clone(), phone: e.phone.clone(), gateway: e.gateway, is_bot: e.is_bot },
                );
            }
            Event::MemberIdentified(e) => {
                let guest = MemberKey::Guest(e.nick.casefold());
                let account = MemberKey::User(e.user_id);
                if let Some(mut member) = self.members.remove(&guest) {
                    member.member.user_id = Some(e.user_id);
                    // Someone who is also a member by SMS keeps that membership.
                    self.members.entry(account.clone()).or_insert(member);
                }
                if let Some(until) = self.room_mutes.remove(&guest) {
                    // The mute that ends later (or never) is the one that holds.
                    let longer = match self.room_mutes.get(&account) {
                        Some(&existing) => match (existing, until) {
                            (None, _) | (_, None) => None,
                            (Some(a), Some(b)) => Some(a.max(b)),
                        },
                        None => until,
                    };
                    self.room_mutes.insert(account.clone(), longer);
                }
                // Whoever muted the guest keeps not hearing them under their account (but nobody
                // mutes themselves).
                let muters: Vec<Uuid> = self.personal_mutes.iter().filter(|(_, key)| *key == guest).map(|(m, _)| *m).collect();
                self.personal_mutes.retain(|(_, key)| *key != guest);
                self.personal_mutes.extend(muters.into_iter().filter(|m| *m != e.user_id).map(|m| (m, account.clone())));
            }
            Event::MemberLeft(e) => {
                let key = MemberKey::of(&e.member);
                self.members.remove(&key);
                // Personal mutes describe who hears whom inside the room; leaving clears them (a
                // guest who comes back under the nick may be someone else).
                let user_id = e.member.user_id;
                self.personal_mutes.retain(|(muter, mutee)| Some(*muter) != user_id && *mutee != key);
            }
            Event::RoomMuteSet(e) => {
                self.room_mutes.insert(MemberKey::of(&e.target), e.until);
            }
            Event::RoomMuteLifted(e) => {
                self.room_mutes.remove(&MemberKey::of(&e.target));
            }
            Event::PersonalMuteSet(e) => {
                self.personal_mutes.insert((e.muter, MemberKey::of_mutee(&e.mutee)));
            }
            Event::PersonalMuteLifted(e) => {
                self.personal_mutes.remove(&(e.muter, MemberKey::of_mutee(&e.mutee)));
            }
            Event::UserBanned(e) => {
                self.bans.insert(e.ban_id, Ban { ban_id: e.ban_id, target: e.target.clone(), until: e.until });
            }
            Event::UserUnbanned(e) => {
                self.bans.remove(&e.ban_id);
            }
            Event::BanRequested(e) => {
                self.ban_requests.insert(
                    e.request_id,
                    BanRequest { target: e.target.clone(), reason: e.reason.clone(), status: BanRequestStatus::Open },
                );
            }
            Event::BanRequestApproved(e) => {
                if let Some(r) = self.ban_requests.get_mut(&e.request_id) {
                    r.status = BanRequestStatus::Approved;
                }
            }
            Event::BanRequestRejected(e) => {
                if let Some(r) = self.ban_requests.get_mut(&e.request_id) {
                    r.status = BanRequestStatus::Rejected;
                }
            }
            Event::InviteIssued(e) => {
                self.invites.insert(e.invite_id, Invite { invitee: e.invitee.clone(), accepted: false });
            }
            Event::InviteAccepted(e) => {
                if let Some(i) = self.invites.get_mut(&e.invite_id) {
                    i.accepted = true;
                }
            }
            _ => {}
        }
        self
    }

    /// Messages are the bulk of a room's stream and no rule reads them (`evolve` ignores them):
    /// posts need the room's bans, mutes and members, not a turn of their own on the stream.
    fn affects_decisions(event: &Event) -> bool {
        !matches!(event, Event::MessagePosted(_))
    }

    fn decide(&self, command: &RoomCommand, ctx: &Context) -> Result<Vec<Event>, RoomError> {
        use RoomCommand as C;
        if let C::Create { room_id, name, invite_only, caller_level } = command {
            if self.room_id.is_some() {
                return Err(RoomError::AlreadyCreated);
            }
            require_level(ctx, *caller_level, Level::Staff)?;
            return Ok(vec![Event::RoomCreated(RoomCreated {
                room_id: *room_id,
                name: name.clone(),
                invite_only: *invite_only,
                created_by: ctx.actor.clone(),
            })]);
        }
        let room_id = self.id()?;
        let by = ctx.actor.clone();
        match command {
            C::Create { .. } => unreachable!("handled above"),
            C::Rename { name, caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                let old = self.name.clone().ok_or(RoomError::RoomNotFound)?;
                if old == *name {
                    return Ok(vec![]);
                }
                Ok(vec![Event::RoomRenamed(RoomRenamed { room_id, old, new: name.clone(), by })])
            }
            C::SetInviteOnly { invite_only, caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                if self.invite_only == *invite_only {
                    return Ok(vec![]);
                }
                Ok(vec![Event::InviteOnlyChanged(InviteOnlyChanged { room_id, invite_only: *invite_only, by })])
            }
            C::BindIrcChannel { channel, key, caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                match &self.irc_channel {
                    Some((bound, bound_key)) if bound.casefold() == channel.casefold() && bound_key == key => Ok(vec![]),
                    Some((bound, _)) if bound.casefold() != channel.casefold() => {
                        Err(RoomError::IrcAlreadyBound { channel: bound.clone() })
                    }
                    // Same channel with a new key: rebinding records the key for rejoins.
                    _ => Ok(vec![Event::IrcChannelBound(IrcChannelBound { room_id, channel: channel.clone(), key: key.clone(), by })]),
                }
            }
            C::UnbindIrcChannel { caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                Ok(match &self.irc_channel {
                    Some((channel, _)) => vec![Event::IrcChannelUnbound(IrcChannelUnbound { room_id, channel: channel.clone(), by })],
                    None => vec![],
                })
            }
            C::BindSmsNumber { number, caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                match &self.sms_number {
                    Some(bound) if bound == number => Ok(vec![]),
                    Some(_) => Err(RoomError::SmsAlreadyBound),
                    None => Ok(vec![Event::SmsNumberBound(SmsNumberBound { room_id, number: number.clone(), by })]),
                }
            }
            C::UnbindSmsNumber { caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                Ok(match &self.sms_number {
                    Some(number) => vec![Event::SmsNumberUnbound(SmsNumberUnbound { room_id, number: number.clone(), by })],
                    None => vec![],
                })
            }
            C::SetTopic { topic, caller_level } => {
                require_level(ctx, *caller_level, Level::Operator)?;
                if self.topic.as_ref() == Some(topic) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::TopicSet(TopicSet { room_id, topic: topic.clone(), by })])
            }
            C::Join(joining) => self.join(room_id, joining, ctx),
            C::Leave { member, reason } => {
                // Parting, quitting or being kicked from the channel ends a channel presence only:
                // someone who is also a member by SMS stays one when their IRC client leaves.
                let channel_only = matches!(reason, LeaveReason::Part | LeaveReason::Quit | LeaveReason::Kick | LeaveReason::Disconnect);
                let found = if channel_only { self.find_member_on(member, Gateway::Irc) } else { self.find_member(member) };
                Ok(match found {
                    Some((_, m)) => vec![Event::MemberLeft(MemberLeft { room_id, member: m.member.clone(), reason: *reason })],
                    None => vec![],
                })
            }
            C::Post { message_id, speaker, body, kind, gateway, caller_level } => {
                let (author_id, author_nick) = match speaker {
                    Speaker::Bot { nick } => {
                        require_level(ctx, *caller_level, Level::Staff)?;
                        (None, nick.clone())
                    }
                    Speaker::Member { member, mask } => {
                        let present = self.find_member(member);
                        // IRC text is recorded even from people the bot did not see join (they
                        // were there before it): the server already checked they are in the
                        // channel. SMS and API talkers must be members.
                        if present.is_none() && *gateway != Gateway::Irc {
                            return Err(RoomError::NotAMember);
                        }
                        let mask = mask.as_ref().or_else(|| present.and_then(|(_, m)| m.mask.as_ref()));
                        if let Some(ban) = self.is_banned(member.user_id, member.nick.as_str(), mask, ctx.now) {
                            return Err(RoomError::Banned { until: ban.until });
                        }
                        let key = present.map(|(k, _)| k.clone()).unwrap_or_else(|| MemberKey::of(member));
                        if let Some(until) = self.room_mute(&key, ctx.now) {
                            return Err(RoomError::Muted { until });
                        }
                        (member.user_id, member.nick.clone())
                    }
                };
                Ok(vec![Event::MessagePosted(MessagePosted {
                    room_id,
                    message_id: *message_id,
                    author_id,
                    author_nick,
                    body: body.clone(),
                    kind: *kind,
                    gateway: *gateway,
                })])
            }
            C::Mute { target, duration, caller_level, target_level } => {
                let caller = require_level(ctx, *caller_level, Level::Operator)?;
                let (_, member) = self.target_member(target)?;
                require_outranks(caller, *target_level)?;
                let until = duration.map(|d| ctx.now + d.as_delta());
                Ok(vec![Event::RoomMuteSet(RoomMuteSet { room_id, target: member.member.clone(), until, by })])
            }
            C::Unmute { target, caller_level } => {
                require_level(ctx, *caller_level, Level::Operator)?;
                // Name the member as the mute did (by account when known), so the fold finds it.
                let (key, target) = match self.find_member(target) {
                    Some((key, m)) => (key.clone(), m.member.clone()),
                    None => (MemberKey::of(target), target.clone()),
                };
                Ok(if self.room_mute(&key, ctx.now).is_some() {
                    vec![Event::RoomMuteLifted(RoomMuteLifted { room_id, target, by })]
                } else {
                    vec![]
                })
            }
            C::PersonalMute { mutee, on } => {
                let muter = ctx.actor.user_id().ok_or(RoomError::NotAUser)?;
                if !self.is_member(muter) {
                    return Err(RoomError::NotAMember);
                }
                let (key, member) = self.target_member(mutee)?;
                if *key == MemberKey::User(muter) {
                    return Err(RoomError::CannotMuteYourself);
                }
                let muted = self.has_muted(muter, key);
                let mutee = match key {
                    MemberKey::User(id) => Mutee::User(*id),
                    MemberKey::Guest(_) => Mutee::Guest { nick: member.member.nick.clone() },
                };
                Ok(match (*on, muted) {
                    (true, false) => vec![Event::PersonalMuteSet(PersonalMuteSet { room_id, muter, mutee })],
                    (false, true) => vec![Event::PersonalMuteLifted(PersonalMuteLifted { room_id, muter, mutee })],
                    _ => vec![],
                })
            }
            C::Ban { ban_id, target, duration, reason, caller_level, target_level } => {
                let caller = require_level(ctx, *caller_level, Level::Operator)?;
                if self.bot_matches(target) {
                    return Err(RoomError::CannotTargetBot);
                }
                require_outranks(caller, *target_level)?;
                let until = duration.map(|d| ctx.now + d.as_delta());
                if self.bans.values().any(|b| b.is_active(ctx.now) && b.target == *target && b.until == until) {
                    return Ok(vec![]);
                }
                Ok(self.ban_events(room_id, *ban_id, target, until, reason.clone(), ctx))
            }
            C::Unban { target, caller_level } => {
                require_level(ctx, *caller_level, Level::Operator)?;
                let events: Vec<Event> = self
                    .bans
                    .values()
                    .filter(|b| b.is_active(ctx.now) && b.target == *target)
                    .map(|b| Event::UserUnbanned(UserUnbanned { room_id, ban_id: b.ban_id, target: b.target.clone(), by: by.clone() }))
                    .collect();
                if events.is_empty() { Err(RoomError::NotBanned) } else { Ok(events) }
            }
            C::RequestBan { request_id, target, reason, caller_level } => {
                require_level(ctx, *caller_level, Level::Member)?;
                if self.bot_matches(target) {
                    return Err(RoomError::CannotTargetBot);
                }
                if self.ban_requests.contains_key(request_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::BanRequested(BanRequested {
                    room_id,
                    request_id: *request_id,
                    target: target.clone(),
                    reason: reason.clone(),
                    by,
                })])
            }
            C::ApproveBanRequest { request_id, ban_id, duration, caller_level, target_level } => {
                let caller = require_level(ctx, *caller_level, Level::Staff)?;
                let request = self.ban_requests.get(request_id).ok_or(RoomError::BanRequestNotFound)?;
                if request.status != BanRequestStatus::Open {
                    return Err(RoomError::BanRequestAlreadyDecided);
                }
                if self.bot_matches(&request.target) {
                    return Err(RoomError::CannotTargetBot);
                }
                require_outranks(caller, *target_level)?;
                let until = duration.map(|d| ctx.now + d.as_delta());
                let mut events = vec![Event::BanRequestApproved(BanRequestApproved {
                    room_id,
                    request_id: *request_id,
                    ban_id: *ban_id,
                    by: by.clone(),
                })];
                events.extend(self.ban_events(room_id, *ban_id, &request.target, until, Some(request.reason.clone()), ctx));
                Ok(events)
            }
            C::RejectBanRequest { request_id, caller_level } => {
                require_level(ctx, *caller_level, Level::Staff)?;
                let request = self.ban_requests.get(request_id).ok_or(RoomError::BanRequestNotFound)?;
                if request.status != BanRequestStatus::Open {
                    return Err(RoomError::BanRequestAlreadyDecided);
                }
                Ok(vec![Event::BanRequestRejected(BanRequestRejected { room_id, request_id: *request_id, by })])
            }
            C::Invite { invite_id, invitee, invitee_user } => {
                if let Actor::User(inviter) = ctx.actor
                    && !self.is_member(inviter)
                {
                    return Err(RoomError::NotAMember);
                }
                if ctx.actor == Actor::Anonymous {
                    return Err(RoomError::NotAUser);
                }
                let already = match invitee {
                    Invitee::User { user_id } => self.is_member(*user_id),
                    Invitee::Phone { phone } => self.members.values().any(|m| m.phone.as_ref() == Some(phone)),
                } || invitee_user.is_some_and(|id| self.is_member(id));
                if already {
                    return Err(RoomError::AlreadyMember);
                }
                Ok(vec![Event::InviteIssued(InviteIssued { room_id, invite_id: *invite_id, invitee: invitee.clone(), by })])
            }
            C::Kick { target, reason, caller_level, target_level } => {
                let caller = require_level(ctx, *caller_level, Level::Operator)?;
                let (_, member) = self.target_member(target)?;
                require_outranks(caller, *target_level)?;
                Ok(vec![
                    Event::MemberKicked(MemberKicked { room_id, member: member.member.clone(), reason: reason.clone(), by }),
                    Event::MemberLeft(MemberLeft { room_id, member: member.member.clone(), reason: LeaveReason::Kick }),
                ])
            }
            C::ChangeChannelMode { nick, mode, caller_level, target_level } => {
                let caller = require_level(ctx, *caller_level, Level::Operator)?;
                let fold = nick.casefold();
                if self.members.values().any(|m| m.is_bot && m.member.nick.casefold() == fold) {
                    return Err(RoomError::CannotTargetBot);
                }
                // Taking something away is an act against the target; giving is not.
                if matches!(mode, ChannelMode::Devoice | ChannelMode::Deop) {
                    require_outranks(caller, *target_level)?;
                }
                Ok(vec![Event::ChannelModeChanged(ChannelModeChanged { room_id, nick: nick.clone(), mode: *mode, by })])
            }
            C::EnforceBan { member, mask, nick_holder } => {
                if ctx.actor != Actor::System {
                    return Err(RoomError::NotTheBot);
                }
                let ban = self.ban_on_joining(member, *nick_holder, mask.as_ref(), ctx.now).ok_or(RoomError::NotBanned)?;
                Ok(vec![Event::BanEnforced(BanEnforced { room_id, ban_id: ban.ban_id, member: member.clone(), mask: mask.clone() })])
            }
        }
    }
}
