//! The command handlers without a server. The bot's memory ([`BotState`]) is the real one, its
//! outbox records the lines it would send, and the backend ([`Memory`]) folds the domain's
//! aggregates in memory with their real `decide` and `evolve`, so every rule met here is the
//! one production meets. What only a projection answers (last seen, quotes, info items) is a
//! canned row set by the test, which then asserts what the handler makes of it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use domain::events::{MemberRef, TokenPurpose};
use domain::{
    Actor, Aggregate, Context, Event, EventCodec, Gateway, InfoCommand, InfoItem, InfoKey, IrcChannel, Joining, Level, Nick, NickCommand,
    NickReservation, QuoteBook, QuoteCommand, Room, RoomCommand, RoomName, StreamName, TokenHash, User, UserCommand,
};
use projections::queries::{BoundChannel, InfoEntry, Quote, Sighting};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{Asker, Failure, Handlers};
use crate::irc::bot::backend::Backend;
use crate::irc::bot::control::{ControlJob, ControlJobs, ControlQueue};
use crate::irc::bot::state::BotState;
use crate::irc::command;
use crate::irc::input::Source;
use crate::irc::outbox::Outbox;
use crate::irc::settings::IrcSettings;

mod account;
mod lookups;
mod moderation;
mod seen_quotes_info;
mod staff;

/// The bot's nick in these tests.
const BOT: &str = "switchboard";
/// The bound channel most tests happen on.
const LOBBY: &str = "#lobby";

/// Streams folded in memory, and the canned rows of the read models.
#[derive(Default)]
pub struct Memory {
    streams: Mutex<BTreeMap<String, Vec<Event>>>,
    sighting: Mutex<Option<Sighting>>,
    quotes: Mutex<Vec<Quote>>,
    info: Mutex<Option<InfoEntry>>,
    /// When set, a login waits for it before it is decided (to have something happen meanwhile).
    login_gate: Mutex<Option<Arc<Notify>>>,
    /// When set, the last-seen read model is unavailable.
    last_seen_down: AtomicBool,
}

impl Memory {
    fn fold<A: Aggregate<Event = Event>>(&self, stream: &StreamName) -> A {
        let streams = self.streams.lock().unwrap();
        streams.get(stream.as_str()).into_iter().flatten().fold(A::default(), |state, event| state.evolve(event))
    }

    /// Decides on the stream's folded state and appends the outcome, as the executor does.
    fn decide<A: Aggregate<Event = Event>>(
        &self,
        stream: &StreamName,
        command: &A::Command,
        actor: Actor,
    ) -> Result<(Vec<Event>, A), Failure> {
        let state = self.fold::<A>(stream);
        let events = state.decide(command, &Context::new(Utc::now(), actor)).map_err(|refusal| Failure::Say(refusal.to_string()))?;
        let state = events.iter().fold(state, |state, event| state.evolve(event));
        self.streams.lock().unwrap().entry(stream.as_str().to_owned()).or_default().extend(events.iter().cloned());
        Ok((events, state))
    }

    /// Everything appended to a stream, by stored event type.
    fn types(&self, stream: &StreamName) -> Vec<&'static str> {
        self.streams.lock().unwrap().get(stream.as_str()).into_iter().flatten().map(|e| e.event_type()).collect()
    }

    fn last(&self, stream: &StreamName) -> Option<Event> {
        self.streams.lock().unwrap().get(stream.as_str()).and_then(|events| events.last().cloned())
    }

    fn users(&self) -> Vec<(Uuid, User)> {
        let ids: Vec<Uuid> = {
            let streams = self.streams.lock().unwrap();
            streams.keys().filter_map(|name| name.strip_prefix("user-")).filter_map(|id| id.parse().ok()).collect()
        };
        ids.into_iter().map(|id| (id, self.fold::<User>(&StreamName::user(id)))).collect()
    }
}

impl Backend for Memory {
    async fn user(&self, user_id: Uuid) -> Result<User, Failure> {
        Ok(self.fold(&StreamName::user(user_id)))
    }

    async fn share_a_room(&self, a: Uuid, b: Uuid) -> Result<bool, Failure> {
        let rooms: Vec<String> = self.streams.lock().unwrap().keys().filter(|name| name.starts_with("room-")).cloned().collect();
        Ok(rooms.iter().filter_map(|name| StreamName::parse(name).ok()).any(|stream| {
            let room = self.fold::<Room>(&stream);
            room.is_member(a) && room.is_member(b)
        }))
    }

    async fn is_member(&self, room_id: Uuid, user_id: Uuid) -> Result<bool, Failure> {
        Ok(self.fold::<Room>(&StreamName::room(room_id)).is_member(user_id))
    }

    async fn nick_holder(&self, nick: &str) -> Result<Option<Uuid>, Failure> {
        Ok(self.fold::<NickReservation>(&StreamName::nick(&nick.to_ascii_lowercase())).holder)
    }

    async fn execute_user(&self, user_id: Uuid, command: &UserCommand, actor: Actor) -> Result<(Vec<Event>, User), Failure> {
        let gate = self.login_gate.lock().unwrap().clone();
        if let (UserCommand::LoginIrc { .. }, Some(gate)) = (command, gate) {
            gate.notified().await;
        }
        self.decide(&StreamName::user(user_id), command, actor)
    }

    async fn execute_quotes(&self, command: &QuoteCommand, actor: Actor) -> Result<Vec<Event>, Failure> {
        Ok(self.decide::<QuoteBook>(&StreamName::quotes(), command, actor)?.0)
    }

    async fn execute_info(&self, item: &InfoKey, command: &InfoCommand, actor: Actor) -> Result<Vec<Event>, Failure> {
        Ok(self.decide::<InfoItem>(&StreamName::info(&item.casefold()), command, actor)?.0)
    }

    async fn execute_room(&self, room_id: Uuid, command: RoomCommand, actor: Actor) -> Result<Vec<Event>, Failure> {
        Ok(self.decide::<Room>(&StreamName::room(room_id), &command, actor)?.0)
    }

    async fn room(&self, room_id: Uuid) -> Result<Room, Failure> {
        Ok(self.fold(&StreamName::room(room_id)))
    }

    /// As the read model: the account that was issued the token, whatever became of it.
    async fn token_owner(&self, token: &TokenHash) -> Result<Option<Uuid>, Failure> {
        let streams = self.streams.lock().unwrap();
        let mut issued = streams.values().flatten().filter_map(|e| match e {
            Event::IrcTokenIssued(issued) if issued.token_hash.as_str() == token.as_str() => Some(issued.user_id),
            _ => None,
        });
        Ok(issued.next_back())
    }

    /// As the read model: the registered IRC nick first, then the account nick.
    async fn user_by_irc_nick(&self, nick: &str) -> Result<Option<Uuid>, Failure> {
        let users = self.users();
        let by_identity = users.iter().find(|(_, u)| u.irc_identity.as_ref().is_some_and(|(n, _)| n.as_str().eq_ignore_ascii_case(nick)));
        let by_nick = || users.iter().find(|(_, u)| u.nick.as_ref().is_some_and(|n| n.as_str().eq_ignore_ascii_case(nick)));
        Ok(by_identity.or_else(by_nick).map(|(id, _)| *id))
    }

    async fn last_seen(&self, nick: &str) -> Result<Option<Sighting>, Failure> {
        if self.last_seen_down.load(Ordering::SeqCst) {
            return Err(Failure::Internal("read.last_seen: connection refused".into()));
        }
        Ok(self.sighting.lock().unwrap().clone().filter(|s| s.nick.eq_ignore_ascii_case(nick)))
    }

    async fn random_quote(&self) -> Result<Option<Quote>, Failure> {
        Ok(self.quotes.lock().unwrap().first().cloned())
    }

    async fn quote(&self, id: i64) -> Result<Option<Quote>, Failure> {
        Ok(self.quotes.lock().unwrap().iter().find(|q| q.quote_id == id).cloned())
    }

    async fn search_quotes(&self, _words: &str, limit: i64) -> Result<Vec<Quote>, Failure> {
        Ok(self.quotes.lock().unwrap().iter().take(limit as usize).cloned().collect())
    }

    async fn info_item(&self, item: &str) -> Result<Option<InfoEntry>, Failure> {
        Ok(self.info.lock().unwrap().clone().filter(|i| i.item.eq_ignore_ascii_case(item)))
    }
}

/// Someone on IRC, `nick!nick@example.net`.
fn person(nick: &str) -> Source {
    Source { nick: nick.to_owned(), user: nick.to_owned(), host: "example.net".to_owned() }
}

/// A bot with its memory, a recording outbox and an in-memory Switchboard.
struct World {
    state: BotState,
    memory: Memory,
    lines: Arc<Mutex<Vec<String>>>,
    jobs: ControlJobs,
    /// The room bound to [`LOBBY`].
    lobby: Uuid,
}

impl World {
    async fn new() -> Self {
        let settings = IrcSettings { nick: BOT.into(), public_url: "https://switchboard.example/".into(), ..IrcSettings::default() };
        let (outbox, lines) = Outbox::recording(BOT);
        let (control, jobs) = ControlQueue::new(settings.control_queue);
        let mut world =
            World { state: BotState::new(settings, outbox, control), memory: Memory::default(), lines, jobs, lobby: Uuid::nil() };
        world.lobby = world.bound_channel(LOBBY, false).await;
        world
    }

    fn handlers(&self) -> Handlers<'_, Memory> {
        Handlers { state: &self.state, backend: &self.memory }
    }

    /// `who` says `line` to the bot, in `channel` or privately; the answer is recorded as the
    /// control task gives it (a refusal or a usage error is said back).
    async fn says(&self, who: &Source, channel: Option<&str>, line: &str) {
        let asker = Asker { who: who.clone(), channel: channel.map(str::to_owned) };
        match command::parse(&self.state.settings.prefix, line).expect("a line addressed to the bot") {
            Ok(command) => {
                if let Err(failure) = self.handlers().handle(&asker, command).await {
                    self.state.answer_failure(&asker, failure);
                }
            }
            Err(error) => self.state.reply(&asker, &error.reply(&self.state.settings.prefix)),
        }
    }

    /// The lines sent since the last call.
    fn sent(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }

    /// Session ends queued for the control task since the last call.
    fn ended_sessions(&mut self) -> Vec<(Uuid, domain::events::SessionEndReason)> {
        let mut ended = Vec::new();
        while let Some(job) = self.jobs.try_recv() {
            if let ControlJob::EndSession(session, reason) = job {
                ended.push((session.user_id, reason));
            }
        }
        ended
    }

    /// A room created by the system and bound to `channel`, with the bot on it.
    async fn bound_channel(&self, channel: &str, invite_only: bool) -> Uuid {
        let room_id = Uuid::now_v7();
        let name = RoomName::parse(channel.trim_start_matches('#')).unwrap();
        let create = RoomCommand::Create { room_id, name, invite_only, caller_level: Level::Superuser };
        self.memory.execute_room(room_id, create, Actor::System).await.unwrap();
        let bind = RoomCommand::BindIrcChannel { channel: IrcChannel::parse(channel).unwrap(), key: None, caller_level: Level::Superuser };
        self.memory.execute_room(room_id, bind, Actor::System).await.unwrap();
        self.state.channels.bind(BoundChannel { room_id, channel: channel.to_owned(), key: None, invite_only });
        self.state.presence.bot_joined(channel);
        room_id
    }

    /// An account holding `nick` at `level`, as sign-up and an admin's grant leave it.
    async fn account(&self, nick: &str, level: Level) -> Uuid {
        let user_id = Uuid::now_v7();
        let account_nick = Nick::parse(nick).unwrap();
        let reserve = NickCommand::Reserve { nick: account_nick.clone(), user_id };
        self.memory.decide::<NickReservation>(&StreamName::nick(&account_nick.casefold()), &reserve, Actor::System).unwrap();
        let register = UserCommand::Register { user_id, nick: account_nick, gateway: Gateway::Api };
        self.memory.execute_user(user_id, &register, Actor::System).await.unwrap();
        if level != Level::Guest {
            let grant = UserCommand::ChangeLevel { to: level, caller_level: Level::Superuser };
            self.memory.execute_user(user_id, &grant, Actor::System).await.unwrap();
        }
        user_id
    }

    /// Issues an IRC token of `purpose` for `user_id`, as GraphQL's `issueIrcToken` does.
    async fn token(&self, user_id: Uuid, purpose: TokenPurpose, secret: &str) {
        let issue = UserCommand::IssueIrcToken {
            token_id: Uuid::now_v7(),
            token_hash: TokenHash::of_secret(secret),
            purpose,
            expires_at: Utc::now() + TimeDelta::hours(1),
        };
        self.memory.execute_user(user_id, &issue, Actor::User(user_id)).await.unwrap();
    }

    /// `who` joins `channel`: present for the bot and a member of the room.
    async fn joins(&self, who: &Source, channel: &str) {
        self.state.presence.arrived(&who.nick, channel);
        let room_id = self.state.channel(channel).unwrap().room_id;
        let member = self.state.member_ref(who).unwrap();
        let level = if self.state.session_of(who).is_some() { Level::Member } else { Level::Guest };
        let joining =
            Joining { member, mask: who.mask(), phone: None, gateway: Gateway::Irc, caller_level: level, as_bot: false, nick_holder: None };
        self.memory.execute_room(room_id, RoomCommand::Join(joining), self.state.actor(who)).await.unwrap();
    }

    /// Someone with an account at `level`, on the lobby, registered and logged in on IRC the
    /// way people do it (`.register`, `.login` in private messages).
    async fn logged_in(&mut self, nick: &str, level: Level) -> (Source, Uuid) {
        let who = person(nick);
        let user_id = self.account(nick, level).await;
        self.token(user_id, TokenPurpose::Register, &format!("register-{nick}")).await;
        self.says(&who, None, &format!(".register register-{nick}")).await;
        self.joins(&who, LOBBY).await;
        self.token(user_id, TokenPurpose::Login, &format!("login-{nick}")).await;
        self.says(&who, None, &format!(".login login-{nick}")).await;
        assert!(self.state.session_of(&who).is_some(), "{nick} logged in: {:?}", self.sent());
        self.sent();
        (who, user_id)
    }

    fn room_types(&self) -> Vec<&'static str> {
        self.memory.types(&StreamName::room(self.lobby))
    }

    fn room_events(&self) -> Vec<Event> {
        self.memory.streams.lock().unwrap().get(StreamName::room(self.lobby).as_str()).cloned().unwrap_or_default()
    }

    fn last_room_event(&self) -> Option<Event> {
        self.memory.last(&StreamName::room(self.lobby))
    }
}

fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::minutes(minutes)
}

fn member_ref(user_id: Option<Uuid>, nick: &str) -> MemberRef {
    MemberRef { user_id, nick: domain::DisplayNick::parse(nick).unwrap() }
}
