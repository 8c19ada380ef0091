//! Moderation: kicks, room mutes, bans and unbans, personal mutes in SMS rooms, ban requests
//! and their decisions, each only where the domain would allow it (rank, presence, one ban per
//! person at a time).

use chrono::{DateTime, Utc};
use domain::events::{
    BanRequestApproved, BanRequestRejected, BanRequested, BanTarget, LeaveReason, MemberKicked, MemberLeft, MemberRef, Mutee,
    PersonalMuteLifted, PersonalMuteSet, RoomMuteLifted, RoomMuteSet, UserBanned, UserUnbanned,
};
use domain::{Actor, Event, Gateway, Level, Reason};
use rand::Rng;
use uuid::Uuid;

use super::config::TRIES;
use super::simulation::{BanState, Sim};
use super::words::pick;

impl Sim {
    /// A member the moderator may act against (present, not themself, outranked).
    pub(super) fn moderation_target(&mut self, room: usize, moderator: usize) -> Option<usize> {
        for _ in 0..TRIES {
            let target = self.random_member(room)?;
            if target != moderator && self.outranks(moderator, target) {
                return Some(target);
            }
        }
        None
    }

    /// `room.member_kicked` + `room.member_left` (kick), in one append as `decide` returns them.
    pub(super) fn kick(&mut self) -> bool {
        let room = self.pick_room();
        let Some(op) = self.pick_moderator() else { return false };
        let Some(target) = self.moderation_target(room, op) else { return false };
        let membership = self.remove_member(room, target).expect("a listed member");
        let (room_id, by) = (self.rooms[room].id, self.users[op].actor());
        let reason = self.maybe_reason(0.6);
        let events = vec![
            MemberKicked { room_id, member: membership.member.clone(), reason, by }.into(),
            MemberLeft { room_id, member: membership.member, reason: LeaveReason::Kick }.into(),
        ];
        let meta = self.user_request(op, Gateway::Irc);
        self.emit_room(room, &meta, events);
        true
    }

    /// `room.mute_set` on an unmuted member (timed or until lifted), or `room.mute_lifted` of a
    /// mute in force.
    pub(super) fn room_mute(&mut self) -> bool {
        let room = self.pick_room();
        let Some(op) = self.pick_moderator() else { return false };
        let muted: Vec<usize> = self.rooms[room].room_mutes.keys().copied().filter(|&u| self.is_muted(room, u)).collect();
        let room_id = self.rooms[room].id;
        let by = self.users[op].actor();
        let event: Event = if !muted.is_empty() && self.chance(0.45) {
            let user = pick(&mut self.rng, &muted).expect("not empty");
            self.rooms[room].room_mutes.remove(&user);
            // Named as the mute named them: the member's recorded ref while present.
            let target = match self.rooms[room].members.get(user) {
                Some(m) => m.member.clone(),
                None => MemberRef { user_id: Some(self.users[user].id), nick: self.users[user].display() },
            };
            RoomMuteLifted { room_id, target, by }.into()
        } else {
            let Some(target) = self.moderation_target(room, op) else { return false };
            if self.is_muted(room, target) {
                return false;
            }
            let until = self.duration(0.4);
            self.rooms[room].room_mutes.insert(target, until);
            let target = self.rooms[room].members.get(target).expect("a listed member").member.clone();
            RoomMuteSet { room_id, target, until, by }.into()
        };
        let meta = self.user_request(op, Gateway::Irc);
        self.emit_room(room, &meta, vec![event]);
        true
    }

    pub(super) fn ban_or_unban(&mut self) -> bool {
        let room = self.pick_room();
        let now = self.now();
        let banned: Vec<usize> =
            self.rooms[room].bans.values().filter(|b| b.until.is_none_or(|until| now < until)).map(|b| b.user).collect();
        if !banned.is_empty() && self.chance(0.4) {
            let user = pick(&mut self.rng, &banned).expect("not empty");
            self.unban(room, user)
        } else {
            self.ban(room)
        }
    }

    /// `room.user_banned` (by account, timed or permanent), with `room.member_left` (banned)
    /// when the user is present. Mostly members; sometimes someone who is not in the room.
    pub(super) fn ban(&mut self, room: usize) -> bool {
        let Some(op) = self.pick_moderator() else { return false };
        for _ in 0..TRIES {
            let target = if self.chance(0.8) { self.random_member(room) } else { Some(self.random_user()) };
            let Some(target) = target else { continue };
            // One ban per person at a time keeps unbans simple (the aggregate would stack them).
            if target == op || !self.outranks(op, target) || self.is_banned(room, target) {
                continue;
            }
            let ban_id = self.uuid();
            let until = self.duration(0.4);
            let reason = self.maybe_reason(0.7);
            let by = self.users[op].actor();
            let events = self.ban_events(room, ban_id, target, until, reason, by);
            let meta = self.user_request(op, Gateway::Irc);
            self.emit_room(room, &meta, events);
            return true;
        }
        false
    }

    /// What `Room::ban_events` returns: the ban, then the departure of the user if present.
    pub(super) fn ban_events(
        &mut self,
        room: usize,
        ban_id: Uuid,
        user: usize,
        until: Option<DateTime<Utc>>,
        reason: Option<Reason>,
        by: Actor,
    ) -> Vec<Event> {
        let room_id = self.rooms[room].id;
        let target = BanTarget::User { user_id: self.users[user].id };
        let mut events: Vec<Event> = vec![UserBanned { room_id, ban_id, target, until, reason, by }.into()];
        if let Some(membership) = self.remove_member(room, user) {
            events.push(MemberLeft { room_id, member: membership.member, reason: LeaveReason::Banned }.into());
        }
        self.rooms[room].bans.insert(ban_id, BanState { user, until });
        events
    }

    /// `room.user_unbanned` for every ban in force on the user, in ban id order, as `decide` does.
    pub(super) fn unban(&mut self, room: usize, user: usize) -> bool {
        let Some(op) = self.pick_moderator() else { return false };
        let now = self.now();
        let lifted: Vec<Uuid> = self.rooms[room]
            .bans
            .iter()
            .filter(|(_, b)| b.user == user && b.until.is_none_or(|until| now < until))
            .map(|(id, _)| *id)
            .collect();
        let (room_id, by, user_id) = (self.rooms[room].id, self.users[op].actor(), self.users[user].id);
        let events = lifted
            .iter()
            .map(|&ban_id| {
                self.rooms[room].bans.remove(&ban_id);
                UserUnbanned { room_id, ban_id, target: BanTarget::User { user_id }, by: by.clone() }.into()
            })
            .collect();
        let meta = self.user_request(op, Gateway::Irc);
        self.emit_room(room, &meta, events);
        true
    }

    /// `#mute <nick> on|off` in an SMS room: both must be members; lifts only what was set.
    pub(super) fn personal_mute(&mut self) -> bool {
        let Some(room) = pick(&mut self.rng, &self.sms_rooms) else { return false };
        let room_id = self.rooms[room].id;
        let existing = self.rooms[room].personal_mutes.len();
        let (muter, mutee, on) = if existing > 0 && self.chance(0.4) {
            let nth = self.rng.random_range(0..existing);
            let (muter, mutee) = *self.rooms[room].personal_mutes.iter().nth(nth).expect("in range");
            (muter, mutee, false)
        } else {
            // Texters are the ones who mute people (IRC users have their client's /ignore).
            let mut muter = None;
            for _ in 0..TRIES {
                let candidate = self.random_member(room);
                if candidate.is_some_and(|u| self.rooms[room].members.get(u).is_some_and(|m| m.gateway == Gateway::Sms)) {
                    muter = candidate;
                    break;
                }
            }
            let (Some(muter), Some(mutee)) = (muter, self.random_member(room)) else { return false };
            if muter == mutee || self.rooms[room].personal_mutes.contains(&(muter, mutee)) {
                return false;
            }
            (muter, mutee, true)
        };
        let gateway = self.rooms[room].members.get(muter).expect("a present muter").gateway;
        let (muter_id, mutee_id) = (self.users[muter].id, self.users[mutee].id);
        let event: Event = if on {
            self.rooms[room].personal_mutes.insert((muter, mutee));
            PersonalMuteSet { room_id, muter: muter_id, mutee: Mutee::User(mutee_id) }.into()
        } else {
            self.rooms[room].personal_mutes.remove(&(muter, mutee));
            PersonalMuteLifted { room_id, muter: muter_id, mutee: Mutee::User(mutee_id) }.into()
        };
        let meta = self.user_request(muter, gateway);
        self.emit_room(room, &meta, vec![event]);
        true
    }

    /// `room.ban_requested` by a member-level member against another member, or a staff
    /// decision on an open request: `room.ban_request_approved` (followed by the ban it places,
    /// in the same append) or `room.ban_request_rejected`.
    pub(super) fn ban_request(&mut self) -> bool {
        let room = self.pick_room();
        if !self.rooms[room].open_requests.is_empty() && self.chance(0.5) {
            return self.decide_ban_request(room);
        }
        for _ in 0..TRIES {
            let (Some(requester), Some(target)) = (self.random_member(room), self.random_member(room)) else { return false };
            if requester == target || self.users[requester].level < Level::Member {
                continue;
            }
            let request_id = self.uuid();
            let reason = self.reason();
            let gateway = self.rooms[room].members.get(requester).expect("a listed member").gateway;
            let requested = BanRequested {
                room_id: self.rooms[room].id,
                request_id,
                target: BanTarget::User { user_id: self.users[target].id },
                reason: reason.clone(),
                by: self.users[requester].actor(),
            };
            self.rooms[room].open_requests.insert(request_id, (target, reason));
            let meta = self.user_request(requester, gateway);
            self.emit_room(room, &meta, vec![requested.into()]);
            return true;
        }
        false
    }

    pub(super) fn decide_ban_request(&mut self, room: usize) -> bool {
        let Some(staff) = self.pick_staff() else { return false };
        let nth = self.rng.random_range(0..self.rooms[room].open_requests.len());
        let request_id = *self.rooms[room].open_requests.keys().nth(nth).expect("in range");
        let (target, reason) = self.rooms[room].open_requests.remove(&request_id).expect("an open request");
        let (room_id, by) = (self.rooms[room].id, self.users[staff].actor());
        // Approve only what staff may do and what adds a ban: one ban per person at a time.
        let approve = self.chance(0.6) && target != staff && self.outranks(staff, target) && !self.is_banned(room, target);
        let events = if approve {
            let ban_id = self.uuid();
            let until = self.duration(0.3);
            let mut events: Vec<Event> = vec![BanRequestApproved { room_id, request_id, ban_id, by: by.clone() }.into()];
            events.extend(self.ban_events(room, ban_id, target, until, Some(reason), by));
            events
        } else {
            vec![BanRequestRejected { room_id, request_id, by }.into()]
        };
        let meta = self.user_request(staff, Gateway::Api);
        self.emit_room(room, &meta, events);
        true
    }
}
