//! A deterministic generator of a realistic, valid chat history, for the benchmarks and property
//! tests of the read models.
//!
//! It owns [`HistoryConfig`] (how big a history), [`HistoryGenerator`] (an iterator of
//! [`GeneratedAppend`]s: one stream and the events of one append, already stamped with metadata)
//! and the small in-memory model that keeps the history valid.
//!
//! Why it exists: read models have to be measured and tested on something that looks like
//! production — most events are messages in a few busy rooms, with the rarer facts (joins, kicks,
//! bans, mutes, nick changes, quotes, invitations, SMS opt-outs) interleaved — and that breaks
//! none of the domain's rules, so that what the projections build from it (member lists, active
//! bans, quote books, nick histories) means something.
//!
//! How it stays valid without `decide`: calling the aggregates for a million events would be far
//! too slow (and needs every command's lookups), so the generator keeps its own model of exactly
//! the state those rules read — members per room and how they joined, room and personal mutes,
//! bans, open ban requests, pending invitations, nicks, phones, levels, the quote book — and only
//! emits what the aggregates would have decided, in the shape they would have decided it
//! (a kick is `room.member_kicked` + `room.member_left` in one append, a join that consumes an
//! invitation is `room.invite_accepted` + `room.member_joined`, a registration reserves the nick
//! before `user.registered`, …). The tests fold the output with the aggregates' own `evolve` and
//! check every event against the state it would have been decided on.
//!
//! Shape: phase 1 registers the users (some with a phone, a couple of superusers, some staff and
//! operators), creates the rooms (each bound to an IRC channel, with the bot in it; `sms_rooms`
//! of them also bound to an SMS number; some invite-only) and fills them; phase 2 is a weighted
//! random mix of steps (see [`STEP_MIX`]), about 85% of them messages.
//!
//! Determinism: every random choice and every id (event ids, correlation ids, room, user, message,
//! ban ids) comes from one `StdRng` seeded with [`HistoryConfig::seed`]. Event ids are shaped like
//! UUIDv7 with a fixed epoch plus one millisecond per event, so they ascend like the ids of
//! `NewEvent::from_domain` and the store's unique index sees production-like inserts. Metadata is
//! built field by field instead of with `Metadata::new`, which would draw a `Uuid::now_v7()`.
//! The one non-deterministic input is the base time of the times inside payloads (`until`,
//! `added_at`), captured with `Utc::now()` in [`HistoryGenerator::new`] so that they lie near the
//! `recorded_at` of a benchmark's appends. The simulated clock advances one millisecond per event
//! and timed bans and mutes last at least an hour, so in practice they all stay in force until
//! lifted (the model still honours expiry, as the aggregates do).
//!
//! The generator is the only writer of its streams: append each item in order with
//! `ExpectedVersion::Any`. Appending the same seed twice into one store repeats the event ids,
//! which the store answers as idempotent retries (nothing new is written): use another seed or a
//! fresh database.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use domain::events::{
    BanRequestApproved, BanRequestRejected, BanRequested, BanTarget, ChannelMode, ChannelModeChanged, InviteAccepted, InviteIssued,
    Invitee, IrcChannelBound, LeaveReason, LevelChanged, MemberJoined, MemberKicked, MemberLeft, MemberRef, MessageKind, MessagePosted,
    NickChanged, NickReleased, NickReserved, PersonalMuteLifted, PersonalMuteSet, PhoneBound, PhoneReserved, PrivacyChanged, QuoteAdded,
    QuoteDeleted, RoomCreated, RoomMuteLifted, RoomMuteSet, SmsNumberBound, SmsStarted, SmsStopReason, SmsStopped, TopicSet, UserBanned,
    UserRegistered, UserUnbanned,
};
use domain::{
    Actor, DisplayNick, Event, Gateway, HostMask, IrcChannel, Level, MessageBody, Metadata, Nick, PhoneNumber, QuoteText, Reason, RoomName,
    StreamName, Topic,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use store::NewEvent;
use uuid::Uuid;

// =============================================================================================
// Public API

/// How big a history to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Seeds every random choice and every id: the same seed gives the same history.
    pub seed: u64,
    /// Exactly this many events are yielded in all (the last append may be cut short).
    pub events: usize,
    /// Registered users; at least 2 are used (the first two are the superusers who set things up).
    pub users: usize,
    /// Rooms, each bound to an IRC channel; at least 1 is used.
    pub rooms: usize,
    /// Rooms also bound to an SMS number; at most `rooms` are.
    pub sms_rooms: usize,
}

impl HistoryConfig {
    /// Proportions of a mid-sized network: one user per 200 events (10 to 5,000), one room per
    /// 25 users (3 to 50), half of the rooms also reachable by SMS.
    pub fn realistic(events: usize, seed: u64) -> Self {
        let users = (events / 200).clamp(10, 5000);
        let rooms = (users / 25).clamp(3, 50);
        Self { seed, events, users, rooms, sms_rooms: rooms / 2 }
    }
}

/// One append: a stream and the events for it, already stamped with metadata and ids.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedAppend {
    pub stream: StreamName,
    pub events: Vec<NewEvent>,
}

/// Yields the history one append at a time, in the order the application would have written it.
/// Never yields an empty append; yields exactly [`HistoryConfig::events`] events in all.
pub struct HistoryGenerator {
    /// Events still to hand out.
    remaining: usize,
    stage: Stage,
    sim: Sim,
}

impl HistoryGenerator {
    pub fn new(config: HistoryConfig) -> Self {
        Self { remaining: config.events, stage: Stage::Users(0), sim: Sim::new(config, Utc::now()) }
    }

    /// Runs the next setup item or steady-state step; it may queue nothing (a stage ending).
    fn advance(&mut self) {
        let sim = &mut self.sim;
        self.stage = match self.stage {
            Stage::Users(i) if i < sim.users_wanted => {
                sim.register_user();
                Stage::Users(i + 1)
            }
            Stage::Users(_) => Stage::Rooms(0),
            Stage::Rooms(r) if r < sim.sms_plan.len() => {
                sim.create_room(r);
                Stage::Rooms(r + 1)
            }
            Stage::Rooms(_) => Stage::Fill(0),
            Stage::Fill(r) if r < sim.rooms.len() => {
                sim.fill_room(r);
                Stage::Fill(r + 1)
            }
            Stage::Fill(_) => Stage::Steady,
            Stage::Steady => {
                sim.step();
                Stage::Steady
            }
        };
    }
}

impl Iterator for HistoryGenerator {
    type Item = GeneratedAppend;

    fn next(&mut self) -> Option<GeneratedAppend> {
        if self.remaining == 0 {
            return None;
        }
        while self.sim.out.is_empty() {
            self.advance();
        }
        let mut append = self.sim.out.pop_front()?;
        // Stopping mid-append is accepted: the count matters more than the last command.
        append.events.truncate(self.remaining);
        self.remaining -= append.events.len();
        Some(append)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every append carries at least one event.
        (usize::from(self.remaining > 0), Some(self.remaining))
    }
}

// =============================================================================================
// The mix

/// Where the generator is: setup (phase 1) item by item, then the steady state (phase 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Users(usize),
    Rooms(usize),
    /// Initial members of each room.
    Fill(usize),
    Steady,
}

/// One steady-state step: a command somebody gives, which becomes one or a few appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Message,
    /// Staff speaking through the bot (`.say`).
    BotSay,
    Join,
    Leave,
    Kick,
    RoomMute,
    Ban,
    PersonalMute,
    NickChange,
    LevelOrPrivacy,
    Quote,
    SmsStopStart,
    BanRequest,
    Invite,
    Topic,
    ChannelMode,
}

/// Weights of the steps, per mille. Multi-event steps (kicks, nick changes) make the share of
/// `room.message_posted` among events a little lower than its share of steps.
const STEP_MIX: &[(Step, u32)] = &[
    (Step::Message, 840),
    (Step::BotSay, 1),
    (Step::Join, 40),
    (Step::Leave, 30),
    (Step::Kick, 10),
    (Step::RoomMute, 10),
    (Step::Ban, 10),
    (Step::PersonalMute, 10),
    (Step::NickChange, 10),
    (Step::LevelOrPrivacy, 10),
    (Step::Quote, 10),
    (Step::SmsStopStart, 5),
    (Step::BanRequest, 5),
    (Step::Invite, 4),
    (Step::Topic, 2),
    (Step::ChannelMode, 3),
];

/// Memberships per user on average; room sizes follow from it and the rooms' popularity.
const MEMBERSHIPS_PER_USER: f64 = 2.0;
/// Share of users with a phone bound, and of those who text rather than use IRC.
const PHONE_SHARE: f64 = 0.35;
const TEXTING_SHARE: f64 = 0.8;
/// Share of rooms (other than the first, the lobby) that are invite-only.
const INVITE_ONLY_SHARE: f64 = 0.15;
/// Share of messages said as `/me`.
const ACTION_SHARE: f64 = 0.07;
/// How many random picks a step tries before it gives up and another step runs instead.
const TRIES: usize = 8;
/// The bot's nick, kept out of the users' nicks.
const BOT_NICK: &str = "Switchboard";
/// 2026-01-01T00:00:00Z: the fixed time part of the event ids (see the module doc).
const ID_EPOCH_MS: u64 = 1_767_225_600_000;
/// Lengths of timed bans and mutes, as typed in chat (`1h` … `30d`).
const DURATIONS_HOURS: &[i64] = &[1, 2, 6, 12, 24, 72, 168, 336, 720];

// =============================================================================================
// The model

/// What the generator remembers about a user.
struct UserState {
    id: Uuid,
    stream: StreamName,
    nick: Nick,
    level: Level,
    private: bool,
    phone: Option<PhoneNumber>,
    /// Talks by SMS: joins SMS rooms by text (with their phone) rather than on IRC.
    texts: bool,
    sms_receiving: bool,
    /// The `user@host` of their IRC connection.
    ident: String,
    host: String,
}

impl UserState {
    /// Where this person usually gives commands from.
    fn home(&self) -> Gateway {
        if self.texts { Gateway::Sms } else { Gateway::Irc }
    }

    fn actor(&self) -> Actor {
        Actor::User(self.id)
    }

    fn display(&self) -> DisplayNick {
        DisplayNick::from(&self.nick)
    }

    fn mask(&self) -> HostMask {
        HostMask::from_parts(self.nick.as_str(), &self.ident, &self.host).expect("generated IRC masks are valid")
    }
}

/// A present member, as the room recorded them when they joined. The room keeps that
/// `MemberRef` (with the nick of that moment) and names the member with it in later events.
struct Membership {
    member: MemberRef,
    gateway: Gateway,
}

/// Members of one room (users only; the bot is tracked apart): a list for uniform sampling and
/// an index for membership tests, both by user index. Only lookups go through the hash map, so
/// its iteration order never leaks into the history.
#[derive(Default)]
struct Members {
    order: Vec<usize>,
    by_user: HashMap<usize, (usize, Membership)>,
}

impl Members {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn contains(&self, user: usize) -> bool {
        self.by_user.contains_key(&user)
    }

    fn get(&self, user: usize) -> Option<&Membership> {
        self.by_user.get(&user).map(|(_, m)| m)
    }

    fn insert(&mut self, user: usize, membership: Membership) {
        self.by_user.insert(user, (self.order.len(), membership));
        self.order.push(user);
    }

    fn remove(&mut self, user: usize) -> Option<Membership> {
        let (slot, membership) = self.by_user.remove(&user)?;
        self.order.swap_remove(slot);
        if let Some(&moved) = self.order.get(slot) {
            self.by_user.get_mut(&moved).expect("every listed member is indexed").0 = slot;
        }
        Some(membership)
    }

    fn random(&self, rng: &mut StdRng) -> Option<usize> {
        pick(rng, &self.order)
    }
}

struct BanState {
    user: usize,
    until: Option<DateTime<Utc>>,
}

struct PendingInvite {
    invitee: Invitee,
    user: usize,
}

/// What the generator remembers about a room: what the room aggregate's rules read.
struct RoomState {
    id: Uuid,
    stream: StreamName,
    invite_only: bool,
    sms: bool,
    /// The usual number of members; churn keeps the room near it.
    target: usize,
    topic: Option<Topic>,
    members: Members,
    /// Room mutes by user with their end (`None`: until lifted). Like the aggregate's, they
    /// outlive a departure: someone muted who leaves and comes back is still muted.
    room_mutes: BTreeMap<usize, Option<DateTime<Utc>>>,
    /// `(muter, mutee)`; cleared when either leaves, as the aggregate does.
    personal_mutes: BTreeSet<(usize, usize)>,
    /// By ban id: the aggregate consults them in this order.
    bans: BTreeMap<Uuid, BanState>,
    open_requests: BTreeMap<Uuid, (usize, Reason)>,
    /// Unaccepted invitations by id: a join consumes the first that matches, in id order.
    pending_invites: BTreeMap<Uuid, PendingInvite>,
}

#[derive(Default)]
struct QuoteBookModel {
    last_id: u64,
    live: Vec<LiveQuote>,
    /// `(casefolded nick, dedup key)` of live quotes: the book refuses duplicates.
    keys: HashSet<(String, String)>,
}

struct LiveQuote {
    id: u64,
    added_by: usize,
    key: (String, String),
}

/// The simulation: the model, the random source, the clock and the queue of appends.
struct Sim {
    rng: StdRng,
    base: DateTime<Utc>,
    /// Milliseconds since `base`: one per event emitted.
    clock_ms: u64,
    users_wanted: usize,
    /// Per room to create: is it also bound to an SMS number?
    sms_plan: Vec<bool>,
    /// Cumulative popularity of the rooms (room `k` weighs `1/(k+1)`): busy rooms get most of
    /// the talk and of the members.
    popularity: Vec<f64>,
    users: Vec<UserState>,
    rooms: Vec<RoomState>,
    sms_rooms: Vec<usize>,
    /// Casefolded nicks in use (plus the bot's): nicks are unique case-insensitively.
    taken_nicks: HashSet<String>,
    taken_phones: HashSet<String>,
    /// Users at operator level or above (may moderate), and at staff level or above.
    moderators: Vec<usize>,
    staff: Vec<usize>,
    phone_users: Vec<usize>,
    quotes: QuoteBookModel,
    out: VecDeque<GeneratedAppend>,
}

impl Sim {
    fn new(config: HistoryConfig, base: DateTime<Utc>) -> Self {
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

    fn now(&self) -> DateTime<Utc> {
        self.base + TimeDelta::milliseconds(self.clock_ms as i64)
    }

    /// Time-ordered (v7) from the history's clock, as the ids the gateways mint
    /// (`Uuid::now_v7()`): tables keyed by them fill their indexes at the right edge.
    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_unix_timestamp_millis(ID_EPOCH_MS + self.clock_ms, &self.rng.random()).into_uuid()
    }

    /// One outside request (a command typed, a webhook): its appends share a correlation id.
    fn request(&mut self, actor: Actor, gateway: Gateway) -> Metadata {
        Metadata { actor, gateway, correlation_id: self.uuid(), causation_id: None }
    }

    fn user_request(&mut self, user: usize, gateway: Gateway) -> Metadata {
        self.request(self.users[user].actor(), gateway)
    }

    fn emit(&mut self, stream: StreamName, metadata: &Metadata, events: Vec<Event>) {
        let mut stamped = Vec::with_capacity(events.len());
        for event in &events {
            self.clock_ms += 1;
            let id = uuid::Builder::from_unix_timestamp_millis(ID_EPOCH_MS + self.clock_ms, &self.rng.random()).into_uuid();
            stamped.push(NewEvent::with_id(id, event, metadata.clone()));
        }
        self.out.push_back(GeneratedAppend { stream, events: stamped });
    }

    fn emit_room(&mut self, room: usize, metadata: &Metadata, events: Vec<Event>) {
        self.emit(self.rooms[room].stream.clone(), metadata, events);
    }

    fn emit_user(&mut self, user: usize, metadata: &Metadata, event: Event) {
        self.emit(self.users[user].stream.clone(), metadata, vec![event]);
    }

    // -----------------------------------------------------------------------------------------
    // Random picks

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn random_user(&mut self) -> usize {
        self.rng.random_range(0..self.users.len())
    }

    fn random_member(&mut self, room: usize) -> Option<usize> {
        self.rooms[room].members.random(&mut self.rng)
    }

    /// A room by popularity.
    fn pick_room(&mut self) -> usize {
        let total = *self.popularity.last().expect("at least one room");
        let x = self.rng.random::<f64>() * total;
        self.popularity.partition_point(|&c| c <= x).min(self.rooms.len() - 1)
    }

    fn pick_moderator(&mut self) -> Option<usize> {
        pick(&mut self.rng, &self.moderators)
    }

    fn pick_staff(&mut self) -> Option<usize> {
        pick(&mut self.rng, &self.staff)
    }

    /// A ban or mute length: `None` (until lifted) with probability `permanent`.
    fn duration(&mut self, permanent: f64) -> Option<DateTime<Utc>> {
        if self.chance(permanent) {
            return None;
        }
        let hours = DURATIONS_HOURS[self.rng.random_range(0..DURATIONS_HOURS.len())];
        Some(self.now() + TimeDelta::hours(hours))
    }

    fn reason(&mut self) -> Reason {
        Reason::parse(REASONS[self.rng.random_range(0..REASONS.len())]).expect("listed reasons are valid")
    }

    fn maybe_reason(&mut self, p: f64) -> Option<Reason> {
        self.chance(p).then(|| self.reason())
    }

    // -----------------------------------------------------------------------------------------
    // Rules the model shares with the aggregates

    fn is_banned(&self, room: usize, user: usize) -> bool {
        let now = self.now();
        self.rooms[room].bans.values().any(|b| b.user == user && b.until.is_none_or(|until| now < until))
    }

    fn is_muted(&self, room: usize, user: usize) -> bool {
        let now = self.now();
        self.rooms[room].room_mutes.get(&user).is_some_and(|until| until.is_none_or(|until| now < until))
    }

    /// Nobody acts against someone at or above their own level, except a superuser.
    fn outranks(&self, caller: usize, target: usize) -> bool {
        let (caller, target) = (self.users[caller].level, self.users[target].level);
        caller == Level::Superuser || target < caller
    }

    fn set_level(&mut self, user: usize, to: Level) {
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
    fn remove_member(&mut self, room: usize, user: usize) -> Option<Membership> {
        let room = &mut self.rooms[room];
        let membership = room.members.remove(user)?;
        room.personal_mutes.retain(|&(muter, mutee)| muter != user && mutee != user);
        Some(membership)
    }

    // -----------------------------------------------------------------------------------------
    // Phase 1: setup

    /// `nick.reserved`, `user.registered`, maybe `phone.reserved` + `user.phone_bound`, then
    /// the user's starting level and privacy.
    fn register_user(&mut self) {
        let user = self.users.len();
        let id = self.uuid();
        let nick = self.fresh_nick();
        // The superusers run things from IRC; a third of the others have a phone.
        let phone = (user >= 2 && self.chance(PHONE_SHARE)).then(|| self.fresh_phone());
        let texts = phone.is_some() && self.chance(TEXTING_SHARE);
        let via = if texts {
            Gateway::Sms
        } else if self.chance(0.15) {
            Gateway::Api
        } else {
            Gateway::Irc
        };
        let (ident, host) = self.irc_identity(&nick);
        self.users.push(UserState {
            id,
            stream: StreamName::user(id),
            nick: nick.clone(),
            level: Level::Guest,
            private: true, // `User::evolve` makes every new user private.
            phone: None,
            texts,
            sms_receiving: true,
            ident,
            host,
        });
        // Someone not known yet: the registration request is anonymous until the user exists.
        let meta = self.request(Actor::Anonymous, via);
        // The nick is reserved before the user is registered (the reservation is the uniqueness check).
        self.emit(StreamName::nick(&nick.casefold()), &meta, vec![NickReserved { nick: nick.clone(), user_id: id }.into()]);
        self.emit_user(user, &meta, UserRegistered { user_id: id, nick, gateway: via }.into());
        if let Some(phone) = phone {
            self.bind_phone(user, phone, &meta);
        }
        self.starting_level(user);
        if self.chance(0.3) {
            self.toggle_privacy(user);
        }
    }

    fn bind_phone(&mut self, user: usize, phone: PhoneNumber, meta: &Metadata) {
        let user_id = self.users[user].id;
        self.emit(StreamName::phone(phone.as_str()), meta, vec![PhoneReserved { phone: phone.clone(), user_id }.into()]);
        self.emit_user(user, meta, PhoneBound { user_id, phone: phone.clone() }.into());
        self.users[user].phone = Some(phone);
        self.phone_users.push(user);
    }

    /// The first two users become superusers (by configuration, i.e. the system); the next few
    /// staff; the rest members, voices, operators or left guests, granted by staff.
    fn starting_level(&mut self, user: usize) {
        let staff_count = (self.users_wanted / 250).clamp(1, 8);
        let to = if user < 2 {
            Level::Superuser
        } else if user < 2 + staff_count {
            Level::Staff
        } else {
            match self.rng.random_range(0..100) {
                0..45 => Level::Member,
                45..53 => Level::Voice,
                53..57 => Level::Operator,
                _ => return,
            }
        };
        let (meta, by) = if user < 2 {
            (self.request(Actor::System, Gateway::System), Actor::System)
        } else {
            let granter = self.pick_staff().expect("the superusers are registered first");
            (self.user_request(granter, Gateway::Irc), self.users[granter].actor())
        };
        let user_id = self.users[user].id;
        self.emit_user(user, &meta, LevelChanged { user_id, from: Level::Guest, to, by }.into());
        self.set_level(user, to);
    }

    /// `room.created`, `room.irc_channel_bound`, the bot's join, maybe `room.sms_number_bound`
    /// and a topic: what an admin does when opening a room.
    fn create_room(&mut self, r: usize) {
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
    fn bot_joins(&mut self, room: usize) {
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
    fn fill_room(&mut self, room: usize) {
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

    // -----------------------------------------------------------------------------------------
    // Phase 2: steady state

    fn step(&mut self) {
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

    /// `room.message_posted` by a present, unmuted member, through the gateway they joined by.
    fn post_message(&mut self) -> bool {
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
    fn bot_says(&mut self) -> bool {
        let Some(staff) = self.pick_staff() else { return false };
        let room = self.pick_room();
        let gateway = if self.chance(0.5) { Gateway::Irc } else { Gateway::Api };
        let kind = if self.chance(0.7) { MessageKind::Say } else { MessageKind::Notice };
        let meta = self.user_request(staff, gateway);
        self.bot_message(room, kind, gateway, &meta);
        true
    }

    /// The last resort of a step: a notice from the system, which may always speak as the bot.
    fn system_announcement(&mut self) {
        let room = self.pick_room();
        let meta = self.request(Actor::System, Gateway::System);
        self.bot_message(room, MessageKind::Notice, Gateway::System, &meta);
    }

    fn bot_message(&mut self, room: usize, kind: MessageKind, gateway: Gateway, meta: &Metadata) {
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

    fn join(&mut self) -> bool {
        let room = self.pick_room();
        self.join_room(room)
    }

    /// Someone not present joins `room`; invited people come more often than strangers.
    fn join_room(&mut self, room: usize) -> bool {
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
    fn try_join(&mut self, room: usize, user: usize) -> bool {
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
    fn leave(&mut self) -> bool {
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

    /// A member the moderator may act against (present, not themself, outranked).
    fn moderation_target(&mut self, room: usize, moderator: usize) -> Option<usize> {
        for _ in 0..TRIES {
            let target = self.random_member(room)?;
            if target != moderator && self.outranks(moderator, target) {
                return Some(target);
            }
        }
        None
    }

    /// `room.member_kicked` + `room.member_left` (kick), in one append as `decide` returns them.
    fn kick(&mut self) -> bool {
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
    fn room_mute(&mut self) -> bool {
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

    fn ban_or_unban(&mut self) -> bool {
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
    fn ban(&mut self, room: usize) -> bool {
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
    fn ban_events(
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
    fn unban(&mut self, room: usize, user: usize) -> bool {
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
    fn personal_mute(&mut self) -> bool {
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
            PersonalMuteSet { room_id, muter: muter_id, mutee: mutee_id }.into()
        } else {
            self.rooms[room].personal_mutes.remove(&(muter, mutee));
            PersonalMuteLifted { room_id, muter: muter_id, mutee: mutee_id }.into()
        };
        let meta = self.user_request(muter, gateway);
        self.emit_room(room, &meta, vec![event]);
        true
    }

    /// `nick.reserved` (new), `user.nick_changed`, `nick.released` (old): reserve first so the
    /// new nick is never shared, release last, as the application orders them.
    fn change_nick(&mut self) -> bool {
        let user = self.random_user();
        let new = self.fresh_nick();
        let old = std::mem::replace(&mut self.users[user].nick, new.clone());
        self.taken_nicks.remove(&old.casefold());
        let user_id = self.users[user].id;
        let gateway = self.users[user].home();
        let meta = self.user_request(user, gateway);
        self.emit(StreamName::nick(&new.casefold()), &meta, vec![NickReserved { nick: new.clone(), user_id }.into()]);
        self.emit_user(user, &meta, NickChanged { user_id, old: old.clone(), new }.into());
        self.emit(StreamName::nick(&old.casefold()), &meta, vec![NickReleased { nick: old, user_id }.into()]);
        true
    }

    fn change_level_or_privacy(&mut self) -> bool {
        if self.chance(0.5) {
            self.change_level()
        } else {
            let user = self.random_user();
            self.toggle_privacy(user);
            true
        }
    }

    /// Staff move someone below staff between guest and operator (the staff and superusers set
    /// up in phase 1 stay, so there are always people to moderate and to decide ban requests).
    fn change_level(&mut self) -> bool {
        let Some(caller) = self.pick_staff() else { return false };
        for _ in 0..TRIES {
            let target = self.random_user();
            let from = self.users[target].level;
            let to = [Level::Guest, Level::Member, Level::Member, Level::Voice, Level::Operator][self.rng.random_range(0..5)];
            if target == caller || from >= Level::Staff || to == from {
                continue;
            }
            let event = LevelChanged { user_id: self.users[target].id, from, to, by: self.users[caller].actor() };
            let meta = self.user_request(caller, Gateway::Irc);
            self.emit_user(target, &meta, event.into());
            self.set_level(target, to);
            return true;
        }
        false
    }

    /// Only the user themself changes their privacy.
    fn toggle_privacy(&mut self, user: usize) {
        let private = !self.users[user].private;
        self.users[user].private = private;
        let gateway = self.users[user].home();
        let meta = self.user_request(user, gateway);
        self.emit_user(user, &meta, PrivacyChanged { user_id: self.users[user].id, private }.into());
    }

    fn quote(&mut self) -> bool {
        if !self.quotes.live.is_empty() && self.chance(0.15) { self.delete_quote() } else { self.add_quote() }
    }

    /// `quote.added` with the next id, by a member-level user, never a duplicate of a live quote.
    fn add_quote(&mut self) -> bool {
        for _ in 0..TRIES {
            let adder = self.random_user();
            if self.users[adder].level < Level::Member {
                continue;
            }
            let said_by = self.random_user();
            let nick = self.users[said_by].display();
            let quote = QuoteText::parse(&text(&mut self.rng, 10, 200)).expect("generated quotes are valid");
            let key = (nick.casefold(), quote.dedup_key());
            if self.quotes.keys.contains(&key) {
                continue;
            }
            self.quotes.last_id += 1;
            let quote_id = self.quotes.last_id;
            self.quotes.keys.insert(key.clone());
            self.quotes.live.push(LiveQuote { id: quote_id, added_by: adder, key });
            let added = QuoteAdded { quote_id, nick, text: quote, added_by: self.users[adder].actor(), added_at: self.now() };
            let gateway = self.users[adder].home();
            let meta = self.user_request(adder, gateway);
            self.emit(StreamName::quotes(), &meta, vec![added.into()]);
            return true;
        }
        false
    }

    /// `quote.deleted` of a live quote, by whoever added it or by an operator.
    fn delete_quote(&mut self) -> bool {
        let nth = self.rng.random_range(0..self.quotes.live.len());
        let quote = self.quotes.live.swap_remove(nth);
        self.quotes.keys.remove(&quote.key);
        let moderator = self.pick_moderator();
        let caller = match moderator {
            Some(op) if self.chance(0.5) => op,
            _ => quote.added_by,
        };
        let gateway = self.users[caller].home();
        let meta = self.user_request(caller, gateway);
        self.emit(StreamName::quotes(), &meta, vec![QuoteDeleted { quote_id: quote.id, by: self.users[caller].actor() }.into()]);
        true
    }

    /// `user.sms_stopped` (`#stop`, `STOP`, or Twilio's opt-out report) or `user.sms_started`.
    fn stop_or_start_sms(&mut self) -> bool {
        let Some(user) = pick(&mut self.rng, &self.phone_users) else { return false };
        let user_id = self.users[user].id;
        let receiving = self.users[user].sms_receiving;
        self.users[user].sms_receiving = !receiving;
        let (meta, event): (Metadata, Event) = if receiving {
            let reason = [SmsStopReason::Command, SmsStopReason::Command, SmsStopReason::CarrierKeyword, SmsStopReason::OptedOut]
                [self.rng.random_range(0..4)];
            // An opt-out is reported by Twilio's webhook, not typed by the user.
            let meta = if reason == SmsStopReason::OptedOut {
                self.request(Actor::System, Gateway::System)
            } else {
                self.user_request(user, Gateway::Sms)
            };
            (meta, SmsStopped { user_id, reason }.into())
        } else {
            (self.user_request(user, Gateway::Sms), SmsStarted { user_id }.into())
        };
        self.emit_user(user, &meta, event);
        true
    }

    /// `room.ban_requested` by a member-level member against another member, or a staff
    /// decision on an open request: `room.ban_request_approved` (followed by the ban it places,
    /// in the same append) or `room.ban_request_rejected`.
    fn ban_request(&mut self) -> bool {
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

    fn decide_ban_request(&mut self, room: usize) -> bool {
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

    /// `room.invite_issued`, mostly for invite-only rooms, for someone absent and not yet invited.
    fn invite_someone(&mut self) -> bool {
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
    fn invite(&mut self, room: usize, user: usize) -> bool {
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

    fn set_topic(&mut self) -> bool {
        let Some(op) = self.pick_moderator() else { return false };
        let room = self.pick_room();
        self.set_topic_by(room, op)
    }

    /// `room.topic_set` by an operator or above, only when it changes the topic.
    fn set_topic_by(&mut self, room: usize, op: usize) -> bool {
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
    fn change_channel_mode(&mut self) -> bool {
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

    // -----------------------------------------------------------------------------------------
    // Names, numbers, texts

    /// A nick like `alice`, `Bob42`, `carol_dev` or `dave-7`, unique case-insensitively.
    fn fresh_nick(&mut self) -> Nick {
        loop {
            let name = pick_str(&mut self.rng, NAMES);
            let candidate = match self.rng.random_range(0..6) {
                0 => capitalised(name),
                1 | 2 => format!("{name}{}", self.rng.random_range(1..100)),
                3 => format!("{name}_{}", pick_str(&mut self.rng, NICK_SUFFIXES)),
                4 => format!("{}{}", capitalised(name), self.rng.random_range(1..10_000)),
                _ => format!("{name}-{}", self.rng.random_range(1..1000)),
            };
            if self.taken_nicks.insert(candidate.to_ascii_lowercase()) {
                return Nick::parse(&candidate).expect("generated nicks are valid");
            }
        }
    }

    /// A North American number (area codes 201–799, so never a room's `+1888…`), unique.
    fn fresh_phone(&mut self) -> PhoneNumber {
        loop {
            let candidate = format!("+1{}{:07}", self.rng.random_range(201..800), self.rng.random_range(0..10_000_000));
            if self.taken_phones.insert(candidate.clone()) {
                return PhoneNumber::parse(&candidate).expect("generated phone numbers are valid");
            }
        }
    }

    /// The `~ident` and host of someone's IRC connection: a cloak, an address or an ISP host.
    fn irc_identity(&mut self, nick: &Nick) -> (String, String) {
        let fold = nick.casefold();
        let ident = format!("~{}", &fold[..fold.len().min(9)]);
        let host = match self.rng.random_range(0..3) {
            0 => format!("user/{fold}"),
            1 => {
                let [a, b, c, d]: [u8; 4] = self.rng.random();
                format!("{}.{b}.{c}.{d}", a.max(1))
            }
            _ => format!("host-{}.{}.example.net", self.rng.random_range(1..100_000), pick_str(&mut self.rng, ISPS)),
        };
        (ident, host)
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

fn pick_str(rng: &mut StdRng, items: &[&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

fn capitalised(word: &str) -> String {
    let mut s = word.to_owned();
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    s
}

fn room_name(r: usize) -> String {
    let name = ROOM_NAMES[r % ROOM_NAMES.len()];
    match r / ROOM_NAMES.len() {
        0 => name.to_owned(),
        n => format!("{name} {}", n + 1),
    }
}

/// A message body: mostly short lines, some paragraphs, a few long ones (5 to 300 bytes).
fn message_text(rng: &mut StdRng) -> String {
    match rng.random_range(0..100) {
        0..70 => text(rng, 5, 80),
        70..95 => text(rng, 80, 200),
        _ => text(rng, 200, 300),
    }
}

/// Chat-like words up to a random length in `min..=max` bytes (never over `max`; at least
/// `min` whenever `max - min` exceeds the longest word).
fn text(rng: &mut StdRng, min: usize, max: usize) -> String {
    let target = rng.random_range(min..=max);
    let mut s = String::with_capacity(target + 16);
    while s.len() < target {
        let word = pick_str(rng, WORDS);
        let needed = if s.is_empty() { word.len() } else { s.len() + 1 + word.len() };
        if needed > max {
            if s.is_empty() {
                continue;
            }
            break;
        }
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(word);
    }
    if rng.random_bool(0.5) {
        s = capitalised(&s);
    }
    if s.len() < max && rng.random_bool(0.4) {
        s.push(['.', '?', '!'][rng.random_range(0..3)]);
    }
    s
}

const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "karl", "lena", "mallory", "nina", "oscar",
    "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "wendy", "xavier", "yara", "zoe", "sam", "max", "leo", "mia", "noah",
    "emma", "liam", "ava", "kai", "ida", "otto", "rosa", "hugo", "vera",
];

const NICK_SUFFIXES: &[&str] = &["x", "dev", "away", "afk", "irl", "jr", "ok", "zz", "home", "work"];

const ISPS: &[&str] = &["comcast", "verizon", "telia", "orange", "vodafone", "fastly", "sonic"];

const ROOM_NAMES: &[&str] = &[
    "Lobby",
    "Random",
    "Dev",
    "Ops",
    "Music",
    "Books",
    "Games",
    "Support",
    "Announcements",
    "Off-topic",
    "Football",
    "Cooking",
    "Travel",
    "Photography",
    "Movies",
    "Science",
    "Politics",
    "Jobs",
    "Help",
    "Meetups",
    "Cycling",
    "Gardening",
    "Pets",
    "Parents",
    "Students",
    "Linux",
    "Rust",
    "Night Owls",
    "Weekend",
    "Market",
];

const ACTIONS: &[&str] = &["waves", "laughs", "shrugs", "nods", "agrees", "sighs", "grins", "is away", "is back", "facepalms"];

const REASONS: &[&str] = &[
    "spam",
    "flooding",
    "be nice",
    "ban evasion",
    "harassment",
    "off-topic after warnings",
    "advertising",
    "repeated caps lock",
    "posting links to malware",
    "trolling",
];

const WORDS: &[&str] = &[
    "the",
    "a",
    "is",
    "it",
    "that",
    "this",
    "and",
    "or",
    "but",
    "so",
    "what",
    "why",
    "how",
    "when",
    "anyone",
    "know",
    "think",
    "just",
    "really",
    "maybe",
    "probably",
    "tonight",
    "tomorrow",
    "meeting",
    "server",
    "deploy",
    "coffee",
    "lunch",
    "train",
    "late",
    "again",
    "fixed",
    "broken",
    "build",
    "test",
    "works",
    "for",
    "me",
    "you",
    "we",
    "they",
    "was",
    "were",
    "have",
    "has",
    "got",
    "see",
    "saw",
    "new",
    "old",
    "release",
    "bug",
    "issue",
    "link",
    "thanks",
    "lol",
    "ok",
    "sure",
    "yes",
    "no",
    "nope",
    "yeah",
    "great",
    "nice",
    "weird",
    "going",
    "to",
    "be",
    "at",
    "in",
    "on",
    "with",
    "about",
    "after",
    "before",
    "from",
    "station",
    "weather",
    "rain",
    "sunny",
    "game",
    "music",
    "band",
    "show",
    "movie",
    "book",
    "read",
    "watch",
    "play",
    "call",
    "text",
    "phone",
    "message",
    "room",
    "channel",
    "everyone",
    "someone",
    "here",
    "there",
    "now",
    "later",
    "soon",
    "still",
    "already",
    "today",
    "weekend",
    "plans",
    "dinner",
    "pizza",
    "running",
    "walk",
    "dog",
    "cat",
    "kids",
    "work",
    "office",
    "home",
    "traffic",
    "bus",
    "ticket",
    "price",
    "cheap",
    "expensive",
    "question",
    "answer",
    "help",
    "please",
    "sorry",
    "agree",
    "idea",
    "plan",
    "check",
    "update",
    "version",
    "patch",
    "logs",
    "error",
    "restart",
    "back",
    "brb",
    "afk",
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use domain::{Aggregate, EventCodec, MemberKey, NickReservation, PhoneReservation, QuoteBook, Room, User};
    use serde_json::Value;

    use super::*;

    fn generate(config: HistoryConfig) -> Vec<GeneratedAppend> {
        HistoryGenerator::new(config).collect()
    }

    fn decode(event: &NewEvent) -> Event {
        Event::decode(&event.event_type, event.schema_version, event.payload.clone())
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", event.event_type))
    }

    /// Everything about each event except the times inside payloads, which start at the clock.
    fn fingerprint(history: &[GeneratedAppend]) -> Vec<(String, String, Uuid, Value, Metadata)> {
        history
            .iter()
            .flat_map(|append| {
                append.events.iter().map(move |e| {
                    let mut payload = e.payload.clone();
                    if let Some(fields) = payload.as_object_mut() {
                        for timed in ["until", "added_at", "expires_at", "started_at", "at"] {
                            fields.remove(timed);
                        }
                    }
                    (append.stream.to_string(), e.event_type.clone(), e.event_id, payload, e.metadata.clone())
                })
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_history_and_another_seed_another() {
        let config = HistoryConfig::realistic(20_000, 42);
        let first = fingerprint(&generate(config));
        assert_eq!(first, fingerprint(&generate(config)));
        assert_ne!(first, fingerprint(&generate(HistoryConfig { seed: 43, ..config })));
    }

    #[test]
    fn exactly_the_requested_number_of_events_in_non_empty_appends() {
        let odd = HistoryConfig { seed: 1, events: 3_000, users: 0, rooms: 0, sms_rooms: 9 };
        let configs = [
            HistoryConfig::realistic(0, 1),
            HistoryConfig::realistic(1, 2),
            HistoryConfig::realistic(2, 3),
            HistoryConfig::realistic(57, 4),
            HistoryConfig::realistic(3_001, 5),
            HistoryConfig::realistic(25_000, 6),
            odd,
            HistoryConfig { seed: 7, users: 3, rooms: 2, sms_rooms: 2, ..odd },
            HistoryConfig { seed: 8, users: 400, rooms: 1, sms_rooms: 0, ..odd },
        ];
        for config in configs {
            let history = generate(config);
            assert!(history.iter().all(|a| !a.events.is_empty()), "{config:?}: an empty append");
            assert_eq!(history.iter().map(|a| a.events.len()).sum::<usize>(), config.events, "{config:?}");
        }
    }

    #[test]
    fn every_event_decodes_and_lives_on_the_stream_it_is_about() {
        for append in generate(HistoryConfig::realistic(20_000, 11)) {
            let stream = &append.stream;
            for stored in &append.events {
                let event = decode(stored);
                assert_eq!(event.event_type(), stored.event_type);
                assert_eq!(event.schema_version(), stored.schema_version);
                let id_field = |field: &str| stored.payload[field].as_str().map(str::to_owned);
                match stream.category() {
                    "user" => assert_eq!(id_field("user_id").as_deref(), Some(stream.id()), "{}", stored.event_type),
                    "room" => assert_eq!(id_field("room_id").as_deref(), Some(stream.id()), "{}", stored.event_type),
                    "nick" => assert_eq!(id_field("nick").map(|n| n.to_ascii_lowercase()).as_deref(), Some(stream.id())),
                    "phone" => assert_eq!(id_field("phone").map(|p| StreamName::phone(&p)).as_ref(), Some(stream)),
                    "quotes" => assert!(stored.event_type.starts_with("quote."), "{}", stored.event_type),
                    other => panic!("unexpected stream category {other}"),
                }
                assert!(stored.event_type.starts_with(stream.category().trim_end_matches('s')), "{} on {stream}", stored.event_type);
            }
        }
    }

    #[test]
    fn messages_are_from_present_members_through_the_gateway_they_joined_by() {
        // Replays joins and departures only: who is in which room, and how they came.
        let mut present: HashMap<Uuid, HashMap<Uuid, Gateway>> = HashMap::new();
        let mut bots: HashSet<Uuid> = HashSet::new();
        let mut messages = 0;
        for append in generate(HistoryConfig::realistic(30_000, 5)) {
            for stored in &append.events {
                match decode(stored) {
                    Event::MemberJoined(e) if e.is_bot => assert!(bots.insert(e.room_id)),
                    Event::MemberJoined(e) => {
                        let user = e.member.user_id.expect("members are users");
                        assert!(present.entry(e.room_id).or_default().insert(user, e.gateway).is_none(), "joined twice");
                    }
                    Event::MemberLeft(e) => {
                        let user = e.member.user_id.expect("members are users");
                        assert!(present.entry(e.room_id).or_default().remove(&user).is_some(), "left without being there");
                    }
                    Event::MessagePosted(e) => {
                        messages += 1;
                        match e.author_id {
                            Some(author) => {
                                let joined_by = present.get(&e.room_id).and_then(|m| m.get(&author));
                                assert_eq!(joined_by, Some(&e.gateway), "message from a non-member or through another gateway");
                                assert_eq!(stored.metadata.actor, Actor::User(author));
                            }
                            None => assert!(bots.contains(&e.room_id), "the bot speaks where it is"),
                        }
                    }
                    _ => {}
                }
            }
        }
        assert!(messages > 20_000, "{messages} messages");
    }

    #[test]
    fn most_events_are_messages_and_the_rest_is_varied() {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let history = generate(HistoryConfig::realistic(60_000, 3));
        for stored in history.iter().flat_map(|a| &a.events) {
            *counts.entry(stored.event_type.clone()).or_default() += 1;
        }
        let share = counts["room.message_posted"] as f64 / 60_000.0;
        assert!((0.7..0.9).contains(&share), "messages are {share:.2} of the events: {counts:?}");
        let expected = [
            "user.registered",
            "user.nick_changed",
            "user.phone_bound",
            "user.privacy_changed",
            "user.level_changed",
            "user.sms_stopped",
            "user.sms_started",
            "nick.reserved",
            "nick.released",
            "phone.reserved",
            "room.created",
            "room.irc_channel_bound",
            "room.sms_number_bound",
            "room.topic_set",
            "room.member_joined",
            "room.member_left",
            "room.member_kicked",
            "room.message_posted",
            "room.mute_set",
            "room.mute_lifted",
            "room.personal_mute_set",
            "room.personal_mute_lifted",
            "room.user_banned",
            "room.user_unbanned",
            "room.ban_requested",
            "room.ban_request_approved",
            "room.ban_request_rejected",
            "room.invite_issued",
            "room.invite_accepted",
            "room.channel_mode_changed",
            "quote.added",
            "quote.deleted",
        ];
        for event_type in expected {
            assert!(counts.contains_key(event_type), "no {event_type} in {counts:?}");
        }
    }

    #[test]
    fn the_history_obeys_the_rules_as_the_aggregates_fold_it() {
        let history = generate(HistoryConfig::realistic(60_000, 9));
        let mut referee = Referee::default();
        // Timed bans and mutes last at least an hour from the generator's base: all in force now.
        let now = Utc::now();
        let last = history.len() - 1;
        for (i, append) in history.iter().enumerate() {
            // The last append may be cut short, so what must follow within it may be missing.
            referee.judge(append, now, i < last).unwrap_or_else(|e| panic!("append {i} on {}: {e}", append.stream));
        }
    }

    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }

    /// Folds the history with the aggregates' own `evolve` and checks every event against the
    /// state it would have been decided on: the rules of `decide` that the generator mirrors,
    /// plus a few of the generator's own (one ban per person, no re-mute of someone muted).
    #[derive(Default)]
    struct Referee {
        users: HashMap<Uuid, User>,
        rooms: HashMap<Uuid, Room>,
        nicks: HashMap<String, NickReservation>,
        phones: HashMap<String, PhoneReservation>,
        quotes: QuoteBook,
    }

    fn fold<A: Aggregate<Event = Event>>(state: &mut A, event: &Event) {
        *state = std::mem::take(state).evolve(event);
    }

    /// The first unaccepted invitation a join matches, in id order, as `Room::join` finds it.
    fn first_matching_invite(room: &Room, joined: &MemberJoined) -> Option<Uuid> {
        room.invites
            .iter()
            .find(|(_, i)| {
                !i.accepted
                    && match &i.invitee {
                        Invitee::User { user_id } => joined.member.user_id == Some(*user_id),
                        Invitee::Phone { phone } => joined.phone.as_ref() == Some(phone),
                    }
            })
            .map(|(id, _)| *id)
    }

    impl Referee {
        fn judge(&mut self, append: &GeneratedAppend, now: DateTime<Utc>, complete: bool) -> Result<(), String> {
            let events: Vec<Event> = append.events.iter().map(decode).collect();
            for (i, event) in events.iter().enumerate() {
                let next = if complete { events.get(i + 1) } else { None };
                let meta = &append.events[i].metadata;
                self.check(&append.stream, &meta.actor, event, next, now).map_err(|e| format!("{}: {e}", event.event_type()))?;
                self.apply(&append.stream, event);
            }
            Ok(())
        }

        fn apply(&mut self, stream: &StreamName, event: &Event) {
            let id = || stream.id().parse::<Uuid>().expect("a uuid stream id");
            match stream.category() {
                "user" => fold(self.users.entry(id()).or_default(), event),
                "room" => fold(self.rooms.entry(id()).or_default(), event),
                "nick" => fold(self.nicks.entry(stream.id().to_owned()).or_default(), event),
                "phone" => fold(self.phones.entry(stream.id().to_owned()).or_default(), event),
                "quotes" => fold(&mut self.quotes, event),
                other => panic!("unexpected stream category {other}"),
            }
        }

        fn user(&self, id: Uuid) -> Result<&User, String> {
            self.users.get(&id).filter(|u| u.is_registered()).ok_or_else(|| format!("user {id} is not registered"))
        }

        fn level(&self, actor: &Actor) -> Level {
            match actor {
                Actor::User(id) => self.users.get(id).map_or(Level::Guest, |u| u.level),
                Actor::System => Level::Superuser,
                Actor::Anonymous => Level::Guest,
            }
        }

        fn outranks(&self, caller: &Actor, target: Uuid) -> Result<bool, String> {
            let caller = self.level(caller);
            Ok(caller == Level::Superuser || self.user(target)?.level < caller)
        }

        fn nick_holder(&self, nick: &Nick) -> Option<Uuid> {
            self.nicks.get(&nick.casefold()).and_then(|n| n.holder)
        }

        fn phone_holder(&self, phone: &PhoneNumber) -> Option<Uuid> {
            self.phones.get(StreamName::phone(phone.as_str()).id()).and_then(|p| p.holder)
        }

        fn check(&self, stream: &StreamName, actor: &Actor, event: &Event, next: Option<&Event>, now: DateTime<Utc>) -> Result<(), String> {
            if let Actor::User(id) = actor {
                self.user(*id)?;
            }
            match event {
                Event::NickReserved(e) => ensure!(self.nick_holder(&e.nick).is_none(), "{} is already held", e.nick),
                Event::NickReleased(e) => ensure!(self.nick_holder(&e.nick) == Some(e.user_id), "released by a non-holder"),
                Event::PhoneReserved(e) => ensure!(self.phone_holder(&e.phone).is_none(), "the phone is already held"),
                Event::UserRegistered(e) => {
                    ensure!(self.user(e.user_id).is_err(), "registered twice");
                    ensure!(self.nick_holder(&e.nick) == Some(e.user_id), "the nick was not reserved first");
                }
                Event::PhoneBound(e) => {
                    ensure!(self.phone_holder(&e.phone) == Some(e.user_id), "the phone was not reserved first");
                    ensure!(self.user(e.user_id)?.phone.is_none(), "a second phone");
                }
                Event::NickChanged(e) => {
                    ensure!(self.user(e.user_id)?.nick.as_ref() == Some(&e.old), "the old nick is not the current one");
                    ensure!(self.nick_holder(&e.new) == Some(e.user_id), "the new nick was not reserved first");
                    ensure!(*actor == Actor::User(e.user_id), "someone else changed the nick");
                }
                Event::PrivacyChanged(e) => {
                    ensure!(self.user(e.user_id)?.private != e.private, "no change");
                    ensure!(*actor == Actor::User(e.user_id), "only the user changes their privacy");
                }
                Event::LevelChanged(e) => {
                    let target = self.user(e.user_id)?.level;
                    ensure!(target == e.from && e.from != e.to, "from {:?} while at {target:?}", e.from);
                    ensure!(e.by == *actor, "`by` is not the actor");
                    if *actor != Actor::System {
                        let caller = self.level(actor);
                        ensure!(caller >= Level::Operator, "a {caller:?} changed a level");
                        ensure!(caller == Level::Superuser || (e.to <= caller && target < caller), "{caller:?} cannot do that");
                    }
                }
                Event::SmsStopped(e) => {
                    let user = self.user(e.user_id)?;
                    ensure!(user.phone.is_some() && user.sms_receiving, "stopped while not receiving");
                }
                Event::SmsStarted(e) => {
                    let user = self.user(e.user_id)?;
                    ensure!(user.phone.is_some() && !user.sms_receiving, "started while receiving");
                }
                Event::QuoteAdded(e) => {
                    ensure!(e.quote_id == self.quotes.last_id + 1, "quote ids must be sequential");
                    ensure!(e.added_by == *actor && self.level(actor) >= Level::Member, "added by a guest");
                    let duplicate = self
                        .quotes
                        .quotes
                        .values()
                        .any(|q| !q.deleted && q.nick.casefold() == e.nick.casefold() && q.text.dedup_key() == e.text.dedup_key());
                    ensure!(!duplicate, "a duplicate quote");
                }
                Event::QuoteDeleted(e) => {
                    let quote = self.quotes.quotes.get(&e.quote_id).filter(|q| !q.deleted).ok_or("no such live quote")?;
                    ensure!(quote.added_by == *actor || self.level(actor) >= Level::Operator, "not allowed to delete");
                }
                Event::RoomCreated(e) => {
                    ensure!(!self.rooms.contains_key(&e.room_id), "created twice");
                    ensure!(self.level(actor) >= Level::Staff, "created by a non-staff");
                }
                _ if stream.category() == "room" => {
                    let id = stream.id().parse::<Uuid>().map_err(|e| e.to_string())?;
                    let room = self.rooms.get(&id).filter(|r| r.room_id.is_some()).ok_or("no such room")?;
                    self.check_room(room, actor, event, next, now)?;
                }
                _ => {}
            }
            Ok(())
        }

        fn check_room(&self, room: &Room, actor: &Actor, event: &Event, next: Option<&Event>, now: DateTime<Utc>) -> Result<(), String> {
            let level = self.level(actor);
            match event {
                Event::IrcChannelBound(_) => ensure!(room.irc_channel.is_none() && level >= Level::Staff, "bound twice or by non-staff"),
                Event::SmsNumberBound(_) => ensure!(room.sms_number.is_none() && level >= Level::Staff, "bound twice or by non-staff"),
                Event::TopicSet(e) => {
                    ensure!(level >= Level::Operator && room.topic.as_ref() != Some(&e.topic), "not an operator or no change")
                }
                Event::InviteAccepted(e) => {
                    if let Some(next) = next {
                        let Event::MemberJoined(joined) = next else { return Err("not followed by its join".into()) };
                        ensure!(joined.invite_id == Some(e.invite_id) && joined.member.user_id == Some(e.user_id), "another join follows");
                        ensure!(first_matching_invite(room, joined) == Some(e.invite_id), "not the invitation the room would consume");
                    }
                }
                Event::MemberJoined(e) => {
                    ensure!(!room.members.contains_key(&MemberKey::of(&e.member)), "joined twice");
                    if e.is_bot {
                        ensure!(*actor == Actor::System, "only the system joins as the bot");
                        return Ok(());
                    }
                    let user_id = e.member.user_id.ok_or("a guest joined")?;
                    let user = self.user(user_id)?;
                    ensure!(*actor == Actor::User(user_id), "joined by someone else");
                    ensure!(user.nick.as_ref().is_some_and(|n| n.as_str() == e.member.nick.as_str()), "not under their nick");
                    ensure!(room.is_banned(Some(user_id), e.member.nick.as_str(), e.mask.as_ref(), now).is_none(), "a banned user joined");
                    match e.gateway {
                        Gateway::Sms => ensure!(
                            room.sms_number.is_some() && e.phone.is_some() && e.phone == user.phone && e.mask.is_none(),
                            "an SMS join without the room's number or the user's phone"
                        ),
                        Gateway::Irc => ensure!(e.mask.is_some() && e.phone.is_none(), "an IRC join without a mask"),
                        other => return Err(format!("joined through {other}")),
                    }
                    match e.invite_id {
                        Some(id) => {
                            ensure!(room.invites.get(&id).is_some_and(|i| i.accepted), "the invitation was not accepted with the join")
                        }
                        None => {
                            ensure!(first_matching_invite(room, e).is_none(), "a pending invitation was not consumed");
                            let admitted = user.level >= Level::Staff || (e.gateway == Gateway::Irc && user.level >= Level::Member);
                            ensure!(!room.invite_only || admitted, "a {:?} joined an invite-only room uninvited", user.level);
                        }
                    }
                }
                Event::MemberLeft(e) => {
                    let present = room.find_member(&e.member).is_some_and(|(_, m)| m.member == e.member && !m.is_bot);
                    ensure!(present, "left without being present (or named otherwise than at the join)");
                }
                Event::MemberKicked(e) => {
                    let (_, member) = room.find_member(&e.member).ok_or("kicked a non-member")?;
                    ensure!(!member.is_bot && member.member == e.member, "kicked the bot or named otherwise");
                    let target = e.member.user_id.ok_or("kicked a guest")?;
                    ensure!(e.by == *actor && level >= Level::Operator && self.outranks(actor, target)?, "may not kick");
                    if let Some(next) = next {
                        let left = matches!(next, Event::MemberLeft(l) if l.member == e.member && l.reason == LeaveReason::Kick);
                        ensure!(left, "a kick without its departure");
                    }
                }
                Event::MessagePosted(e) => match e.author_id {
                    Some(author) => {
                        let member = room.members.get(&MemberKey::User(author)).ok_or("a message from a non-member")?;
                        ensure!(member.gateway == e.gateway, "through another gateway than the join's");
                        ensure!(*actor == Actor::User(author), "posted by someone else");
                        let nick = self.user(author)?.nick.as_ref().map(Nick::as_str);
                        ensure!(nick == Some(e.author_nick.as_str()), "not under the author's current nick");
                        ensure!(
                            room.is_banned(Some(author), e.author_nick.as_str(), member.mask.as_ref(), now).is_none(),
                            "from a banned user"
                        );
                        ensure!(room.room_mute(&MemberKey::User(author), now).is_none(), "from a muted member");
                        ensure!((5..=300).contains(&e.body.as_str().len()), "a body of {} bytes", e.body.as_str().len());
                    }
                    None => ensure!(e.author_nick.as_str() == BOT_NICK && level >= Level::Staff, "the bot speaks for staff only"),
                },
                Event::RoomMuteSet(e) => {
                    let (key, member) = room.find_member(&e.target).ok_or("muted a non-member")?;
                    ensure!(!member.is_bot && member.member == e.target, "muted the bot or named otherwise");
                    ensure!(room.room_mute(key, now).is_none(), "muted twice");
                    let target = e.target.user_id.ok_or("muted a guest")?;
                    ensure!(e.by == *actor && level >= Level::Operator && self.outranks(actor, target)?, "may not mute");
                }
                Event::RoomMuteLifted(e) => {
                    ensure!(room.room_mute(&MemberKey::of(&e.target), now).is_some(), "lifted a mute not in force");
                    ensure!(e.by == *actor && level >= Level::Operator, "may not unmute");
                }
                Event::PersonalMuteSet(e) => {
                    ensure!(room.sms_number.is_some(), "a personal mute outside an SMS room");
                    ensure!(room.is_member(e.muter) && room.is_member(e.mutee) && e.muter != e.mutee, "not both members");
                    ensure!(!room.has_muted(e.muter, e.mutee) && *actor == Actor::User(e.muter), "muted twice or by another");
                }
                Event::PersonalMuteLifted(e) => {
                    ensure!(room.is_member(e.muter) && room.is_member(e.mutee), "not both members");
                    ensure!(room.has_muted(e.muter, e.mutee) && *actor == Actor::User(e.muter), "lifted what was not set");
                }
                Event::UserBanned(e) => {
                    let BanTarget::User { user_id } = e.target else { return Err("a mask ban".into()) };
                    ensure!(room.is_banned(Some(user_id), "-", None, now).is_none(), "banned twice");
                    ensure!(e.by == *actor && level >= Level::Operator && self.outranks(actor, user_id)?, "may not ban");
                    if let Some(next) = next {
                        let leaves =
                            matches!(next, Event::MemberLeft(l) if l.member.user_id == Some(user_id) && l.reason == LeaveReason::Banned);
                        ensure!(room.is_member(user_id) == leaves, "a present member must leave with the ban, nobody else");
                    } else if room.is_member(user_id) {
                        ensure!(false, "a present member banned without leaving");
                    }
                }
                Event::UserUnbanned(e) => {
                    let ban = room.bans.get(&e.ban_id).ok_or("no such ban")?;
                    ensure!(ban.is_active(now) && ban.target == e.target, "lifted a ban not in force");
                    ensure!(e.by == *actor && level >= Level::Operator, "may not unban");
                }
                Event::BanRequested(e) => {
                    ensure!(level >= Level::Member && e.by == *actor, "requested by a guest");
                    ensure!(!room.ban_requests.contains_key(&e.request_id), "requested twice");
                }
                Event::BanRequestApproved(e) => {
                    let request = room.ban_requests.get(&e.request_id).ok_or("no such request")?;
                    ensure!(request.status == domain::aggregates::room::BanRequestStatus::Open, "decided twice");
                    ensure!(level >= Level::Staff && e.by == *actor, "approved by non-staff");
                    if let Some(next) = next {
                        let bans = matches!(next, Event::UserBanned(b) if b.ban_id == e.ban_id && b.target == request.target);
                        ensure!(bans, "an approval without its ban");
                    }
                }
                Event::BanRequestRejected(e) => {
                    let request = room.ban_requests.get(&e.request_id).ok_or("no such request")?;
                    ensure!(request.status == domain::aggregates::room::BanRequestStatus::Open, "decided twice");
                    ensure!(level >= Level::Staff && e.by == *actor, "rejected by non-staff");
                }
                Event::InviteIssued(e) => {
                    let Actor::User(inviter) = actor else { return Err("invited by a non-user".into()) };
                    ensure!(room.is_member(*inviter) && e.by == *actor, "the inviter is not a member");
                    let already = match &e.invitee {
                        Invitee::User { user_id } => room.is_member(*user_id),
                        Invitee::Phone { phone } => room.members.values().any(|m| m.phone.as_ref() == Some(phone)),
                    };
                    ensure!(!already, "invited a member");
                }
                Event::ChannelModeChanged(e) => {
                    ensure!(level >= Level::Operator && e.by == *actor, "modes need an operator");
                    ensure!(e.nick.as_str() != BOT_NICK, "a mode on the bot");
                    if matches!(e.mode, ChannelMode::Devoice | ChannelMode::Deop) {
                        let fold = e.nick.casefold();
                        let target =
                            self.users.values().find(|u| u.nick.as_ref().is_some_and(|n| n.casefold() == fold)).ok_or("no such nick")?;
                        ensure!(level == Level::Superuser || target.level < level, "took a mode from someone not outranked");
                    }
                }
                _ => {}
            }
            Ok(())
        }
    }
}
