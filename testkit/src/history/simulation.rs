//! The simulation's core: the model of exactly the state the domain's rules read (users, rooms
//! and their members, mutes, bans, ban requests, invitations, the quote book), the random
//! source, the clock and the ids, the queue of appends, and the steady-state step that picks
//! what happens next. The steps themselves live with their concern (users, rooms, moderation,
//! quotes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use domain::events::{Invitee, MemberRef};
use domain::{Actor, DisplayNick, Event, Gateway, HostMask, Level, Metadata, Nick, PhoneNumber, Reason, StreamName, Topic};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use store::NewEvent;
use uuid::Uuid;

use super::config::{BOT_NICK, DURATIONS_HOURS, ID_EPOCH_MS, STEP_MIX, Step};
use super::words::{REASONS, pick};
use super::{GeneratedAppend, HistoryConfig};

/// What the generator remembers about a user.
pub(super) struct UserState {
    pub(super) id: Uuid,
    pub(super) stream: StreamName,
    pub(super) nick: Nick,
    pub(super) level: Level,
    pub(super) private: bool,
    pub(super) phone: Option<PhoneNumber>,
    /// Talks by SMS: joins SMS rooms by text (with their phone) rather than on IRC.
    pub(super) texts: bool,
    pub(super) sms_receiving: bool,
    /// The `user@host` of their IRC connection.
    pub(super) ident: String,
    pub(super) host: String,
}

impl UserState {
    /// Where this person usually gives commands from.
    pub(super) fn home(&self) -> Gateway {
        if self.texts { Gateway::Sms } else { Gateway::Irc }
    }

    pub(super) fn actor(&self) -> Actor {
        Actor::User(self.id)
    }

    pub(super) fn display(&self) -> DisplayNick {
        DisplayNick::from(&self.nick)
    }

    pub(super) fn mask(&self) -> HostMask {
        HostMask::from_parts(self.nick.as_str(), &self.ident, &self.host).expect("generated IRC masks are valid")
    }
}

/// A present member, as the room recorded them when they joined. The room keeps that
/// `MemberRef` (with the nick of that moment) and names the member with it in later events.
pub(super) struct Membership {
    pub(super) member: MemberRef,
    pub(super) gateway: Gateway,
}

/// Members of one room (users only; the bot is tracked apart): a list for uniform sampling and
/// an index for membership tests, both by user index. Only lookups go through the hash map, so
/// its iteration order never leaks into the history.
#[derive(Default)]
pub(super) struct Members {
    pub(super) order: Vec<usize>,
    pub(super) by_user: HashMap<usize, (usize, Membership)>,
}

impl Members {
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    pub(super) fn contains(&self, user: usize) -> bool {
        self.by_user.contains_key(&user)
    }

    pub(super) fn get(&self, user: usize) -> Option<&Membership> {
        self.by_user.get(&user).map(|(_, m)| m)
    }

    pub(super) fn insert(&mut self, user: usize, membership: Membership) {
        self.by_user.insert(user, (self.order.len(), membership));
        self.order.push(user);
    }

    pub(super) fn remove(&mut self, user: usize) -> Option<Membership> {
        let (slot, membership) = self.by_user.remove(&user)?;
        self.order.swap_remove(slot);
        if let Some(&moved) = self.order.get(slot) {
            self.by_user.get_mut(&moved).expect("every listed member is indexed").0 = slot;
        }
        Some(membership)
    }

    pub(super) fn random(&self, rng: &mut StdRng) -> Option<usize> {
        pick(rng, &self.order)
    }
}

pub(super) struct BanState {
    pub(super) user: usize,
    pub(super) until: Option<DateTime<Utc>>,
}

pub(super) struct PendingInvite {
    pub(super) invitee: Invitee,
    pub(super) user: usize,
}

/// What the generator remembers about a room: what the room aggregate's rules read.
pub(super) struct RoomState {
    pub(super) id: Uuid,
    pub(super) stream: StreamName,
    pub(super) invite_only: bool,
    pub(super) sms: bool,
    /// The usual number of members; churn keeps the room near it.
    pub(super) target: usize,
    pub(super) topic: Option<Topic>,
    pub(super) members: Members,
    /// Room mutes by user with their end (`None`: until lifted). Like the aggregate's, they
    /// outlive a departure: someone muted who leaves and comes back is still muted.
    pub(super) room_mutes: BTreeMap<usize, Option<DateTime<Utc>>>,
    /// `(muter, mutee)`; cleared when either leaves, as the aggregate does.
    pub(super) personal_mutes: BTreeSet<(usize, usize)>,
    /// By ban id: the aggregate consults them in this order.
    pub(super) bans: BTreeMap<Uuid, BanState>,
    pub(super) open_requests: BTreeMap<Uuid, (usize, Reason)>,
    /// Unaccepted invitations by id: a join consumes the first that matches, in id order.
    pub(super) pending_invites: BTreeMap<Uuid, PendingInvite>,
}

#[derive(Default)]
pub(super) struct QuoteBookModel {
    pub(super) last_id: u64,
    pub(super) live: Vec<LiveQuote>,
    /// `(casefolded nick, dedup key)` of live quotes: the book refuses duplicates.
    pub(super) keys: HashSet<(String, String)>,
}

pub(super) struct LiveQuote {
    pub(super) id: u64,
    pub(super) added_by: usize,
    pub(super) key: (String, String),
}

/// The simulation: the model, the random source, the clock and the queue of appends.
pub(super) struct Sim {
    pub(super) rng: StdRng,
    pub(super) base: DateTime<Utc>,
    /// Milliseconds since `base`: one per event emitted.
    pub(super) clock_ms: u64,
    pub(super) users_wanted: usize,
    /// Per room to create: is it also bound to an SMS number?
    pub(super) sms_plan: Vec<bool>,
    /// Cumulative popularity of the rooms (room `k` weighs `1/(k+1)`): busy rooms get most of
    /// the talk and of the members.
    pub(super) popularity: Vec<f64>,
    pub(super) users: Vec<UserState>,
    pub(super) rooms: Vec<RoomState>,
    pub(super) sms_rooms: Vec<usize>,
    /// Casefolded nicks in use (plus the bot's): nicks are unique case-insensitively.
    pub(super) taken_nicks: HashSet<String>,
    pub(super) taken_phones: HashSet<String>,
    /// Users at operator level or above (may moderate), and at staff level or above.
    pub(super) moderators: Vec<usize>,
    pub(super) staff: Vec<usize>,
    pub(super) phone_users: Vec<usize>,
    pub(super) quotes: QuoteBookModel,
    pub(super) out: VecDeque<GeneratedAppend>,
}

impl Sim {
    pub(super) fn new(config: HistoryConfig, base: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let rooms = config.rooms.max(1);
        let mut sms_plan: Vec<bool> = (0..rooms).map(|r| r < config.sms_rooms.min(rooms)).collect();
        sms_plan.shuffle(&mut rng);
        let popularity = (0..rooms)
            .scan(0.0, |sum, k| {
                *sum += 1.0 / (k as f64 + 1.0);
                Some(*sum)
            })
            .collect();
        Self {
            rng,
            base,
            clock_ms: 0,
            users_wanted: config.users.max(2),
            sms_rooms: (0..rooms).filter(|&r| sms_plan[r]).collect(),
            sms_plan,
            popularity,
            users: Vec::new(),
            rooms: Vec::new(),
            taken_nicks: HashSet::from([BOT_NICK.to_ascii_lowercase()]),
            taken_phones: HashSet::new(),
            moderators: Vec::new(),
            staff: Vec::new(),
            phone_users: Vec::new(),
            quotes: QuoteBookModel::default(),
            out: VecDeque::new(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Output, ids, time

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.base + TimeDelta::milliseconds(self.clock_ms as i64)
    }

    /// Time-ordered (v7) from the history's clock, as the ids the gateways mint
    /// (`Uuid::now_v7()`): tables keyed by them fill their indexes at the right edge.
    pub(super) fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_unix_timestamp_millis(ID_EPOCH_MS + self.clock_ms, &self.rng.random()).into_uuid()
    }

    /// One outside request (a command typed, a webhook): its appends share a correlation id.
    pub(super) fn request(&mut self, actor: Actor, gateway: Gateway) -> Metadata {
        Metadata { actor, gateway, correlation_id: self.uuid(), causation_id: None }
    }

    pub(super) fn user_request(&mut self, user: usize, gateway: Gateway) -> Metadata {
        self.request(self.users[user].actor(), gateway)
    }

    pub(super) fn emit(&mut self, stream: StreamName, metadata: &Metadata, events: Vec<Event>) {
        let mut stamped = Vec::with_capacity(events.len());
        for event in &events {
            self.clock_ms += 1;
            let id = uuid::Builder::from_unix_timestamp_millis(ID_EPOCH_MS + self.clock_ms, &self.rng.random()).into_uuid();
            stamped.push(NewEvent::with_id(id, event, metadata.clone()));
        }
        self.out.push_back(GeneratedAppend { stream, events: stamped });
    }

    pub(super) fn emit_room(&mut self, room: usize, metadata: &Metadata, events: Vec<Event>) {
        self.emit(self.rooms[room].stream.clone(), metadata, events);
    }

    pub(super) fn emit_user(&mut self, user: usize, metadata: &Metadata, event: Event) {
        self.emit(self.users[user].stream.clone(), metadata, vec![event]);
    }

    // -----------------------------------------------------------------------------------------
    // Random picks

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub(super) fn random_user(&mut self) -> usize {
        self.rng.random_range(0..self.users.len())
    }

    pub(super) fn random_member(&mut self, room: usize) -> Option<usize> {
        self.rooms[room].members.random(&mut self.rng)
    }

    /// A room by popularity.
    pub(super) fn pick_room(&mut self) -> usize {
        let total = *self.popularity.last().expect("at least one room");
        let x = self.rng.random::<f64>() * total;
        self.popularity.partition_point(|&c| c <= x).min(self.rooms.len() - 1)
    }

    pub(super) fn pick_moderator(&mut self) -> Option<usize> {
        pick(&mut self.rng, &self.moderators)
    }

    pub(super) fn pick_staff(&mut self) -> Option<usize> {
        pick(&mut self.rng, &self.staff)
    }

    /// A ban or mute length: `None` (until lifted) with probability `permanent`.
    pub(super) fn duration(&mut self, permanent: f64) -> Option<DateTime<Utc>> {
        if self.chance(permanent) {
            return None;
        }
        let hours = DURATIONS_HOURS[self.rng.random_range(0..DURATIONS_HOURS.len())];
        Some(self.now() + TimeDelta::hours(hours))
    }

    pub(super) fn reason(&mut self) -> Reason {
        Reason::parse(REASONS[self.rng.random_range(0..REASONS.len())]).expect("listed reasons are valid")
    }

    pub(super) fn maybe_reason(&mut self, p: f64) -> Option<Reason> {
        self.chance(p).then(|| self.reason())
    }

    // -----------------------------------------------------------------------------------------
    // Rules the model shares with the aggregates

    pub(super) fn is_banned(&self, room: usize, user: usize) -> bool {
        let now = self.now();
        self.rooms[room].bans.values().any(|b| b.user == user && b.until.is_none_or(|until| now < until))
    }

    pub(super) fn is_muted(&self, room: usize, user: usize) -> bool {
        let now = self.now();
        self.rooms[room].room_mutes.get(&user).is_some_and(|until| until.is_none_or(|until| now < until))
    }

    /// Nobody acts against someone at or above their own level, except a superuser.
    pub(super) fn outranks(&self, caller: usize, target: usize) -> bool {
        let (caller, target) = (self.users[caller].level, self.users[target].level);
        caller == Level::Superuser || target < caller
    }

    pub(super) fn set_level(&mut self, user: usize, to: Level) {
        self.users[user].level = to;
        for (list, min) in [(&mut self.moderators, Level::Operator), (&mut self.staff, Level::Staff)] {
            match (list.iter().position(|&u| u == user), to >= min) {
                (None, true) => list.push(user),
                (Some(i), false) => {
                    list.remove(i);
                }
                _ => {}
            }
        }
    }

    /// Takes a member out of the model; personal mutes involving them go too (room mutes stay).
    pub(super) fn remove_member(&mut self, room: usize, user: usize) -> Option<Membership> {
        let room = &mut self.rooms[room];
        let membership = room.members.remove(user)?;
        room.personal_mutes.retain(|&(muter, mutee)| muter != user && mutee != user);
        Some(membership)
    }

    // -----------------------------------------------------------------------------------------
    // Phase 2: steady state

    pub(super) fn step(&mut self) {
        let mut roll = self.rng.random_range(0..STEP_MIX.iter().map(|(_, w)| w).sum::<u32>());
        let step = STEP_MIX
            .iter()
            .find(|(_, weight)| {
                let hit = roll < *weight;
                roll = roll.saturating_sub(*weight);
                hit
            })
            .map_or(Step::Message, |(step, _)| *step);
        let done = match step {
            Step::Message => self.post_message(),
            Step::BotSay => self.bot_says(),
            Step::Join => self.join(),
            Step::Leave => self.leave(),
            Step::Kick => self.kick(),
            Step::RoomMute => self.room_mute(),
            Step::Ban => self.ban_or_unban(),
            Step::PersonalMute => self.personal_mute(),
            Step::NickChange => self.change_nick(),
            Step::LevelOrPrivacy => self.change_level_or_privacy(),
            Step::Quote => self.quote(),
            Step::SmsStopStart => self.stop_or_start_sms(),
            Step::BanRequest => self.ban_request(),
            Step::Invite => self.invite_someone(),
            Step::Topic => self.set_topic(),
            Step::ChannelMode => self.change_channel_mode(),
        };
        // A step finds nothing to do when, say, a room is empty or nobody outranks anybody;
        // something always happens instead so that every step yields events.
        if !done && !self.post_message() && !self.join() {
            self.system_announcement();
        }
    }
}
