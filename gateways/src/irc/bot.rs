//! The bot's brain: what each thing said or done on IRC means for Switchboard.
//!
//! [`Bot::dispatch`] takes one [`IrcInput`] and returns quickly, so the connection keeps
//! reading: room activity (talk, joins, parts, kicks) is queued to the room's worker in server
//! order ([`super::rooms`]); commands to the bot, session ends and the like go to one control
//! task that handles them one at a time, in order. What the bot knows only in memory (who is
//! logged in from which `nick!user@host`, who is on which channel) is rebuilt on every
//! connection: a session never outlives the connection it was started on (SPEC §2.1), and
//! presence is re-read from NAMES after every (re)join.
//!
//! Replies: refusals say why (the domain's error text); internal errors are logged with an id
//! and the person only hears that something went wrong. Nothing internal reaches a channel.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::aggregates::user::{LoginOutcome, login_outcome};
use domain::events::{BanTarget, ChannelMode, LeaveReason, MemberRef, MessageKind, SessionEndReason};
use domain::{
    AboutText, Actor, DisplayNick, Event, Gateway, HostMask, InfoCommand, InfoItem, InfoKey, InfoText, IrcChannel, Joining, Level,
    MessageBody, Metadata, Nick, QuoteBook, QuoteCommand, QuoteText, Reason, RoomCommand, RoomName, Speaker, StreamName, TokenHash, Topic,
    User, UserCommand,
};
use projections::ReadModels;
use projections::queries::BoundChannel;
use store::{CommandExecutor, ExecuteError, PgEventStore};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::command::{self, BotCommand};
use super::input::{ChannelModeKind, IrcInput, SaidKind, Source};
use super::outbox::Outbox;
use super::rooms::{RoomFailure, RoomWorkers};
use super::settings::IrcSettings;

/// A live login: valid only for this `nick!user@host` on this connection.
#[derive(Debug, Clone)]
struct Session {
    user_id: Uuid,
    session_id: Uuid,
    mask: HostMask,
    last_activity: DateTime<Utc>,
}

/// Where a command came from and where its answer goes.
#[derive(Debug, Clone)]
struct Asker {
    who: Source,
    /// The channel it was said in; `None` for a private message.
    channel: Option<String>,
}

/// Why a command could not be carried out, mapped to what the person hears in one place
/// ([`Bot::answer_failure`]).
#[derive(Debug)]
enum Failure {
    /// A reason for the person (a refusal, a usage error).
    Say(String),
    /// Our fault: logged with an id, never shown.
    Internal(String),
}

impl<E: std::error::Error + 'static> From<ExecuteError<E>> for Failure {
    fn from(e: ExecuteError<E>) -> Self {
        match e {
            ExecuteError::Rejected(refusal) => Failure::Say(refusal.to_string()),
            other => Failure::Internal(other.to_string()),
        }
    }
}

impl From<RoomFailure> for Failure {
    fn from(e: RoomFailure) -> Self {
        match e {
            RoomFailure::Refused(refusal) => Failure::Say(refusal.to_string()),
            RoomFailure::Unavailable(reason) => Failure::Internal(reason),
        }
    }
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        Failure::Internal(e.to_string())
    }
}

impl From<projections::ProjectionError> for Failure {
    fn from(e: projections::ProjectionError) -> Self {
        Failure::Internal(e.to_string())
    }
}

impl From<domain::InvalidValue> for Failure {
    fn from(e: domain::InvalidValue) -> Self {
        Failure::Say(e.to_string())
    }
}

type Answer = Result<(), Failure>;

/// How often expired timed bans are looked for (their `-b` is at most this late).
const BAN_EXPIRY_SWEEP: Duration = Duration::from_secs(30);

/// How long an unknown token is looked for in the read model before it is refused.
const TOKEN_LOOKUP_PATIENCE: Duration = Duration::from_secs(3);

enum ControlJob {
    Command(Asker, BotCommand),
    /// A token typed in a channel: revoke it.
    LeakedToken(Source, String),
    EndSession(Session, SessionEndReason),
    /// The bot was kicked from a channel: rejoin with its key.
    Rejoin(String),
    TopicChanged(Source, String, String),
    ModeChanged(Source, String, Vec<super::input::ModeChange>),
}

struct Inner {
    settings: IrcSettings,
    executor: CommandExecutor<PgEventStore>,
    read: ReadModels,
    rooms: RoomWorkers,
    outbox: Outbox,
    /// Bound channels by casefolded name.
    channels: RwLock<HashMap<String, BoundChannel>>,
    /// Live sessions by casefolded nick.
    sessions: Mutex<HashMap<String, Session>>,
    /// Who is on which bound channel (casefolded nick → casefolded channels).
    presence: Mutex<HashMap<String, HashSet<String>>>,
    /// Channels the bot is on now (casefolded), so the relay waits for a rejoin instead of
    /// talking into a channel it is not in.
    joined: Mutex<HashSet<String>>,
    /// Nicks with a `.register`/`.login` being checked.
    token_checks: Mutex<HashSet<String>>,
    /// Bumped for a nick whenever something ends its sessions (QUIT, NICK, last PART, the
    /// bot's disconnect), so a login that was decided meanwhile can tell it came too late.
    epochs: Mutex<HashMap<String, u64>>,
    /// NAMES replies being collected, by casefolded channel.
    names: Mutex<HashMap<String, Vec<String>>>,
    control: mpsc::UnboundedSender<ControlJob>,
}

/// The IRC bot. Cheap to clone.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn metadata(actor: Actor) -> Metadata {
    Metadata::new(actor, Gateway::Irc)
}

impl Bot {
    /// Builds the bot and starts its control task and idle-session sweeper.
    pub fn start(settings: IrcSettings, store: PgEventStore, read: ReadModels) -> Self {
        let executor = CommandExecutor::new(Arc::new(store));
        let (control, jobs) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            settings,
            rooms: RoomWorkers::new(executor.clone()),
            executor,
            read,
            outbox: Outbox::default(),
            channels: RwLock::default(),
            sessions: Mutex::default(),
            presence: Mutex::default(),
            joined: Mutex::default(),
            token_checks: Mutex::default(),
            epochs: Mutex::default(),
            names: Mutex::default(),
            control,
        });
        let bot = Bot { inner };
        tokio::spawn(bot.clone().end_stale_sessions());
        tokio::spawn(bot.clone().control_loop(jobs));
        tokio::spawn(bot.clone().idle_sweeper());
        tokio::spawn(bot.clone().ban_expiry_sweeper());
        bot
    }

    pub fn settings(&self) -> &IrcSettings {
        &self.inner.settings
    }

    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    /// The channels to join: every room bound to IRC, re-read from the read model.
    pub async fn load_channels(&self) -> Result<Vec<BoundChannel>, projections::ProjectionError> {
        let bound = self.inner.read.irc_channels().await?;
        let mut channels = self.inner.channels.write().expect("channels lock");
        channels.clear();
        for channel in &bound {
            channels.insert(fold(&channel.channel), channel.clone());
        }
        Ok(bound)
    }

    /// Adds or removes a binding the bot learned of while running (relay of the log).
    pub fn bind(&self, channel: BoundChannel) {
        self.inner.channels.write().expect("channels lock").insert(fold(&channel.channel), channel);
    }

    pub fn unbind(&self, channel: &str) -> Option<BoundChannel> {
        self.inner.channels.write().expect("channels lock").remove(&fold(channel))
    }

    pub fn bound_channel_of(&self, room_id: Uuid) -> Option<BoundChannel> {
        self.inner.channels.read().expect("channels lock").values().find(|c| c.room_id == room_id).cloned()
    }

    /// A member just logged in: they are invited into every invite-only channel the bot is on
    /// (on IRC a live session is the invitation, SPEC §1).
    fn invite_to_closed_channels(&self, nick: &str) {
        let closed: Vec<String> =
            self.inner.channels.read().expect("channels lock").values().filter(|c| c.invite_only).map(|c| c.channel.clone()).collect();
        for channel in closed.into_iter().filter(|c| self.has_joined(c)) {
            self.inner.outbox.raw(&["INVITE", nick, &channel]);
        }
    }

    /// A room's invite-only flag changed: the channel follows (`+i` / `-i`).
    pub fn set_invite_only(&self, room_id: Uuid, invite_only: bool) {
        let channel = {
            let mut channels = self.inner.channels.write().expect("channels lock");
            let Some(bound) = channels.values_mut().find(|c| c.room_id == room_id) else { return };
            bound.invite_only = invite_only;
            bound.channel.clone()
        };
        if self.has_joined(&channel) {
            self.inner.outbox.raw(&["MODE", &channel, if invite_only { "+i" } else { "-i" }]);
        }
    }

    /// Whether a room is invite-only now (from its stream: a binding may arrive before the
    /// read model knows the room).
    pub async fn room_is_invite_only(&self, room_id: Uuid) -> bool {
        match self.inner.executor.load::<domain::Room>(&StreamName::room(room_id)).await {
            Ok((room, _)) => room.invite_only,
            Err(e) => {
                tracing::warn!(error = %e, %room_id, "room not readable; treating it as open");
                false
            }
        }
    }

    /// Whether the bot is on `channel` now.
    pub fn has_joined(&self, channel: &str) -> bool {
        self.inner.joined.lock().expect("joined lock").contains(&fold(channel))
    }

    fn channel(&self, name: &str) -> Option<BoundChannel> {
        self.inner.channels.read().expect("channels lock").get(&fold(name)).cloned()
    }

    fn is_me(&self, nick: &str) -> bool {
        nick.eq_ignore_ascii_case(&self.inner.outbox.nick())
    }

    fn session_of(&self, who: &Source) -> Option<Session> {
        let sessions = self.inner.sessions.lock().expect("sessions lock");
        let session = sessions.get(&fold(&who.nick))?;
        // Bound to nick!user@host: the same nick from elsewhere is someone else.
        who.mask().filter(|mask| *mask == session.mask).map(|_| session.clone())
    }

    fn member_ref(&self, who: &Source) -> Option<MemberRef> {
        let nick = DisplayNick::parse(&who.nick).ok()?;
        Some(MemberRef { user_id: self.session_of(who).map(|s| s.user_id), nick })
    }

    /// The member named by a nick in a moderation command (logged-in people by account).
    fn member_by_nick(&self, nick: &str) -> Result<MemberRef, Failure> {
        let display = DisplayNick::parse(nick)?;
        let user_id = self.inner.sessions.lock().expect("sessions lock").get(&fold(nick)).map(|s| s.user_id);
        Ok(MemberRef { user_id, nick: display })
    }

    fn actor(&self, who: &Source) -> Actor {
        self.session_of(who).map_or(Actor::Anonymous, |s| Actor::User(s.user_id))
    }

    /// The caller's level now: guests without a session, otherwise the account's current level
    /// (read from its stream, so a level changed a moment ago in GraphQL counts).
    async fn level_of(&self, who: &Source) -> Result<Level, Failure> {
        let Some(session) = self.session_of(who) else { return Ok(Level::Guest) };
        let (user, _) = self.inner.executor.load::<User>(&StreamName::user(session.user_id)).await?;
        Ok(user.level)
    }

    /// The level of whoever a nick names, for "the target must rank below the caller": the
    /// logged-in account, else the account owning that nick (staff who are not logged in on
    /// IRC, or are members by SMS, still outrank an operator), else a guest.
    async fn level_of_nick(&self, nick: &str) -> Result<Level, Failure> {
        let session_user = self.inner.sessions.lock().expect("sessions lock").get(&fold(nick)).map(|s| s.user_id);
        let user_id = match session_user {
            Some(user_id) => Some(user_id),
            None => self.inner.executor.load::<domain::NickReservation>(&StreamName::nick(&fold(nick))).await?.0.holder,
        };
        match user_id {
            Some(user_id) => Ok(self.inner.executor.load::<User>(&StreamName::user(user_id)).await?.0.level),
            None => Ok(Level::Guest),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Connection events

    /// The connection is up under `nick`.
    pub fn connected(&self, sender: irc::client::Sender, nick: &str) {
        self.inner.outbox.connect(sender, nick);
    }

    /// The connection dropped: every session ends (SPEC §2.1) and presence is unknown until the
    /// next NAMES.
    pub fn disconnected(&self) {
        self.inner.outbox.disconnect();
        let sessions: Vec<Session> = self.inner.sessions.lock().expect("sessions lock").drain().map(|(_, s)| s).collect();
        for session in sessions {
            let _ = self.inner.control.send(ControlJob::EndSession(session, SessionEndReason::Disconnect));
        }
        self.inner.presence.lock().expect("presence lock").clear();
        self.inner.joined.lock().expect("joined lock").clear();
        // Every nick's epoch moves on: a login decided across the disconnect is void.
        for epoch in self.inner.epochs.lock().expect("epochs lock").values_mut() {
            *epoch += 1;
        }
        *self.inner.epochs.lock().expect("epochs lock").entry(String::new()).or_default() += 1;
        self.inner.names.lock().expect("names lock").clear();
    }

    /// Acts on one line from the server. Returns quickly; the work is queued in order.
    pub async fn dispatch(&self, input: IrcInput) {
        match input {
            IrcInput::Welcome { nick } => self.inner.outbox.set_nick(&nick),
            IrcInput::Joined { who, channel } => self.joined(who, channel).await,
            IrcInput::Parted { who, channel, .. } => self.left(&who, &channel, LeaveReason::Part).await,
            IrcInput::Kicked { channel, nick, .. } if self.is_me(&nick) => {
                self.bot_left(&channel);
                let _ = self.inner.control.send(ControlJob::Rejoin(channel));
            }
            IrcInput::Kicked { channel, nick, .. } => {
                // Recorded as the member leaving by kick, whoever kicked (after `.kick` it finds
                // nobody left to remove; after a ban or an auto-ban it removes the presence).
                let who = Source { nick, user: String::new(), host: String::new() };
                self.left(&who, &channel, LeaveReason::Kick).await;
            }
            IrcInput::Quit { who, .. } => self.quit(who).await,
            IrcInput::NickChanged { who, new } => self.nick_changed(who, new).await,
            IrcInput::Said { who, target, to_channel, text, kind } => self.said(who, target, to_channel, text, kind).await,
            IrcInput::ModeChanged { by, channel, changes } if !self.is_me(&by.nick) && self.channel(&channel).is_some() => {
                let _ = self.inner.control.send(ControlJob::ModeChanged(by, channel, changes));
            }
            IrcInput::TopicChanged { by, channel, topic } if !self.is_me(&by.nick) && self.channel(&channel).is_some() => {
                let _ = self.inner.control.send(ControlJob::TopicChanged(by, channel, topic));
            }
            IrcInput::Names { channel, nicks } => {
                self.inner.names.lock().expect("names lock").entry(fold(&channel)).or_default().extend(nicks);
            }
            IrcInput::EndOfNames { channel } => {
                let nicks = self.inner.names.lock().expect("names lock").remove(&fold(&channel)).unwrap_or_default();
                if let Some(bound) = self.channel(&channel) {
                    {
                        // The list replaces what we thought was on the channel.
                        let mut presence = self.inner.presence.lock().expect("presence lock");
                        for channels in presence.values_mut() {
                            channels.remove(&fold(&channel));
                        }
                        for nick in &nicks {
                            presence.entry(fold(nick)).or_default().insert(fold(&channel));
                        }
                    }
                    self.inner.rooms.reconcile(bound.room_id, nicks).await;
                }
            }
            IrcInput::Ctcp { who, request } => {
                // Answered per convention by NOTICE; the reply is bounded and sanitised (a
                // hostile PING argument cannot make the line too long).
                if let Some(reply) = super::text::ctcp_reply(&request, &IrcSettings::version(), Utc::now()) {
                    self.inner.outbox.send(irc::proto::Command::NOTICE(who.nick, reply));
                }
            }
            IrcInput::JoinRefused { channel, reason } => tracing::warn!(%channel, %reason, "the server refused to let the bot join"),
            IrcInput::ModeChanged { .. } | IrcInput::TopicChanged { .. } => {}
        }
    }

    async fn joined(&self, who: Source, channel: String) {
        let Some(bound) = self.channel(&channel) else { return };
        if self.is_me(&who.nick) {
            self.inner.joined.lock().expect("joined lock").insert(fold(&channel));
            if bound.invite_only {
                // SPEC §1: an invite-only room's channel is kept +i; the bot invites members.
                self.inner.outbox.raw(&["MODE", &bound.channel, "+i"]);
            }
            let Ok(nick) = DisplayNick::parse(&who.nick) else { return };
            let joining = Joining {
                member: MemberRef { user_id: None, nick },
                mask: who.mask(),
                phone: None,
                gateway: Gateway::Irc,
                caller_level: Level::Guest,
                as_bot: true,
            };
            self.inner.rooms.submit(bound.room_id, RoomCommand::Join(joining), metadata(Actor::System)).await;
            return;
        }
        self.inner.presence.lock().expect("presence lock").entry(fold(&who.nick)).or_default().insert(fold(&channel));
        let Some(member) = self.member_ref(&who) else { return };
        let level = self.session_of(&who).map_or(Level::Guest, |_| Level::Member);
        let joining = Joining { member, mask: who.mask(), phone: None, gateway: Gateway::Irc, caller_level: level, as_bot: false };
        let rooms = self.inner.rooms.clone();
        let bot = self.clone();
        let actor = self.actor(&who);
        // Queued in order now; the outcome is awaited aside so reading goes on.
        let (reply, outcome) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Ok(Err(RoomFailure::Refused(domain::RoomError::Banned { .. }))) = outcome.await {
                // Auto-ban on join (SPEC §2.3): `+b nick!*@*` (narrow: never a shared host) and a
                // kick at once.
                let mask = format!("{}!*@*", who.nick);
                tracing::info!(nick = %who.nick, %channel, "banned person joined; banning and kicking");
                bot.inner.outbox.raw(&["MODE", &channel, "+b", &mask]);
                bot.inner.outbox.send(irc::proto::Command::KICK(
                    channel.clone(),
                    who.nick.clone(),
                    Some("you are banned from this room".into()),
                ));
            }
        });
        rooms.execute_detached(bound.room_id, RoomCommand::Join(joining), metadata(actor), reply).await;
    }

    async fn left(&self, who: &Source, channel: &str, reason: LeaveReason) {
        if self.is_me(&who.nick) {
            self.bot_left(channel);
            return;
        }
        let Some(bound) = self.channel(channel) else { return };
        let session_reason = if reason == LeaveReason::Kick { SessionEndReason::Kick } else { SessionEndReason::Part };
        let member = self.member_by_nick(&who.nick).ok();
        self.forget_presence(&who.nick, channel, session_reason);
        if let Some(member) = member {
            self.inner.rooms.submit(bound.room_id, RoomCommand::Leave { member, reason }, metadata(Actor::System)).await;
        }
    }

    /// The bot is off `channel` (kicked, parted, unbound): nobody shares it with the bot any
    /// more, so sessions whose last shared channel it was end.
    pub fn bot_left(&self, channel: &str) {
        self.inner.joined.lock().expect("joined lock").remove(&fold(channel));
        let orphaned: Vec<String> = {
            let mut presence = self.inner.presence.lock().expect("presence lock");
            for channels in presence.values_mut() {
                channels.remove(&fold(channel));
            }
            let empty: Vec<String> = presence.iter().filter(|(_, c)| c.is_empty()).map(|(n, _)| n.clone()).collect();
            for nick in &empty {
                presence.remove(nick);
            }
            empty
        };
        for nick in orphaned {
            self.end_session_of(&nick, SessionEndReason::Part);
        }
    }

    /// Removes `nick` from `channel`; a session ends when its last shared channel is gone.
    fn forget_presence(&self, nick: &str, channel: &str, reason: SessionEndReason) {
        let last = {
            let mut presence = self.inner.presence.lock().expect("presence lock");
            let channels = presence.entry(fold(nick)).or_default();
            channels.remove(&fold(channel));
            let last = channels.is_empty();
            if last {
                presence.remove(&fold(nick));
            }
            last
        };
        if last {
            self.end_session_of(nick, reason);
        }
    }

    fn epoch(&self, nick: &str) -> u64 {
        self.inner.epochs.lock().expect("epochs lock").get(&fold(nick)).copied().unwrap_or(0)
    }

    fn end_session_of(&self, nick: &str, reason: SessionEndReason) {
        *self.inner.epochs.lock().expect("epochs lock").entry(fold(nick)).or_default() += 1;
        if let Some(session) = self.inner.sessions.lock().expect("sessions lock").remove(&fold(nick)) {
            let _ = self.inner.control.send(ControlJob::EndSession(session, reason));
        }
    }

    async fn quit(&self, who: Source) {
        let member = self.member_by_nick(&who.nick).ok();
        let channels = self.inner.presence.lock().expect("presence lock").remove(&fold(&who.nick)).unwrap_or_default();
        self.end_session_of(&who.nick, SessionEndReason::Quit);
        let Some(member) = member else { return };
        for channel in channels {
            if let Some(bound) = self.channel(&channel) {
                let leave = RoomCommand::Leave { member: member.clone(), reason: LeaveReason::Quit };
                self.inner.rooms.submit(bound.room_id, leave, metadata(Actor::System)).await;
            }
        }
    }

    async fn nick_changed(&self, who: Source, new: String) {
        if self.is_me(&who.nick) {
            self.inner.outbox.set_nick(&new);
            return;
        }
        let old_member = self.member_by_nick(&who.nick).ok();
        self.end_session_of(&who.nick, SessionEndReason::NickChange);
        let channels = self.inner.presence.lock().expect("presence lock").remove(&fold(&who.nick)).unwrap_or_default();
        self.inner.presence.lock().expect("presence lock").insert(fold(&new), channels.clone());
        // In the rooms, the old nick leaves and the new one arrives (a guest is known by nick).
        let renamed = Source { nick: new, ..who };
        for channel in channels {
            let Some(bound) = self.channel(&channel) else { continue };
            if let Some(member) = old_member.clone() {
                self.inner
                    .rooms
                    .submit(bound.room_id, RoomCommand::Leave { member, reason: LeaveReason::Part }, metadata(Actor::System))
                    .await;
            }
            if let Some(member) = self.member_ref(&renamed) {
                let joining =
                    Joining { member, mask: renamed.mask(), phone: None, gateway: Gateway::Irc, caller_level: Level::Guest, as_bot: false };
                self.inner.rooms.submit(bound.room_id, RoomCommand::Join(joining), metadata(Actor::Anonymous)).await;
            }
        }
    }

    async fn said(&self, who: Source, target: String, to_channel: bool, text: String, kind: SaidKind) {
        if let Some(session) = self.inner.sessions.lock().expect("sessions lock").get_mut(&fold(&who.nick)) {
            session.last_activity = Utc::now();
        }
        let prefix = &self.inner.settings.prefix;
        let parsed = if kind == SaidKind::Privmsg { command::parse(prefix, &text) } else { None };
        let channel = to_channel.then(|| target.clone());
        match parsed {
            Some(Ok(BotCommand::Register { token } | BotCommand::Login { token })) if to_channel => {
                // Said where everyone saw it: the token is burnt; nothing else happens.
                let _ = self.inner.control.send(ControlJob::LeakedToken(who, token));
            }
            Some(Ok(command)) => {
                // A command said in a channel is also talk in the room (people saw it).
                if to_channel {
                    self.record_talk(&who, &target, &text, kind).await;
                }
                let _ = self.inner.control.send(ControlJob::Command(Asker { who, channel }, command));
            }
            Some(Err(error)) => {
                if to_channel {
                    self.record_talk(&who, &target, &text, kind).await;
                }
                let asker = Asker { who, channel };
                self.reply(&asker, &error.reply(prefix));
            }
            None if to_channel => self.record_talk(&who, &target, &text, kind).await,
            None if kind == SaidKind::Privmsg => {
                self.inner.outbox.notice(&who.nick, &format!("I only understand commands; try {prefix}help"));
            }
            None => {}
        }
    }

    async fn record_talk(&self, who: &Source, channel: &str, text: &str, kind: SaidKind) {
        let Some(bound) = self.channel(channel) else { return };
        let (Some(member), Ok(body)) = (self.member_ref(who), MessageBody::parse(&super::text::plain(text))) else {
            // Only formatting or blanks (or a nick the server should never have allowed).
            tracing::debug!(nick = %who.nick, "line with nothing to record");
            return;
        };
        let kind = match kind {
            SaidKind::Privmsg => MessageKind::Say,
            SaidKind::Action => MessageKind::Action,
            SaidKind::Notice => MessageKind::Notice,
        };
        let post = RoomCommand::Post {
            message_id: Uuid::now_v7(),
            speaker: Speaker::Member { member, mask: who.mask() },
            body,
            kind,
            gateway: Gateway::Irc,
            caller_level: Level::Guest,
        };
        self.inner.rooms.submit(bound.room_id, post, metadata(self.actor(who))).await;
    }

    fn reply(&self, asker: &Asker, text: &str) {
        match &asker.channel {
            Some(channel) => self.inner.outbox.privmsg(channel, &format!("{}: {text}", asker.who.nick)),
            None => self.inner.outbox.privmsg(&asker.who.nick, text),
        }
    }

    fn tell(&self, asker: &Asker, text: &str) {
        self.inner.outbox.notice(&asker.who.nick, text);
    }

    fn answer_failure(&self, asker: &Asker, failure: Failure) {
        match failure {
            Failure::Say(reason) => self.reply(asker, &reason),
            Failure::Internal(cause) => {
                let id = Uuid::new_v4().simple().to_string();
                let id = &id[..8];
                tracing::error!(error_id = id, %cause, "IRC command failed");
                self.reply(asker, &format!("sorry, something went wrong on my side (error {id}); it has been logged"));
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // The control task

    async fn control_loop(self, mut jobs: mpsc::UnboundedReceiver<ControlJob>) {
        while let Some(job) = jobs.recv().await {
            match job {
                ControlJob::Command(asker, command @ (BotCommand::Register { .. } | BotCommand::Login { .. })) => {
                    // Token checks may wait for the read model: they run aside, so nobody's
                    // `.login x` holds up everyone else's commands; one at a time per nick.
                    if !self.inner.token_checks.lock().expect("token checks lock").insert(fold(&asker.who.nick)) {
                        self.reply(&asker, "one token at a time, please; wait for my answer");
                        continue;
                    }
                    let bot = self.clone();
                    tokio::spawn(async move {
                        if let Err(failure) = bot.command(&asker, command).await {
                            bot.answer_failure(&asker, failure);
                        }
                        bot.inner.token_checks.lock().expect("token checks lock").remove(&fold(&asker.who.nick));
                    });
                }
                ControlJob::Command(asker, command) => {
                    if let Err(failure) = self.command(&asker, command).await {
                        self.answer_failure(&asker, failure);
                    }
                }
                ControlJob::LeakedToken(who, token) => self.leaked_token(who, token).await,
                ControlJob::EndSession(session, reason) => {
                    let end = UserCommand::EndIrcSession { session_id: Some(session.session_id), reason };
                    if let Err(e) =
                        self.inner.executor.execute::<User>(&StreamName::user(session.user_id), &end, metadata(Actor::System)).await
                    {
                        tracing::error!(error = %e, user_id = %session.user_id, "session end not recorded");
                    }
                }
                ControlJob::Rejoin(channel) => {
                    if let Some(bound) = self.channel(&channel) {
                        self.join_channel(&bound);
                    }
                }
                ControlJob::TopicChanged(by, channel, topic) => {
                    if let Err(e) = self.topic_changed(&by, &channel, &topic).await {
                        tracing::error!(?e, %channel, "topic change not handled");
                    }
                }
                ControlJob::ModeChanged(by, channel, changes) => {
                    if let Err(e) = self.mode_changed(&by, &channel, &changes).await {
                        tracing::error!(?e, %channel, "mode change not handled");
                    }
                }
            }
        }
    }

    /// Sends JOIN for a bound channel (with its key).
    pub fn join_channel(&self, bound: &BoundChannel) {
        match &bound.key {
            Some(key) => self.inner.outbox.raw(&["JOIN", &bound.channel, key]),
            None => self.inner.outbox.raw(&["JOIN", &bound.channel]),
        };
    }

    /// Sessions still open in the log belong to a connection of an earlier run (a crash or a
    /// kill skipped their ends): they end now, as disconnects.
    async fn end_stale_sessions(self) {
        match self.inner.read.open_irc_sessions().await {
            Ok(open) => {
                for (user_id, session_id) in open {
                    let end = UserCommand::EndIrcSession { session_id: Some(session_id), reason: SessionEndReason::Disconnect };
                    if let Err(e) = self.inner.executor.execute::<User>(&StreamName::user(user_id), &end, metadata(Actor::System)).await {
                        tracing::error!(error = %e, %user_id, "stale session not ended");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "open sessions not readable; stale ones stay open"),
        }
    }

    async fn idle_sweeper(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(30).min(self.inner.settings.idle_timeout).max(Duration::from_secs(1)));
        loop {
            tick.tick().await;
            let idle = chrono::TimeDelta::from_std(self.inner.settings.idle_timeout).unwrap_or(chrono::TimeDelta::hours(12));
            let now = Utc::now();
            let expired: Vec<(String, Session)> = {
                let mut sessions = self.inner.sessions.lock().expect("sessions lock");
                let nicks: Vec<String> = sessions.iter().filter(|(_, s)| now - s.last_activity >= idle).map(|(n, _)| n.clone()).collect();
                nicks.into_iter().filter_map(|n| sessions.remove(&n).map(|s| (n, s))).collect()
            };
            for (nick, session) in expired {
                self.inner.outbox.notice(&nick, "your session ended after being idle; log in again with a new token");
                let _ = self.inner.control.send(ControlJob::EndSession(session, SessionEndReason::IdleTimeout));
            }
        }
    }

    /// Timed bans end by themselves in the domain; this takes their `+b` off the channel. A
    /// restart looks back a day, so an expiry during downtime is still cleared (a `-b` for a
    /// mask the channel no longer has is harmless).
    async fn ban_expiry_sweeper(self) {
        let mut since = Utc::now() - chrono::TimeDelta::days(1);
        let mut tick = tokio::time::interval(BAN_EXPIRY_SWEEP);
        loop {
            tick.tick().await;
            if !self.inner.outbox.is_connected() {
                continue;
            }
            let now = Utc::now();
            match self.inner.read.expired_mask_bans(since).await {
                Ok(expired) => {
                    for (room_id, mask) in expired {
                        if let Some(channel) = self.bound_channel_of(room_id).filter(|c| self.has_joined(&c.channel)) {
                            self.inner.outbox.raw(&["MODE", &channel.channel, "-b", &mask]);
                        }
                    }
                    since = now;
                }
                Err(e) => tracing::warn!(error = %e, "expired bans not readable; trying again"),
            }
        }
    }

    async fn leaked_token(&self, who: Source, token: String) {
        let hash = TokenHash::of_secret(&token);
        let owner = match self.token_owner(&hash).await {
            // Not found (yet): the likeliest owner is the account of the nick that said it.
            Ok(None) => self.inner.read.user_by_irc_nick(&who.nick).await.ok().flatten(),
            Ok(owner) => owner,
            Err(e) => {
                tracing::error!(error = ?e, "leaked token lookup failed");
                None
            }
        };
        if let Some(user_id) = owner {
            let revoke = UserCommand::RevokeLeakedToken { token: hash };
            if let Err(e) = self.inner.executor.execute::<User>(&StreamName::user(user_id), &revoke, metadata(Actor::System)).await {
                tracing::error!(error = %e, "leaked token not revoked");
            }
        }
        self.inner.outbox.notice(
            &who.nick,
            "You typed a token in a channel, where everyone can read it: it no longer works. Issue a new one and send it to me in a private message.",
        );
    }

    async fn topic_changed(&self, by: &Source, channel: &str, topic: &str) -> Answer {
        let Some(bound) = self.channel(channel) else { return Ok(()) };
        let level = self.level_of(by).await?;
        if level >= Level::Operator {
            let set = RoomCommand::SetTopic { topic: Topic::parse(topic)?, caller_level: level };
            self.inner.rooms.execute(bound.room_id, set, metadata(self.actor(by))).await?;
        } else {
            // Below operator: the room's topic is put back (SPEC §2.3).
            let room = self.inner.rooms.snapshot(bound.room_id).await?;
            if let Some(kept) = room.topic {
                self.inner.outbox.send(irc::proto::Command::TOPIC(channel.to_owned(), Some(kept.as_str().to_owned())));
            }
        }
        Ok(())
    }

    /// Modes set by people: recorded when they are logged-in operators (the domain checks the
    /// level); otherwise the channel op acted outside Switchboard and only the server knows.
    async fn mode_changed(&self, by: &Source, channel: &str, changes: &[super::input::ModeChange]) -> Answer {
        let Some(bound) = self.channel(channel) else { return Ok(()) };
        let level = self.level_of(by).await?;
        if level < Level::Operator {
            return Ok(());
        }
        for change in changes {
            let Some(argument) = &change.argument else { continue };
            let command = match (change.mode, change.adding) {
                (ChannelModeKind::Ban, true) => RoomCommand::Ban {
                    ban_id: Uuid::now_v7(),
                    target: BanTarget::Mask { mask: HostMask::parse(argument)? },
                    duration: None,
                    reason: None,
                    caller_level: level,
                    target_level: Level::Guest,
                },
                (ChannelModeKind::Ban, false) => {
                    RoomCommand::Unban { target: BanTarget::Mask { mask: HostMask::parse(argument)? }, caller_level: level }
                }
                (ChannelModeKind::Voice | ChannelModeKind::Op, adding) => {
                    let mode = match (change.mode, adding) {
                        (ChannelModeKind::Voice, true) => ChannelMode::Voice,
                        (ChannelModeKind::Voice, false) => ChannelMode::Devoice,
                        (_, true) => ChannelMode::Op,
                        (_, false) => ChannelMode::Deop,
                    };
                    let target_level = self.level_of_nick(argument).await?;
                    RoomCommand::ChangeChannelMode { nick: DisplayNick::parse(argument)?, mode, caller_level: level, target_level }
                }
                _ => continue,
            };
            if let Err(e) = self.inner.rooms.execute(bound.room_id, command, metadata(self.actor(by))).await {
                tracing::debug!(error = %e, "mode change not recorded");
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Commands

    async fn command(&self, asker: &Asker, command: BotCommand) -> Answer {
        let prefix = self.inner.settings.prefix.clone();
        match command {
            BotCommand::Register { token } => self.register(asker, &token).await,
            BotCommand::Login { token } => self.login(asker, &token).await,
            BotCommand::Logout => {
                let Some(session) = self.session_of(&asker.who) else {
                    return Err(Failure::Say("you are not logged in".into()));
                };
                self.inner.sessions.lock().expect("sessions lock").remove(&fold(&asker.who.nick));
                let end = UserCommand::EndIrcSession { session_id: Some(session.session_id), reason: SessionEndReason::Logout };
                self.inner
                    .executor
                    .execute::<User>(&StreamName::user(session.user_id), &end, metadata(Actor::User(session.user_id)))
                    .await?;
                self.reply(asker, "logged out");
                Ok(())
            }
            BotCommand::Status => {
                let level = self.level_of(&asker.who).await?;
                let text = match self.session_of(&asker.who) {
                    Some(_) => format!("you are logged in; level {} ({})", level.as_u8(), level.name()),
                    None => format!("you are not logged in; level 0 (guest). {prefix}login <token> in a private message to log in"),
                };
                self.reply(asker, &text);
                Ok(())
            }
            BotCommand::Meet { nick } => self.meet(asker, &nick).await,
            BotCommand::About { nick } => self.about(asker, nick.as_deref()).await,
            BotCommand::SetAbout { text } => {
                let (user_id, _) = self.require(asker, Level::Member).await?;
                let set = UserCommand::SetAbout { about: Some(AboutText::parse(&text)?) };
                self.inner.executor.execute::<User>(&StreamName::user(user_id), &set, metadata(Actor::User(user_id))).await?;
                self.reply(asker, "about text saved");
                Ok(())
            }
            BotCommand::Seen { nick } => self.seen(asker, &nick).await,
            BotCommand::RandomQuote => {
                let text = match self.inner.read.random_quote().await? {
                    Some(q) => format_quote(&q),
                    None => "the quote book is empty".into(),
                };
                self.reply(asker, &text);
                Ok(())
            }
            BotCommand::Quote { id } => {
                let text = match self.inner.read.quote(id).await? {
                    Some(q) => format_quote(&q),
                    None => format!("no quote #{id}"),
                };
                self.reply(asker, &text);
                Ok(())
            }
            BotCommand::AddQuote { nick, text } => {
                let level = self.level_of(&asker.who).await?;
                let add = QuoteCommand::Add { nick: DisplayNick::parse(&nick)?, text: QuoteText::parse(&text)?, caller_level: level };
                let done = self.inner.executor.execute::<QuoteBook>(&StreamName::quotes(), &add, metadata(self.actor(&asker.who))).await?;
                let id = done.events.iter().find_map(|e| if let Event::QuoteAdded(q) = e { Some(q.quote_id) } else { None });
                self.reply(asker, &format!("quote #{} added", id.unwrap_or_default()));
                Ok(())
            }
            BotCommand::SearchQuotes { words } => {
                let found = self.inner.read.search_quotes(&words, 3).await?;
                if found.is_empty() {
                    self.reply(asker, "no quote matches");
                }
                for q in found {
                    self.reply(asker, &format_quote(&q));
                }
                Ok(())
            }
            BotCommand::DeleteQuote { id } => {
                let level = self.level_of(&asker.who).await?;
                let delete = QuoteCommand::Delete { quote_id: id as u64, caller_level: level };
                self.inner.executor.execute::<QuoteBook>(&StreamName::quotes(), &delete, metadata(self.actor(&asker.who))).await?;
                self.reply(asker, &format!("quote #{id} deleted"));
                Ok(())
            }
            BotCommand::Info { item } => {
                let text = match self.inner.read.info_item(&item).await? {
                    Some(info) => format!("{}: {} (set by {}, {})", info.item, info.text, info.changed_by, ago(info.changed_at)),
                    None => format!("unknown item {item:?}"),
                };
                self.reply(asker, &text);
                Ok(())
            }
            BotCommand::AddInfo { item, text } => {
                let level = self.level_of(&asker.who).await?;
                let key = InfoKey::parse(&item)?;
                let add = InfoCommand::Add { item: key.clone(), text: InfoText::parse(&text)?, caller_level: level };
                self.inner.executor.execute::<InfoItem>(&StreamName::info(&key.casefold()), &add, metadata(self.actor(&asker.who))).await?;
                self.reply(asker, &format!("{item} added"));
                Ok(())
            }
            BotCommand::SetInfo { item, text } => {
                let level = self.level_of(&asker.who).await?;
                let key = InfoKey::parse(&item)?;
                let set = InfoCommand::Replace { text: InfoText::parse(&text)?, caller_level: level };
                self.inner.executor.execute::<InfoItem>(&StreamName::info(&key.casefold()), &set, metadata(self.actor(&asker.who))).await?;
                self.reply(asker, &format!("{item} replaced"));
                Ok(())
            }
            BotCommand::DeleteInfo { item } => {
                let level = self.level_of(&asker.who).await?;
                let key = InfoKey::parse(&item)?;
                let delete = InfoCommand::Delete { caller_level: level };
                self.inner
                    .executor
                    .execute::<InfoItem>(&StreamName::info(&key.casefold()), &delete, metadata(self.actor(&asker.who)))
                    .await?;
                self.reply(asker, &format!("{item} deleted"));
                Ok(())
            }
            BotCommand::Help { topic } => {
                match topic {
                    Some(topic) => self.tell(asker, &command::help_topic(&prefix, &topic)),
                    None => {
                        let level = self.level_of(&asker.who).await?;
                        for line in command::help_lines(&prefix, level) {
                            self.tell(asker, &line);
                        }
                    }
                }
                Ok(())
            }
            BotCommand::Version => {
                self.reply(asker, &IrcSettings::version());
                Ok(())
            }
            BotCommand::Kick { nick, reason } => self.kick(asker, &nick, reason).await,
            BotCommand::Ban { target, duration, reason } => self.ban(asker, &target, duration, reason).await,
            BotCommand::Unban { target } => {
                let (room_id, channel) = self.in_channel(asker)?;
                let level = self.level_of(&asker.who).await?;
                let (target, mask) = self.ban_target(&target).await?;
                self.inner
                    .rooms
                    .execute(room_id, RoomCommand::Unban { target, caller_level: level }, metadata(self.actor(&asker.who)))
                    .await?;
                self.inner.outbox.raw(&["MODE", &channel, "-b", mask.as_str()]);
                self.reply(asker, &format!("unbanned {mask}"));
                Ok(())
            }
            BotCommand::Mute { nick, duration } => {
                let (room_id, channel) = self.in_channel(asker)?;
                let level = self.level_of(&asker.who).await?;
                let target_level = self.level_of_nick(&nick).await?;
                let mute = RoomCommand::Mute { target: self.member_by_nick(&nick)?, duration, caller_level: level, target_level };
                self.inner.rooms.execute(room_id, mute, metadata(self.actor(&asker.who))).await?;
                self.inner.outbox.raw(&["MODE", &channel, "-v", &nick]);
                self.reply(
                    asker,
                    &format!("{nick} is muted{}", duration.map(|d| format!(" for {}", span(d.as_delta()))).unwrap_or_default()),
                );
                Ok(())
            }
            BotCommand::Unmute { nick } => {
                let (room_id, _) = self.in_channel(asker)?;
                let level = self.level_of(&asker.who).await?;
                let unmute = RoomCommand::Unmute { target: self.member_by_nick(&nick)?, caller_level: level };
                self.inner.rooms.execute(room_id, unmute, metadata(self.actor(&asker.who))).await?;
                self.reply(asker, &format!("{nick} may speak again"));
                Ok(())
            }
            BotCommand::Mode { nick, mode } => {
                let (room_id, channel) = self.in_channel(asker)?;
                let level = self.level_of(&asker.who).await?;
                let target_level = self.level_of_nick(&nick).await?;
                let change = RoomCommand::ChangeChannelMode { nick: DisplayNick::parse(&nick)?, mode, caller_level: level, target_level };
                self.inner.rooms.execute(room_id, change, metadata(self.actor(&asker.who))).await?;
                let flag = match mode {
                    ChannelMode::Voice => "+v",
                    ChannelMode::Devoice => "-v",
                    ChannelMode::Op => "+o",
                    ChannelMode::Deop => "-o",
                };
                self.inner.outbox.raw(&["MODE", &channel, flag, &nick]);
                Ok(())
            }
            BotCommand::RequestBan { nick, reason } => {
                let (room_id, _) = self.in_channel(asker)?;
                let level = self.level_of(&asker.who).await?;
                let (target, _) = self.ban_target(&nick).await?;
                let request_id = Uuid::now_v7();
                let request = RoomCommand::RequestBan { request_id, target, reason: Reason::parse(&reason)?, caller_level: level };
                self.inner.rooms.execute(room_id, request, metadata(self.actor(&asker.who))).await?;
                self.reply(asker, &format!("ban request {} opened; staff will decide", short_id(request_id)));
                Ok(())
            }
            BotCommand::Approve { request } => self.decide_ban_request(asker, &request, true).await,
            BotCommand::Reject { request } => self.decide_ban_request(asker, &request, false).await,
            BotCommand::Topic { text } => {
                let (room_id, channel) = self.in_channel(asker)?;
                let level = self.level_of(&asker.who).await?;
                let topic = Topic::parse(&text)?;
                self.inner
                    .rooms
                    .execute(room_id, RoomCommand::SetTopic { topic, caller_level: level }, metadata(self.actor(&asker.who)))
                    .await?;
                self.inner.outbox.send(irc::proto::Command::TOPIC(channel, Some(text)));
                Ok(())
            }
            BotCommand::Channels => {
                self.require(asker, Level::Staff).await?;
                let mut names: Vec<String> =
                    self.inner.channels.read().expect("channels lock").values().map(|c| c.channel.clone()).collect();
                names.sort();
                let text =
                    if names.is_empty() { "no channels are bound".to_owned() } else { format!("bound channels: {}", names.join(" ")) };
                self.reply(asker, &text);
                Ok(())
            }
            BotCommand::JoinChannel { channel, key } => self.bind_channel(asker, &channel, key).await,
            BotCommand::PartChannel { channel } => {
                let (_, level) = self.require(asker, Level::Staff).await?;
                let bound = self.channel(&channel).ok_or_else(|| Failure::Say(format!("{channel} is not bound")))?;
                let unbind = RoomCommand::UnbindIrcChannel { caller_level: level };
                self.inner.rooms.execute(bound.room_id, unbind, metadata(self.actor(&asker.who))).await?;
                self.unbind(&channel);
                self.inner.outbox.raw(&["PART", &bound.channel, "unbound from Switchboard"]);
                self.reply(asker, &format!("{channel} unbound; its history stays"));
                Ok(())
            }
            BotCommand::Say { target, text } => self.speak(asker, &target, &text, MessageKind::Say).await,
            BotCommand::Act { target, text } => self.speak(asker, &target, &text, MessageKind::Action).await,
            BotCommand::Whois { nick } => self.whois(asker, &nick).await,
        }
    }

    /// The caller's account and level, refused below `needed`.
    async fn require(&self, asker: &Asker, needed: Level) -> Result<(Uuid, Level), Failure> {
        let prefix = &self.inner.settings.prefix;
        let Some(session) = self.session_of(&asker.who) else {
            return Err(Failure::Say(format!("you need to be logged in for that ({prefix}login <token> in a private message)")));
        };
        let level = self.level_of(&asker.who).await?;
        if level < needed {
            return Err(Failure::Say(format!(
                "you need level {} ({}) for that; you have {}",
                needed.as_u8(),
                needed.name(),
                level.as_u8()
            )));
        }
        Ok((session.user_id, level))
    }

    /// The room of the channel the command was said in.
    fn in_channel(&self, asker: &Asker) -> Result<(Uuid, String), Failure> {
        let channel = asker.channel.clone().ok_or_else(|| Failure::Say("say that in the channel it is about".into()))?;
        let bound = self.channel(&channel).ok_or_else(|| Failure::Say(format!("{channel} is not a Switchboard room")))?;
        Ok((bound.room_id, bound.channel))
    }

    async fn register(&self, asker: &Asker, token: &str) -> Answer {
        let hash = TokenHash::of_secret(token);
        let nick = Nick::parse(&asker.who.nick)
            .map_err(|e| Failure::Say(format!("your IRC nick cannot be an account nick ({e}); change nick and try again")))?;
        let mask = asker.who.mask().ok_or_else(|| Failure::Say("I cannot see your host; try again".into()))?;
        let Some(user_id) = self.token_owner(&hash).await? else {
            return Err(Failure::Say("that token is not valid; issue a new one (GraphQL issueIrcToken)".into()));
        };
        let register = UserCommand::RegisterIrcIdentity { token: hash, nick, mask: mask.clone() };
        self.inner.executor.execute::<User>(&StreamName::user(user_id), &register, metadata(Actor::User(user_id))).await?;
        self.reply(asker, &format!("registered: {} is now yours from {mask}. Log in with a login token", asker.who.nick));
        Ok(())
    }

    /// Finds a token's account. A token issued a moment ago may not be in the read model yet
    /// (projections follow the log a little behind), so a miss looks again for a few seconds
    /// before the token counts as unknown; that delay also slows down anyone guessing tokens.
    async fn token_owner(&self, hash: &TokenHash) -> Result<Option<Uuid>, Failure> {
        let deadline = tokio::time::Instant::now() + TOKEN_LOOKUP_PATIENCE;
        loop {
            if let Some(owner) = self.inner.read.irc_token_owner(hash.as_str()).await? {
                return Ok(Some(owner));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn login(&self, asker: &Asker, token: &str) -> Answer {
        // A session ends when its person leaves the last channel shared with the bot; someone
        // the bot shares no channel with could never be seen leaving.
        if !self.inner.presence.lock().expect("presence lock").contains_key(&fold(&asker.who.nick)) {
            return Err(Failure::Say("join a Switchboard channel first, then log in".into()));
        }
        let epoch = (self.epoch(&asker.who.nick), self.epoch(""));
        let hash = TokenHash::of_secret(token);
        let nick = Nick::parse(&asker.who.nick).map_err(|_| Failure::Say("log in from the nick you registered".into()))?;
        let mask = asker.who.mask().ok_or_else(|| Failure::Say("I cannot see your host; try again".into()))?;
        let owner = match self.token_owner(&hash).await? {
            Some(owner) => Some(owner),
            None => self.inner.read.user_by_irc_nick(nick.as_str()).await?,
        };
        let Some(user_id) = owner else {
            return Err(Failure::Say("that token is not valid".into()));
        };
        let session_id = Uuid::now_v7();
        let login = UserCommand::LoginIrc { token: hash, nick: nick.clone(), mask: mask.clone(), session_id };
        let done = self.inner.executor.execute::<User>(&StreamName::user(user_id), &login, metadata(Actor::User(user_id))).await?;
        match login_outcome(&done.events) {
            Some(LoginOutcome::LoggedIn { session_id }) => {
                let session = Session { user_id, session_id, mask, last_activity: Utc::now() };
                if (self.epoch(&asker.who.nick), self.epoch("")) != epoch {
                    // They quit, changed nick or left (or we lost the server) while the login
                    // was being decided: the session ends at once instead of outliving them.
                    let _ = self.inner.control.send(ControlJob::EndSession(session, SessionEndReason::Disconnect));
                    return Ok(());
                }
                self.inner.sessions.lock().expect("sessions lock").insert(nick.casefold(), session);
                self.invite_to_closed_channels(&asker.who.nick);
                let level = done.state.level;
                self.reply(asker, &format!("logged in as {}; level {} ({})", nick, level.as_u8(), level.name()));
                Ok(())
            }
            Some(LoginOutcome::Failed { reason, locked_until }) => {
                let mut text = format!("login refused: {}", login_failure_text(reason));
                if let Some(until) = locked_until {
                    text.push_str(&format!("; too many failures, {nick} is locked until {}", until.format("%H:%M UTC")));
                }
                Err(Failure::Say(text))
            }
            None => Err(Failure::Say("login refused".into())),
        }
    }

    async fn meet(&self, asker: &Asker, nick: &str) -> Answer {
        let (user_id, _) = self.require(asker, Level::Member).await?;
        let display = DisplayNick::parse(nick)?;
        let invite = UserCommand::SendSignUpInvitation { nick: display };
        self.inner.executor.execute::<User>(&StreamName::user(user_id), &invite, metadata(Actor::User(user_id))).await?;
        let url = self.inner.settings.public_url.trim_end_matches('/');
        let prefix = &self.inner.settings.prefix;
        self.inner.outbox.privmsg(
            nick,
            &format!(
                "Hi {nick}! {} invites you to Switchboard. Sign up at {url}/graphql (mutation signUp), then issue an IRC token (issueIrcToken) and send me {prefix}register <token> in a private message.",
                asker.who.nick
            ),
        );
        self.reply(asker, &format!("I told {nick} how to sign up"));
        Ok(())
    }

    async fn about(&self, asker: &Asker, nick: Option<&str>) -> Answer {
        let (own_id, _) = self.require(asker, Level::Member).await?;
        let user_id = match nick {
            None => own_id,
            Some(nick) => {
                let holder = self.inner.executor.load::<domain::NickReservation>(&StreamName::nick(&fold(nick))).await?.0.holder;
                holder.ok_or_else(|| Failure::Say(format!("{nick} has no account")))?
            }
        };
        let (user, _) = self.inner.executor.load::<User>(&StreamName::user(user_id)).await?;
        let name = user.nick.as_ref().map(|n| n.to_string()).unwrap_or_default();
        let text = match &user.about {
            Some(about) => format!("{name}: {about}"),
            None => format!("{name} has not written an about text"),
        };
        self.reply(asker, &text);
        Ok(())
    }

    async fn seen(&self, asker: &Asker, nick: &str) -> Answer {
        if self.is_me(nick) {
            self.reply(asker, "that's me!");
            return Ok(());
        }
        if nick.eq_ignore_ascii_case(&asker.who.nick) {
            self.reply(asker, "that's you!");
            return Ok(());
        }
        let text = match self.inner.read.last_seen(nick).await? {
            None => format!("I have never seen {nick}"),
            Some(s) => {
                let place = match (&s.room_name, s.gateway.as_str()) {
                    (Some(room), "sms") => format!(" in {room} (by SMS)"),
                    (Some(room), _) => format!(" in {room}"),
                    (None, _) => String::new(),
                };
                let what = match (s.activity.as_str(), s.detail.as_deref(), s.room_private) {
                    (_, _, true) => String::new(),
                    ("said", Some(text), _) => format!(", saying: {text}"),
                    ("action", Some(text), _) => format!(": * {} {text}", s.nick),
                    ("nick_changed", Some(new), _) => format!(", changing nick to {new}"),
                    (activity, _, _) => format!(" ({})", activity.replace('_', " ")),
                };
                format!("{} was last seen {}{place}{what}", s.nick, ago(s.at))
            }
        };
        self.reply(asker, &text);
        Ok(())
    }

    async fn kick(&self, asker: &Asker, nick: &str, reason: Option<String>) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        if self.is_me(nick) {
            return Err(Failure::Say("I will not kick myself".into()));
        }
        let level = self.level_of(&asker.who).await?;
        let target_level = self.level_of_nick(nick).await?;
        let reason = reason.as_deref().map(Reason::parse).transpose()?;
        let kick = RoomCommand::Kick { target: self.member_by_nick(nick)?, reason: reason.clone(), caller_level: level, target_level };
        self.inner.rooms.execute(room_id, kick, metadata(self.actor(&asker.who))).await?;
        let why = reason.map(|r| r.to_string()).unwrap_or_else(|| format!("kicked by {}", asker.who.nick));
        self.inner.outbox.send(irc::proto::Command::KICK(channel.clone(), nick.to_owned(), Some(why)));
        self.forget_presence(nick, &channel, SessionEndReason::Kick);
        Ok(())
    }

    /// A nick or mask as a ban target, with the `+b` mask the channel gets. A nick that
    /// belongs to an account bans the account everywhere (SMS too) and its nick on IRC.
    async fn ban_target(&self, target: &str) -> Result<(BanTarget, HostMask), Failure> {
        let mask = HostMask::parse(target)?;
        if target.contains(['!', '@', '*', '?']) {
            return Ok((BanTarget::Mask { mask: mask.clone() }, mask));
        }
        let holder = self.inner.executor.load::<domain::NickReservation>(&StreamName::nick(&fold(target))).await?.0.holder;
        Ok(match holder {
            Some(user_id) => (BanTarget::User { user_id }, mask),
            None => (BanTarget::Mask { mask: mask.clone() }, mask),
        })
    }

    async fn ban(&self, asker: &Asker, target: &str, duration: Option<domain::BanDuration>, reason: Option<String>) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        if self.is_me(target) {
            return Err(Failure::Say("I will not ban myself".into()));
        }
        let level = self.level_of(&asker.who).await?;
        let (ban_target, mask) = self.ban_target(target).await?;
        let target_level = match &ban_target {
            BanTarget::User { user_id } => self.inner.executor.load::<User>(&StreamName::user(*user_id)).await?.0.level,
            BanTarget::Mask { .. } => Level::Guest,
        };
        let reason = reason.as_deref().map(Reason::parse).transpose()?;
        let ban = RoomCommand::Ban {
            ban_id: Uuid::now_v7(),
            target: ban_target,
            duration,
            reason: reason.clone(),
            caller_level: level,
            target_level,
        };
        self.inner.rooms.execute(room_id, ban, metadata(self.actor(&asker.who))).await?;
        self.apply_ban(&channel, &mask, reason.as_ref().map(|r| r.as_str()));
        let until = duration.map(|d| format!(" for {}", span(d.as_delta()))).unwrap_or_default();
        self.reply(asker, &format!("banned {mask}{until}"));
        Ok(())
    }

    /// The channel mask for a ban target: a mask as is; an account by its current nick.
    pub async fn irc_mask_of(&self, target: &BanTarget) -> Option<HostMask> {
        match target {
            BanTarget::Mask { mask } => Some(mask.clone()),
            BanTarget::User { user_id } => {
                let (user, _) = self.inner.executor.load::<User>(&StreamName::user(*user_id)).await.ok()?;
                HostMask::parse(user.nick?.as_str()).ok()
            }
        }
    }

    /// `+b` on the channel and a kick for everyone present whom the mask matches.
    pub fn apply_ban(&self, channel: &str, mask: &HostMask, reason: Option<&str>) {
        self.inner.outbox.raw(&["MODE", channel, "+b", mask.as_str()]);
        let present: Vec<String> = self
            .inner
            .presence
            .lock()
            .expect("presence lock")
            .iter()
            .filter(|(nick, channels)| channels.contains(&fold(channel)) && mask.matches_nick_only(nick))
            .map(|(nick, _)| nick.clone())
            .collect();
        for nick in present.into_iter().filter(|n| !self.is_me(n)) {
            self.inner.outbox.send(irc::proto::Command::KICK(channel.to_owned(), nick, Some(reason.unwrap_or("banned").to_owned())));
        }
    }

    async fn decide_ban_request(&self, asker: &Asker, request: &str, approve: bool) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let room = self.inner.rooms.snapshot(room_id).await?;
        let wanted = request.to_ascii_lowercase();
        let matches: Vec<(&Uuid, &domain::aggregates::room::BanRequest)> =
            room.ban_requests.iter().filter(|(id, _)| id.simple().to_string().starts_with(&wanted) || id.to_string() == wanted).collect();
        let [(request_id, pending)] = matches.as_slice() else {
            return Err(Failure::Say(format!("no single ban request matches {request:?}")));
        };
        let request_id = **request_id;
        let actor = self.actor(&asker.who);
        if approve {
            let target_level = match &pending.target {
                BanTarget::User { user_id } => self.inner.executor.load::<User>(&StreamName::user(*user_id)).await?.0.level,
                BanTarget::Mask { .. } => Level::Guest,
            };
            let approve =
                RoomCommand::ApproveBanRequest { request_id, ban_id: Uuid::now_v7(), duration: None, caller_level: level, target_level };
            self.inner.rooms.execute(room_id, approve, metadata(actor)).await?;
            if let Some(mask) = self.irc_mask_of(&pending.target).await {
                self.apply_ban(&channel, &mask, Some(pending.reason.as_str()));
            }
            self.reply(asker, &format!("ban request {} approved", short_id(request_id)));
        } else {
            self.inner.rooms.execute(room_id, RoomCommand::RejectBanRequest { request_id, caller_level: level }, metadata(actor)).await?;
            self.reply(asker, &format!("ban request {} rejected", short_id(request_id)));
        }
        Ok(())
    }

    async fn bind_channel(&self, asker: &Asker, channel: &str, key: Option<String>) -> Answer {
        let (_, level) = self.require(asker, Level::Staff).await?;
        let irc_channel = IrcChannel::parse(channel)?;
        if self.channel(channel).is_some() {
            return Err(Failure::Say(format!("{channel} is already bound")));
        }
        let room_id = Uuid::now_v7();
        let actor = self.actor(&asker.who);
        let name = RoomName::parse(channel.trim_start_matches(['#', '&']))?;
        self.inner
            .rooms
            .execute(room_id, RoomCommand::Create { room_id, name, invite_only: false, caller_level: level }, metadata(actor.clone()))
            .await?;
        let bind = RoomCommand::BindIrcChannel { channel: irc_channel.clone(), key: key.clone(), caller_level: level };
        self.inner.rooms.execute(room_id, bind, metadata(actor)).await?;
        let bound = BoundChannel { room_id, channel: irc_channel.to_string(), key, invite_only: false };
        self.bind(bound.clone());
        self.join_channel(&bound);
        self.reply(asker, &format!("{channel} is now a Switchboard room"));
        Ok(())
    }

    async fn speak(&self, asker: &Asker, target: &str, text: &str, kind: MessageKind) -> Answer {
        let (_, level) = self.require(asker, Level::Staff).await?;
        if let Some(bound) = self.channel(target) {
            let post = RoomCommand::Post {
                message_id: Uuid::now_v7(),
                speaker: Speaker::Bot { nick: DisplayNick::parse(&self.inner.outbox.nick())? },
                body: MessageBody::parse(text)?,
                kind,
                gateway: Gateway::Irc,
                caller_level: level,
            };
            self.inner.rooms.execute(bound.room_id, post, metadata(self.actor(&asker.who))).await?;
        }
        match kind {
            MessageKind::Action => self.inner.outbox.action(target, text),
            _ => self.inner.outbox.privmsg(target, text),
        }
        Ok(())
    }

    async fn whois(&self, asker: &Asker, nick: &str) -> Answer {
        self.require(asker, Level::Superuser).await?;
        let holder = self.inner.executor.load::<domain::NickReservation>(&StreamName::nick(&fold(nick))).await?.0.holder;
        let Some(user_id) = holder else {
            self.tell(asker, &format!("{nick} has no account"));
            return Ok(());
        };
        let (user, _) = self.inner.executor.load::<User>(&StreamName::user(user_id)).await?;
        let web = user.web.as_ref().map(|w| format!("{} <{}>{}", w.username, w.email, if w.email_verified { "" } else { " (unverified)" }));
        let lines = [
            format!(
                "{nick}: user {user_id}, level {} ({}), {}",
                user.level.as_u8(),
                user.level.name(),
                if user.private { "private" } else { "public" }
            ),
            format!("web account: {}", web.unwrap_or_else(|| "none".into())),
            format!(
                "IRC identity: {}; session: {}",
                user.irc_identity.as_ref().map(|(n, m)| format!("{n} ({m})")).unwrap_or_else(|| "none".into()),
                user.session
                    .as_ref()
                    .map(|s| format!("since {} from {}", s.started_at.format("%Y-%m-%d %H:%M UTC"), s.mask))
                    .unwrap_or_else(|| "none".into())
            ),
            format!(
                "phone: {}{}; about: {}",
                user.phone.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "none".into()),
                if user.sms_receiving { "" } else { " (stopped)" },
                user.about.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "none".into())
            ),
        ];
        for line in lines {
            self.tell(asker, &line);
        }
        Ok(())
    }
}

fn login_failure_text(reason: domain::events::LoginFailureReason) -> &'static str {
    use domain::events::LoginFailureReason as R;
    match reason {
        R::WrongToken => "that token is not valid",
        R::Expired => "that token has expired; issue a new one",
        R::Revoked => "that token was already used or replaced; issue a new one",
    }
}

fn format_quote(q: &projections::queries::Quote) -> String {
    format!("#{} <{}> {} (added by {}, {})", q.quote_id, q.nick, q.text, q.added_by, q.added_at.format("%Y-%m-%d"))
}

fn short_id(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

/// "3 minutes ago", "2 days ago".
pub fn ago(at: DateTime<Utc>) -> String {
    let delta = Utc::now() - at;
    if delta < chrono::TimeDelta::seconds(5) { "just now".into() } else { format!("{} ago", span(delta)) }
}

/// A duration in its largest sensible unit.
pub fn span(delta: chrono::TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
