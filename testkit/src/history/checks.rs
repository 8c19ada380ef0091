//! Checks of the generator: determinism, sizes and shape, and — folding the output with the
//! aggregates' own `evolve` — that every event obeys the rules of the state it was decided on.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::events::{BanTarget, ChannelMode, Invitee, LeaveReason, MemberJoined};
use domain::{
    Actor, Aggregate, Event, EventCodec, Gateway, Level, MemberKey, Metadata, Nick, NickReservation, PhoneNumber, PhoneReservation,
    QuoteBook, Room, StreamName, User,
};
use serde_json::Value;
use store::NewEvent;
use uuid::Uuid;

use super::config::BOT_NICK;
use super::{GeneratedAppend, HistoryConfig, HistoryGenerator};

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
                let mutee = MemberKey::of_mutee(&e.mutee);
                ensure!(room.is_member(e.muter) && room.members.contains_key(&mutee), "not both members");
                ensure!(mutee != MemberKey::User(e.muter), "muted themself");
                ensure!(!room.has_muted(e.muter, &mutee) && *actor == Actor::User(e.muter), "muted twice or by another");
            }
            Event::PersonalMuteLifted(e) => {
                let mutee = MemberKey::of_mutee(&e.mutee);
                ensure!(room.is_member(e.muter) && room.members.contains_key(&mutee), "not both members");
                ensure!(room.has_muted(e.muter, &mutee) && *actor == Actor::User(e.muter), "lifted what was not set");
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
