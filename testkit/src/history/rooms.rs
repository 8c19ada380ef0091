//! Rooms: opening a room (channel, bot, SMS number, topic), filling it, talk (members, the bot,
//! the system), joins as `Room::join` admits them, leaves, invitations, topics, channel modes.

use std::collections::{BTreeMap, BTreeSet};

use domain::events::{
    ChannelMode, ChannelModeChanged, InviteAccepted, InviteIssued, Invitee, IrcChannelBound, LeaveReason, MemberJoined, MemberLeft,
    MemberRef, MessageKind, MessagePosted, RoomCreated, SmsNumberBound, TopicSet,
};
use domain::{
    Actor, DisplayNick, Event, Gateway, HostMask, IrcChannel, Level, MessageBody, Metadata, PhoneNumber, RoomName, StreamName, Topic,
};
use rand::Rng;

use super::config::{ACTION_SHARE, BOT_NICK, INVITE_ONLY_SHARE, MEMBERSHIPS_PER_USER, TRIES};
use super::simulation::{Members, Membership, PendingInvite, RoomState, Sim};
use super::words::{ACTIONS, WORDS, message_text, pick, pick_str, room_name, text};

impl Sim {
    /// `room.created`, `room.irc_channel_bound`, the bot's join, maybe `room.sms_number_bound`
    /// and a topic: what an admin does when opening a room.
    pub(super) fn create_room(&mut self, r: usize) {
        let creator = self.pick_staff().expect("the superusers are registered first");
        let room_id = self.uuid();
        let invite_only = r > 0 && self.chance(INVITE_ONLY_SHARE);
        let sms = self.sms_plan[r];
        let total = *self.popularity.last().expect("at least one room");
        let share = 1.0 / (r as f64 + 1.0) / total;
        let target = ((self.users_wanted as f64 * MEMBERSHIPS_PER_USER * share).round() as usize).max(3).min(self.users_wanted);
        self.rooms.push(RoomState {
            id: room_id,
            stream: StreamName::room(room_id),
            invite_only,
            sms,
            target,
            topic: None,
            members: Members::default(),
            room_mutes: BTreeMap::new(),
            personal_mutes: BTreeSet::new(),
            bans: BTreeMap::new(),
            open_requests: BTreeMap::new(),
            pending_invites: BTreeMap::new(),
        });
        let by = self.users[creator].actor();
        let meta = self.user_request(creator, Gateway::Api);
        let name = RoomName::parse(&room_name(r)).expect("generated room names are valid");
        self.emit_room(r, &meta, vec![RoomCreated { room_id, name, invite_only, created_by: by.clone() }.into()]);
        let channel = IrcChannel::parse(&format!("#{}", room_name(r).to_ascii_lowercase().replace(' ', "-"))).expect("a valid channel");
        let key = self.chance(0.1).then(|| format!("{}{}", pick_str(&mut self.rng, WORDS), self.rng.random_range(10..100)));
        self.emit_room(r, &meta, vec![IrcChannelBound { room_id, channel, key, by: by.clone() }.into()]);
        self.bot_joins(r);
        if sms {
            // Twilio numbers of the network: one per SMS room, never a user's number.
            let number = PhoneNumber::parse(&format!("+1888555{r:04}")).expect("a valid room number");
            self.emit_room(r, &meta, vec![SmsNumberBound { room_id, number, by }.into()]);
        }
        if self.chance(0.8) {
            self.set_topic_by(r, creator);
        }
    }

    /// The bot joins every bound channel (as the system) to bridge it. It is never kicked,
    /// banned or muted, so the model does not track it as a member.
    pub(super) fn bot_joins(&mut self, room: usize) {
        let joined = MemberJoined {
            room_id: self.rooms[room].id,
            member: MemberRef { user_id: None, nick: DisplayNick::parse(BOT_NICK).expect("a valid bot nick") },
            mask: Some(HostMask::from_parts(BOT_NICK, "bot", "switchboard.example").expect("a valid bot mask")),
            phone: None,
            gateway: Gateway::Irc,
            invite_id: None,
            is_bot: true,
        };
        let meta = self.request(Actor::System, Gateway::System);
        self.emit_room(room, &meta, vec![joined.into()]);
    }

    /// Initial members: random users join until the room has about 80% of its usual size.
    /// Whoever an invite-only room refuses (texters, guests) is invited by a present member first.
    pub(super) fn fill_room(&mut self, room: usize) {
        let wanted = self.rooms[room].target * 4 / 5;
        for _ in 0..wanted * 3 + TRIES {
            if self.rooms[room].members.len() >= wanted {
                break;
            }
            let user = self.random_user();
            if self.rooms[room].members.contains(user) {
                continue;
            }
            if !self.try_join(room, user) && self.invite(room, user) {
                self.try_join(room, user);
            }
        }
    }

    /// `room.message_posted` by a present, unmuted member, through the gateway they joined by.
    pub(super) fn post_message(&mut self) -> bool {
        let room = self.pick_room();
        for _ in 0..TRIES {
            let Some(user) = self.random_member(room) else { return false };
            if self.is_muted(room, user) {
                continue;
            }
            let gateway = self.rooms[room].members.get(user).expect("a listed member").gateway;
            let (kind, body) = if self.chance(ACTION_SHARE) {
                let verb = pick_str(&mut self.rng, ACTIONS);
                // Bodies are at least 5 bytes: `/me nods` alone is too short, so short verbs get more.
                let rest = if verb.len() < 5 || self.chance(0.5) { format!(" {}", text(&mut self.rng, 5, 120)) } else { String::new() };
                (MessageKind::Action, format!("{verb}{rest}"))
            } else {
                (MessageKind::Say, message_text(&mut self.rng))
            };
            let posted = MessagePosted {
                room_id: self.rooms[room].id,
                message_id: self.uuid(),
                author_id: Some(self.users[user].id),
                author_nick: self.users[user].display(),
                body: MessageBody::parse(&body).expect("generated bodies are valid"),
                kind,
                gateway,
            };
            let meta = self.user_request(user, gateway);
            self.emit_room(room, &meta, vec![posted.into()]);
            return true;
        }
        false
    }

    /// `.say` / `sendToRoom`: staff speak as the bot (no author; the staff member is the actor).
    pub(super) fn bot_says(&mut self) -> bool {
        let Some(staff) = self.pick_staff() else { return false };
        let room = self.pick_room();
        let gateway = if self.chance(0.5) { Gateway::Irc } else { Gateway::Api };
        let kind = if self.chance(0.7) { MessageKind::Say } else { MessageKind::Notice };
        let meta = self.user_request(staff, gateway);
        self.bot_message(room, kind, gateway, &meta);
        true
    }

    /// The last resort of a step: a notice from the system, which may always speak as the bot.
    pub(super) fn system_announcement(&mut self) {
        let room = self.pick_room();
        let meta = self.request(Actor::System, Gateway::System);
        self.bot_message(room, MessageKind::Notice, Gateway::System, &meta);
    }

    pub(super) fn bot_message(&mut self, room: usize, kind: MessageKind, gateway: Gateway, meta: &Metadata) {
        let posted = MessagePosted {
            room_id: self.rooms[room].id,
            message_id: self.uuid(),
            author_id: None,
            author_nick: DisplayNick::parse(BOT_NICK).expect("a valid bot nick"),
            body: MessageBody::parse(&text(&mut self.rng, 10, 200)).expect("generated bodies are valid"),
            kind,
            gateway,
        };
        self.emit_room(room, meta, vec![posted.into()]);
    }

    pub(super) fn join(&mut self) -> bool {
        let room = self.pick_room();
        self.join_room(room)
    }

    /// Someone not present joins `room`; invited people come more often than strangers.
    pub(super) fn join_room(&mut self, room: usize) -> bool {
        let invited = self.rooms[room].pending_invites.len();
        if invited > 0 && self.chance(0.5) {
            let nth = self.rng.random_range(0..invited);
            let user = self.rooms[room].pending_invites.values().nth(nth).expect("in range").user;
            if self.try_join(room, user) {
                return true;
            }
        }
        for _ in 0..TRIES {
            let user = self.random_user();
            if self.try_join(room, user) {
                return true;
            }
        }
        false
    }

    /// `room.member_joined` (after `room.invite_accepted` when it consumes an invitation) if the
    /// room would admit the user, as `Room::join` decides: not present, not banned, and on an
    /// invite-only room an invitation, staff level, or (on IRC) member level.
    pub(super) fn try_join(&mut self, room: usize, user: usize) -> bool {
        if self.rooms[room].members.contains(user) || self.is_banned(room, user) {
            return false;
        }
        let (r, u) = (&self.rooms[room], &self.users[user]);
        let gateway = if r.sms && u.texts { Gateway::Sms } else { Gateway::Irc };
        let phone = if gateway == Gateway::Sms { u.phone.clone() } else { None };
        let mask = (gateway == Gateway::Irc).then(|| u.mask());
        // The first matching invitation in id order, as the aggregate finds it.
        let invite = r
            .pending_invites
            .iter()
            .find(|(_, i)| match &i.invitee {
                Invitee::User { user_id } => *user_id == u.id,
                Invitee::Phone { phone: invited } => phone.as_ref() == Some(invited),
            })
            .map(|(id, _)| *id);
        if invite.is_none() && r.invite_only {
            let admitted = u.level >= Level::Staff || (gateway == Gateway::Irc && u.level >= Level::Member);
            if !admitted {
                return false;
            }
        }
        let (room_id, user_id) = (r.id, u.id);
        let member = MemberRef { user_id: Some(user_id), nick: u.display() };
        let mut events: Vec<Event> = Vec::with_capacity(2);
        if let Some(invite_id) = invite {
            self.rooms[room].pending_invites.remove(&invite_id);
            events.push(InviteAccepted { room_id, invite_id, user_id }.into());
        }
        events.push(MemberJoined { room_id, member: member.clone(), mask, phone, gateway, invite_id: invite, is_bot: false }.into());
        self.rooms[room].members.insert(user, Membership { member, gateway });
        let meta = self.user_request(user, gateway);
        self.emit_room(room, &meta, events);
        true
    }

    /// `room.member_left` (part or quit on IRC, `#leave` on SMS).
    pub(super) fn leave(&mut self) -> bool {
        let room = self.pick_room();
        // Leaves, kicks and bans outnumber joins in the mix; without this rooms would slowly
        // empty. Below its usual size a room gains a member instead.
        if self.rooms[room].members.len() <= self.rooms[room].target {
            return self.join_room(room);
        }
        let Some(user) = self.random_member(room) else { return false };
        let membership = self.remove_member(room, user).expect("a listed member");
        let reason = match membership.gateway {
            Gateway::Sms => LeaveReason::Removed,
            _ if self.chance(0.7) => LeaveReason::Part,
            _ => LeaveReason::Quit,
        };
        let left = MemberLeft { room_id: self.rooms[room].id, member: membership.member, reason };
        let meta = self.user_request(user, membership.gateway);
        self.emit_room(room, &meta, vec![left.into()]);
        true
    }

    /// `room.invite_issued`, mostly for invite-only rooms, for someone absent and not yet invited.
    pub(super) fn invite_someone(&mut self) -> bool {
        let invite_only: Vec<usize> = (0..self.rooms.len()).filter(|&r| self.rooms[r].invite_only).collect();
        let room = match pick(&mut self.rng, &invite_only) {
            Some(room) if self.chance(0.7) => room,
            _ => self.pick_room(),
        };
        for _ in 0..TRIES {
            let user = self.random_user();
            let already = self.rooms[room].pending_invites.values().any(|i| i.user == user);
            if !already && !self.is_banned(room, user) && self.invite(room, user) {
                return true;
            }
        }
        false
    }

    /// A random present member invites `user`, by account or (texters, SMS rooms) by phone.
    pub(super) fn invite(&mut self, room: usize, user: usize) -> bool {
        let Some(inviter) = self.random_member(room) else { return false };
        if inviter == user || self.rooms[room].members.contains(user) {
            return false;
        }
        let invitee = match &self.users[user].phone {
            // A phone invitation is consumed by a join from that phone: only texters in SMS rooms.
            Some(phone) if self.users[user].texts && self.rooms[room].sms && self.rng.random_bool(0.5) => {
                Invitee::Phone { phone: phone.clone() }
            }
            _ => Invitee::User { user_id: self.users[user].id },
        };
        let invite_id = self.uuid();
        let issued = InviteIssued { room_id: self.rooms[room].id, invite_id, invitee: invitee.clone(), by: self.users[inviter].actor() };
        self.rooms[room].pending_invites.insert(invite_id, PendingInvite { invitee, user });
        let gateway = self.rooms[room].members.get(inviter).expect("a listed member").gateway;
        let meta = self.user_request(inviter, gateway);
        self.emit_room(room, &meta, vec![issued.into()]);
        true
    }

    pub(super) fn set_topic(&mut self) -> bool {
        let Some(op) = self.pick_moderator() else { return false };
        let room = self.pick_room();
        self.set_topic_by(room, op)
    }

    /// `room.topic_set` by an operator or above, only when it changes the topic.
    pub(super) fn set_topic_by(&mut self, room: usize, op: usize) -> bool {
        let topic = Topic::parse(&text(&mut self.rng, 15, 150)).expect("generated topics are valid");
        if self.rooms[room].topic.as_ref() == Some(&topic) {
            return false;
        }
        self.rooms[room].topic = Some(topic.clone());
        let event = TopicSet { room_id: self.rooms[room].id, topic, by: self.users[op].actor() };
        let meta = self.user_request(op, Gateway::Irc);
        self.emit_room(room, &meta, vec![event.into()]);
        true
    }

    /// `room.channel_mode_changed` on an IRC member; taking voice or op away needs to outrank.
    pub(super) fn change_channel_mode(&mut self) -> bool {
        let room = self.pick_room();
        let Some(op) = self.pick_moderator() else { return false };
        for _ in 0..TRIES {
            let Some(target) = self.random_member(room) else { return false };
            let on_irc = self.rooms[room].members.get(target).is_some_and(|m| m.gateway == Gateway::Irc);
            let mode = [ChannelMode::Voice, ChannelMode::Voice, ChannelMode::Op, ChannelMode::Devoice, ChannelMode::Deop]
                [self.rng.random_range(0..5)];
            let taking = matches!(mode, ChannelMode::Devoice | ChannelMode::Deop);
            if !on_irc || (taking && !self.outranks(op, target)) {
                continue;
            }
            let event =
                ChannelModeChanged { room_id: self.rooms[room].id, nick: self.users[target].display(), mode, by: self.users[op].actor() };
            let meta = self.user_request(op, Gateway::Irc);
            self.emit_room(room, &meta, vec![event.into()]);
            return true;
        }
        false
    }
}
