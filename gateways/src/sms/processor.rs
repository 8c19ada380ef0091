//! Interprets recorded inbound texts, following the log (`sms.inbound_received`) from its own
//! checkpoint: commands become domain commands, a member's plain text is posted to the room and
//! fanned out as one delivery per recipient (from the reply-numbers read model), and every
//! answer is a queued delivery to the sender.
//!
//! Texts that arrived together are handled as one run, in log order (the room's order is the
//! order the texts came in): members' plain texts to a room are posted in one batch (one
//! append), anything else alone after what came before it; the fan-outs follow after one wait
//! for the reply-numbers read model, the run's deliveries queued in post order in ordered
//! bundles (one transaction each on PostgreSQL), so each recipient's stand in the log in the
//! order the texts were posted. The checkpoint moves past a run once all of it is done.
//!
//! Replaying an inbound event (after a crash between the work and the checkpoint) changes
//! nothing: every command runs with an idempotency key derived from the inbound event id and
//! its step, and delivery ids are derived the same way. The first run after a start, which may
//! hold such events, is handled text by text so that each step finds its earlier outcome.

use std::time::Duration;

use domain::events::{DeliveryQueued, InboundSmsReceived, MemberRef, MessageKind, SmsStopReason};
use domain::{
    Delivery, DeliveryCommand, DeliveryError, DisplayNick, Event, EventCodec, Gateway, Joining, Level, MemberKey, MessageBody, Metadata,
    Nick, NickCommand, NickReservation, PhoneCommand, PhoneNumber, PhoneReservation, Room, RoomCommand, RoomError, Speaker, StreamName,
    User, UserCommand,
};
use projections::{ProjectionError, ReadModels};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use store::{CommandExecutor, EventStore, ExecuteError, Filter, FirstStart, Loaded, Position, RecordedEvent, SharedStore, StoreError};
use tokio::sync::watch;
use uuid::Uuid;

use super::commands::{self, SmsCommand, help_text};
use super::limits::{CostLimits, Spend, Spending};
use super::numbers;

/// The checkpoint row of this subscriber in `es_checkpoints`.
pub const SUBSCRIBER: &str = "gateway:sms:inbound";
/// Twilio's limit for one message body; longer texts are split into several deliveries.
pub const MAX_SMS_CHARS: usize = 1_600;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Command(String),
    #[error("reading the read models failed: {0}")]
    ReadModel(#[from] ProjectionError),
}

impl<E: std::error::Error + 'static> From<ExecuteError<E>> for ProcessError {
    fn from(e: ExecuteError<E>) -> Self {
        match e {
            ExecuteError::Store(s) => ProcessError::Store(s),
            other => ProcessError::Command(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct SmsProcessor {
    store: SharedStore,
    executor: CommandExecutor<dyn EventStore>,
    read: ReadModels,
    /// How long fan-out waits for the reply-numbers read model to include the message.
    read_model_wait: Duration,
    /// What each member has spent of their invitations and resends.
    spending: Spending,
}

/// One inbound text being handled, with what every step needs.
#[derive(Clone)]
struct Inbound {
    event_id: Uuid,
    position: Position,
    sms: InboundSmsReceived,
    room_id: Uuid,
    metadata: Metadata,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

impl Inbound {
    /// The idempotency key of one step of handling this text.
    fn key(&self, step: &str) -> Uuid {
        Uuid::new_v5(&self.event_id, step.as_bytes())
    }
}

impl SmsProcessor {
    /// A processor that appends to and follows `store` and asks `read` for what it needs of the
    /// read models.
    pub fn new(store: SharedStore, read: ReadModels) -> Self {
        let executor = CommandExecutor::new(store.clone());
        Self { store, executor, read, read_model_wait: Duration::from_secs(5), spending: Spending::new(CostLimits::default()) }
    }

    /// The same processor with other per-member cost limits.
    pub fn with_limits(mut self, limits: CostLimits) -> Self {
        self.spending = Spending::new(limits);
        self
    }

    /// Follows the log until `shutdown` turns true. Errors other than a refused command stop
    /// the loop (the caller restarts it after a pause); the checkpoint makes that safe.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> Result<(), ProcessError> {
        let filter = Filter::event_types([InboundSmsReceived::EVENT_TYPE]);
        // The first run after a start may hold texts handled before (a crash or a failure before
        // the checkpoint moved): it is handled text by text, each step finding its earlier
        // outcome. Later runs are new, and their members' texts are posted in batches.
        let mut first = true;
        store::follow_runs(&*self.store, SUBSCRIBER, filter, FirstStart::Beginning, shutdown, move |run| {
            let replayed = std::mem::replace(&mut first, false);
            async move {
                match replayed {
                    true => self.handle_run(&run).await,
                    false => self.handle_new_run(&run).await,
                }
            }
        })
        .await
    }

    /// Handles one recorded inbound text (idempotent).
    pub async fn handle(&self, recorded: &RecordedEvent) -> Result<(), ProcessError> {
        self.handle_run(std::slice::from_ref(recorded)).await
    }

    /// Handles texts that arrived together (idempotent): each one's commands and post in order;
    /// the fan-outs of consecutive posts together, before whatever comes after them.
    pub async fn handle_run(&self, run: &[RecordedEvent]) -> Result<(), ProcessError> {
        let mut fan_outs = Vec::new();
        for recorded in run {
            self.handle_one(recorded, &mut fan_outs).await?;
        }
        self.fan_out(fan_outs).await
    }

    /// Handles texts no earlier run handled (idempotent all the same): members' plain texts
    /// are gathered and each room's are posted in one batch — one append — and fanned out
    /// together; anything else is handled alone, after what came before it.
    pub async fn handle_new_run(&self, run: &[RecordedEvent]) -> Result<(), ProcessError> {
        let mut gathered = Gathered::default();
        for recorded in run {
            let Some(inbound) = decode(recorded)? else { continue };
            if let Some(post) = self.plain_post(&inbound, &mut gathered).await? {
                gathered.posts.push(post);
                continue;
            }
            self.post_gathered(std::mem::take(&mut gathered).posts).await?;
            let mut fan_outs = Vec::new();
            self.handle_inbound(inbound, &mut fan_outs).await?;
            self.fan_out(fan_outs).await?;
        }
        self.post_gathered(gathered.posts).await
    }

    /// A member's plain text to their room, ready to post; `None` for anything else. What it
    /// looks up is remembered in `gathered` while nothing but posts is written.
    async fn plain_post(&self, inbound: &Inbound, gathered: &mut Gathered) -> Result<Option<PendingPost>, ProcessError> {
        let Ok(SmsCommand::Text { body }) = command_of(&inbound.sms) else { return Ok(None) };
        let from = inbound.sms.from.as_str().to_owned();
        let holder = match gathered.holders.get(&from) {
            Some(holder) => *holder,
            None => {
                let (phone, _) = self.executor.current::<PhoneReservation>(&StreamName::phone(&from)).await?;
                *gathered.holders.entry(from).or_insert(phone.holder)
            }
        };
        let Some(user_id) = holder else { return Ok(None) };
        let room = match gathered.rooms.entry(inbound.room_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => unknown.insert(self.executor.current::<Room>(&StreamName::room(inbound.room_id)).await?.0),
        };
        if !room.is_member(user_id) {
            return Ok(None);
        }
        let user = match gathered.users.entry(user_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => unknown.insert(self.executor.current::<User>(&StreamName::user(user_id)).await?.0),
        };
        let (Some(nick), Ok(body)) = (user.nick.clone(), MessageBody::parse(&with_media_links(&body, &inbound.sms.media))) else {
            return Ok(None);
        };
        let post = sms_post(inbound, user_id, &nick, user.level, &body);
        let metadata = inbound.metadata.caused_by(inbound.event_id, domain::Actor::User(user_id), Gateway::Sms);
        Ok(Some(PendingPost { inbound: inbound.clone(), sender: user_id, text: format!("[{nick}] {body}"), post, metadata }))
    }

    /// Posts gathered texts: consecutive texts to one room in one batch on the room's current
    /// state, then their fan-outs. A text the room refuses (a mute, a ban since) is answered
    /// after the fan-outs of the texts before it. A batch the store finds partly stored before
    /// is handled again text by text.
    async fn post_gathered(&self, posts: Vec<PendingPost>) -> Result<(), ProcessError> {
        let mut rest = posts.as_slice();
        while let Some(first) = rest.first() {
            let same_room = rest.iter().take_while(|p| p.inbound.room_id == first.inbound.room_id).count();
            let (batch, later) = rest.split_at(same_room);
            rest = later;
            let stream = StreamName::room(first.inbound.room_id);
            let (state, version) = self.executor.current::<Room>(&stream).await?;
            let mut loaded = Loaded { stream, state, version };
            let commands: Vec<_> = batch.iter().map(|p| (p.post.clone(), p.metadata.clone(), p.inbound.key("post"))).collect();
            let outcome = match self.executor.execute_batch::<Room>(&mut loaded, &commands).await {
                Ok(outcome) => outcome,
                Err(ExecuteError::Store(StoreError::IdempotencyMismatch { .. })) => {
                    let mut fan_outs = Vec::new();
                    for post in batch {
                        self.handle_inbound(post.inbound.clone(), &mut fan_outs).await?;
                    }
                    self.fan_out(fan_outs).await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let posted_at = outcome.appended.map(|a| a.position).unwrap_or(Position::START);
            let mut fan_outs = Vec::new();
            for (post, result) in batch.iter().zip(outcome.results) {
                match result {
                    Ok(_) => fan_outs.push(FanOut {
                        inbound: post.inbound.clone(),
                        sender: post.sender,
                        text: post.text.clone(),
                        position: posted_at.max(post.inbound.position),
                    }),
                    Err(refusal) => {
                        self.fan_out(std::mem::take(&mut fan_outs)).await?;
                        self.reply(&post.inbound, Some(post.sender), &sentence(&refusal.to_string())).await?;
                    }
                }
            }
            self.fan_out(fan_outs).await?;
        }
        Ok(())
    }

    /// Everything one text asks for but its fan-out, which goes on `fan_outs`.
    async fn handle_one(&self, recorded: &RecordedEvent, fan_outs: &mut Vec<FanOut>) -> Result<(), ProcessError> {
        match decode(recorded)? {
            Some(inbound) => self.handle_inbound(inbound, fan_outs).await,
            None => Ok(()),
        }
    }

    async fn handle_inbound(&self, inbound: Inbound, fan_outs: &mut Vec<FanOut>) -> Result<(), ProcessError> {
        let (phone, _) = self.executor.current::<PhoneReservation>(&StreamName::phone(inbound.sms.from.as_str())).await?;
        let room_id = inbound.room_id;
        let command = command_of(&inbound.sms);
        // A phone is one user in every room, and a member of the rooms it joined: what it may do
        // depends on the room whose number it texted.
        let member_here = match phone.holder {
            Some(user) => self.is_member(room_id, user).await?,
            None => false,
        };
        // Posts of the run wait for their fan-out together; anything else (a #stop, a #join, a
        // mute) comes after the fan-outs of the texts before it, as it did in the log.
        if !matches!((phone.holder, member_here, &command), (Some(_), true, Ok(SmsCommand::Text { .. }))) {
            self.fan_out(std::mem::take(fan_outs)).await?;
        }
        match (phone.holder, member_here, command) {
            (_, _, Err(error)) => self.reply(&inbound, phone.holder, &error.to_string()).await,
            (Some(user), true, Ok(command)) => self.member_command(&inbound, user, command, fan_outs).await,
            (None, _, Ok(SmsCommand::Join { nick })) => self.join(&inbound, &nick).await,
            (Some(user), false, Ok(SmsCommand::Join { nick })) => self.join_as(&inbound, user, &nick).await,
            (holder, _, Ok(SmsCommand::Help { topic })) => self.reply(&inbound, holder, help_text(topic)).await,
            // Not a member here saying STOP: this room sends it nothing anyway.
            (_, _, Ok(SmsCommand::Stop { .. })) => Ok(()),
            (holder, _, Ok(_)) => {
                self.reply(
                    &inbound,
                    holder,
                    "Welcome! To join this room, reply #join <nick> (letters and digits). #help lists the commands.",
                )
                .await
            }
        }
    }

    /// Whether `user` is in the room now (its state as the executor keeps it, caught up, so a
    /// join, kick or ban just appended counts; a busy room costs its new events, not its
    /// history).
    async fn is_member(&self, room_id: Uuid, user: Uuid) -> Result<bool, ProcessError> {
        let (room, _) = self.executor.current::<Room>(&StreamName::room(room_id)).await?;
        Ok(room.is_member(user))
    }

    /// `#join` by a number that is already someone (in another room, or in this one before a
    /// ban or leave): the same user joins this room under the nick they have.
    async fn join_as(&self, inbound: &Inbound, user_id: Uuid, asked: &str) -> Result<(), ProcessError> {
        let (user, _) = self.executor.current::<User>(&StreamName::user(user_id)).await?;
        let Some(nick) = user.nick.clone() else { return Ok(()) };
        let metadata = inbound.metadata.caused_by(inbound.event_id, domain::Actor::User(user_id), Gateway::Sms);
        let joining = sms_joining(user_id, &nick, inbound.sms.from.clone(), user.level);
        match self
            .executor
            .execute_idempotent::<Room>(&StreamName::room(inbound.room_id), &RoomCommand::Join(joining), metadata, inbound.key("join"))
            .await
        {
            Ok(_) => {
                let kept = if Nick::parse(asked).is_ok_and(|a| a.same_as(&nick)) {
                    String::new()
                } else {
                    format!(" Your nick stays {nick}; #update <nick> changes it.")
                };
                let text = format!("Welcome, {nick}! Your texts now go to the room.{kept} #help lists the commands.");
                self.reply(inbound, Some(user_id), &text).await
            }
            Err(e) => self.refused(inbound, Some(user_id), e).await,
        }
    }

    async fn join(&self, inbound: &Inbound, nick: &str) -> Result<(), ProcessError> {
        let nick = match Nick::parse(nick) {
            Ok(nick) => nick,
            Err(e) => return self.reply(inbound, None, &format!("{e}. Try again: #join <nick>")).await,
        };
        // The new user's id comes from the inbound event, so a replay reuses it.
        let user_id = inbound.key("user");
        let metadata = inbound.metadata.caused_by(inbound.event_id, domain::Actor::User(user_id), Gateway::Sms);
        let phone = inbound.sms.from.clone();
        if let Err(e) = self
            .executor
            .execute::<PhoneReservation>(
                &StreamName::phone(phone.as_str()),
                &PhoneCommand::Reserve { phone: phone.clone(), user_id },
                metadata.clone(),
            )
            .await
        {
            return self.refused(inbound, None, e).await;
        }
        let reserved_nick = self
            .executor
            .execute::<NickReservation>(
                &StreamName::nick(&nick.casefold()),
                &NickCommand::Reserve { nick: nick.clone(), user_id },
                metadata.clone(),
            )
            .await;
        if let Err(e) = reserved_nick {
            // Free the number again: this join did not happen.
            let release = PhoneCommand::Release { phone: phone.clone(), user_id };
            let _ = self.executor.execute::<PhoneReservation>(&StreamName::phone(phone.as_str()), &release, metadata.clone()).await;
            return self.refused(inbound, None, e).await;
        }
        let user = StreamName::user(user_id);
        let register = UserCommand::Register { user_id, nick: nick.clone(), gateway: Gateway::Sms };
        self.executor.execute_idempotent::<User>(&user, &register, metadata.clone(), inbound.key("register")).await?;
        self.executor
            .execute_idempotent::<User>(&user, &UserCommand::BindPhone { phone: phone.clone() }, metadata.clone(), inbound.key("phone"))
            .await?;
        // On SMS, having joined makes you a member, level 1 (docs/commands.md#joining-by-sms).
        let member = UserCommand::ChangeLevel { to: Level::Member, caller_level: Level::Superuser };
        self.executor.execute_idempotent::<User>(&user, &member, Metadata::system(), inbound.key("level")).await?;
        let joining = sms_joining(user_id, &nick, phone, Level::Member);
        match self
            .executor
            .execute_idempotent::<Room>(&StreamName::room(inbound.room_id), &RoomCommand::Join(joining), metadata, inbound.key("join"))
            .await
        {
            Ok(_) => {
                self.reply(inbound, Some(user_id), &format!("Welcome, {nick}! Your texts now go to the room. #help lists the commands."))
                    .await
            }
            Err(e) => self.refused(inbound, Some(user_id), e).await,
        }
    }

    async fn member_command(
        &self,
        inbound: &Inbound,
        user_id: Uuid,
        command: SmsCommand,
        fan_outs: &mut Vec<FanOut>,
    ) -> Result<(), ProcessError> {
        let (user, _) = self.executor.current::<User>(&StreamName::user(user_id)).await?;
        let Some(nick) = user.nick.clone() else { return Ok(()) };
        let metadata = inbound.metadata.caused_by(inbound.event_id, domain::Actor::User(user_id), Gateway::Sms);
        let user_stream = StreamName::user(user_id);
        let room = StreamName::room(inbound.room_id);
        match command {
            SmsCommand::Text { body } => {
                let body = match MessageBody::parse(&with_media_links(&body, &inbound.sms.media)) {
                    Ok(body) => body,
                    Err(e) => return self.reply(inbound, Some(user_id), &e.to_string()).await,
                };
                let post = sms_post(inbound, user_id, &nick, user.level, &body);
                // On the executor's kept room, so a text reads what was appended since the last one
                // (IRC talk, API moderation), not the room's history; a replayed inbound event
                // finds its earlier post by event id and does not decide again (the room may have
                // muted the sender since, yet the text was said).
                match self.executor.execute_idempotent::<Room>(&room, &post, metadata, inbound.key("post")).await {
                    Ok(done) => {
                        let position = done.position().max(inbound.position);
                        fan_outs.push(FanOut { inbound: inbound.clone(), sender: user_id, text: format!("[{nick}] {body}"), position });
                        Ok(())
                    }
                    Err(e) => self.refused(inbound, Some(user_id), e).await,
                }
            }
            SmsCommand::Join { .. } => {
                self.reply(inbound, Some(user_id), &format!("You are already in, as {nick}. #update <nick> changes it.")).await
            }
            SmsCommand::Help { topic } => self.reply(inbound, Some(user_id), help_text(topic)).await,
            SmsCommand::Stop { carrier_keyword } => {
                let reason = if carrier_keyword { SmsStopReason::CarrierKeyword } else { SmsStopReason::Command };
                // This room's number only: a carrier STOP blocks the number texted, not the others.
                let stop = UserCommand::StopSms { reason, room_id: Some(inbound.room_id) };
                self.executor.execute_idempotent::<User>(&user_stream, &stop, metadata, inbound.key("stop")).await?;
                // After a carrier STOP, Twilio itself confirms and blocks further texts.
                if carrier_keyword {
                    Ok(())
                } else {
                    self.reply_always(inbound, user_id, "Stopped: you get no room texts. #start resumes.").await
                }
            }
            SmsCommand::Start { .. } => {
                let start = UserCommand::StartSms { room_id: Some(inbound.room_id) };
                self.executor.execute_idempotent::<User>(&user_stream, &start, metadata, inbound.key("start")).await?;
                self.reply(inbound, Some(user_id), "Welcome back: room texts resume.").await
            }
            SmsCommand::Private { on } => {
                self.executor
                    .execute_idempotent::<User>(&user_stream, &UserCommand::SetPrivacy { private: on }, metadata, inbound.key("private"))
                    .await?;
                self.reply(inbound, Some(user_id), if on { "Your profile is private." } else { "Your profile is public." }).await
            }
            SmsCommand::Mute { nick: target, on } => {
                // Any member: by account, or an IRC guest by the nick they use on the channel.
                let Ok(target_nick) = DisplayNick::parse(&target) else {
                    return self.reply(inbound, Some(user_id), &format!("{target} is not a nick")).await;
                };
                let holder = match Nick::parse(&target) {
                    Ok(nick) => self.executor.current::<NickReservation>(&StreamName::nick(&nick.casefold())).await?.0.holder,
                    Err(_) => None,
                };
                let mutee = MemberRef { user_id: holder, nick: target_nick.clone() };
                match self
                    .executor
                    .execute_idempotent::<Room>(&room, &RoomCommand::PersonalMute { mutee, on }, metadata, inbound.key("mute"))
                    .await
                {
                    Err(ExecuteError::Rejected(RoomError::NotAMember)) if holder.is_none() => {
                        self.reply(inbound, Some(user_id), &format!("nobody is called {target_nick}")).await
                    }
                    Ok(_) => {
                        let text = if on {
                            format!("You no longer get {target_nick}'s texts.")
                        } else {
                            format!("You get {target_nick}'s texts again.")
                        };
                        self.reply(inbound, Some(user_id), &text).await
                    }
                    Err(e) => self.refused(inbound, Some(user_id), e).await,
                }
            }
            SmsCommand::List => self.list(inbound, user_id).await,
            SmsCommand::Update { nick: wanted } => self.update_nick(inbound, user_id, &wanted, metadata).await,
            SmsCommand::Who { nick: asked } => self.who(inbound, user_id, &asked).await,
            SmsCommand::Admin { nick: target, on } => {
                let Ok(target_nick) = Nick::parse(&target) else {
                    return self.reply(inbound, Some(user_id), &format!("{target} is not a nick")).await;
                };
                let (holder, _) = self.executor.current::<NickReservation>(&StreamName::nick(&target_nick.casefold())).await?;
                let Some(target_id) = holder.holder else {
                    return self.reply(inbound, Some(user_id), &format!("nobody is called {target_nick}")).await;
                };
                let to = if on { Level::Operator } else { Level::Member };
                let command = UserCommand::ChangeLevel { to, caller_level: user.level };
                match self.executor.execute_idempotent::<User>(&StreamName::user(target_id), &command, metadata, inbound.key("admin")).await
                {
                    Ok(_) => {
                        let text = if on {
                            format!("{target_nick} is now an operator.")
                        } else {
                            format!("{target_nick} is no longer an operator.")
                        };
                        self.reply(inbound, Some(user_id), &text).await
                    }
                    Err(e) => self.refused(inbound, Some(user_id), e).await,
                }
            }
            SmsCommand::Invite { phone } => self.invite(inbound, user_id, &nick, &phone, metadata).await,
            SmsCommand::Resend { count } => self.resend(inbound, user_id, count).await,
        }
    }

    /// `#list`: the room's nicks, those who stopped its texts marked `(stopped)`.
    async fn list(&self, inbound: &Inbound, user_id: Uuid) -> Result<(), ProcessError> {
        let (state, _) = self.executor.current::<Room>(&StreamName::room(inbound.room_id)).await?;
        let mut nicks = Vec::new();
        for member in state.members.values().filter(|m| !m.is_bot) {
            let mut nick = member.member.nick.to_string();
            if let (Some(member_id), Some(_)) = (member.member.user_id, &member.phone) {
                let (them, _) = self.executor.current::<User>(&StreamName::user(member_id)).await?;
                if !them.receives_sms_in(inbound.room_id) {
                    nick.push_str(" (stopped)");
                }
            }
            nicks.push(nick);
        }
        nicks.sort_by_key(|n| n.to_lowercase());
        self.reply(inbound, Some(user_id), &format!("In the room: {}", nicks.join(", "))).await
    }

    /// `#update <nick>`: the nick change every path shares ([`crate::nicks::change_nick`]).
    async fn update_nick(&self, inbound: &Inbound, user_id: Uuid, wanted: &str, metadata: Metadata) -> Result<(), ProcessError> {
        let new = match Nick::parse(wanted) {
            Ok(nick) => nick,
            Err(e) => return self.reply(inbound, Some(user_id), &format!("{e}.")).await,
        };
        match crate::nicks::change_nick(&self.executor, user_id, &new, metadata, Some(inbound.key("nick"))).await {
            Ok(_) => {}
            Err(crate::nicks::NickChangeError::Reservation(e)) => return self.refused(inbound, Some(user_id), e).await,
            Err(crate::nicks::NickChangeError::User(e)) => return self.refused(inbound, Some(user_id), e).await,
        }
        self.reply(inbound, Some(user_id), &format!("You are now {new}.")).await
    }

    /// `#who <nick>`: nick, member since, last seen; the phone number only for public profiles.
    async fn who(&self, inbound: &Inbound, user_id: Uuid, asked: &str) -> Result<(), ProcessError> {
        let Ok(nick) = Nick::parse(asked) else {
            return self.reply(inbound, Some(user_id), &format!("{asked} is not a nick")).await;
        };
        let Some(profile) = self.read.profile_by_nick(&nick.casefold()).await? else {
            return self.reply(inbound, Some(user_id), &format!("nobody is called {nick}")).await;
        };
        let mut text = format!("{}: member since {}", profile.nick, profile.created_at.format("%Y-%m-%d"));
        if let Some(seen) = self.read.last_seen(&nick.casefold()).await? {
            text.push_str(&format!(", last seen {} UTC", seen.at.format("%Y-%m-%d %H:%M")));
        }
        if let (false, Some(phone)) = (profile.private, profile.phone) {
            text.push_str(&format!(", {phone}"));
        }
        self.reply(inbound, Some(user_id), &format!("{text}.")).await
    }

    /// `#invite <phone>`: records the invitation and texts the number how to join.
    async fn invite(&self, inbound: &Inbound, user_id: Uuid, nick: &Nick, phone: &str, metadata: Metadata) -> Result<(), ProcessError> {
        let phone = match numbers::parse_typed(phone, &inbound.sms.to) {
            Ok(phone) => phone,
            Err(refused) => return self.reply(inbound, Some(user_id), &refused.to_string()).await,
        };
        if !self.spending.try_spend(Spend::Invite, inbound.room_id, &user_id.to_string(), inbound.event_id, inbound.recorded_at, 1) {
            let limit = self.spending.limits().invites_per_day;
            let text = format!("Invitation limit reached: a member can send {limit} a day from this room. Try again later.");
            return self.reply(inbound, Some(user_id), &text).await;
        }
        let (holder, _) = self.executor.current::<PhoneReservation>(&StreamName::phone(phone.as_str())).await?;
        let command = RoomCommand::Invite {
            invite_id: inbound.key("invite"),
            invitee: domain::events::Invitee::Phone { phone: phone.clone() },
            invitee_user: holder.holder,
        };
        if let Err(e) = self
            .executor
            .execute_idempotent::<Room>(&StreamName::room(inbound.room_id), &command, metadata, inbound.key("invite-cmd"))
            .await
        {
            return self.refused(inbound, Some(user_id), e).await;
        }
        let invitation = format!("{nick} invites you to a chat room. Reply #join <nick> to join, or ignore this text.");
        self.queue(inbound, holder.holder, &phone, &invitation, "invitation", None).await?;
        self.reply(inbound, Some(user_id), &format!("Invitation sent to {phone}.")).await
    }

    /// `#resend <n>`: the last n room texts delivered to this member, again.
    async fn resend(&self, inbound: &Inbound, user_id: Uuid, count: u8) -> Result<(), ProcessError> {
        let bodies = self.read.last_room_texts(inbound.room_id, user_id, i64::from(count)).await?;
        if bodies.is_empty() {
            return self.reply(inbound, Some(user_id), "Nothing to resend yet.").await;
        }
        let amount = u32::try_from(bodies.len()).unwrap_or(u32::MAX);
        if !self.spending.try_spend(Spend::Resend, inbound.room_id, &user_id.to_string(), inbound.event_id, inbound.recorded_at, amount) {
            let limit = self.spending.limits().resent_texts_per_hour;
            let text = format!("Resend limit reached: a member can have {limit} texts resent an hour from this room. Try again later.");
            return self.reply(inbound, Some(user_id), &text).await;
        }
        let to = inbound.sms.from.clone();
        for (i, body) in bodies.iter().enumerate() {
            self.queue(inbound, Some(user_id), &to, body, &format!("resend:{i}"), None).await?;
        }
        Ok(())
    }

    /// One delivery per recipient of each posted text (`[nick] text`), after the reply-numbers
    /// read model has caught up with the last of the posts (so joins, leaves, stops and mutes
    /// before each count). The recipients of one sender are read once per run; each text's
    /// deliveries are queued concurrently, each its own stream, so the store's group commit
    /// turns them into a few transactions.
    async fn fan_out(&self, fan_outs: Vec<FanOut>) -> Result<(), ProcessError> {
        let Some(last) = fan_outs.iter().map(|f| f.position).max() else { return Ok(()) };
        if let Err(e) = self.read.wait_for(last, &["reply_numbers"], self.read_model_wait).await {
            // Better late than never: deliver to who the read model knows now.
            tracing::warn!(error = %e, "fan-out before the reply-numbers read model caught up");
        }
        let mut recipients: HashMap<(Uuid, Uuid), Vec<(Uuid, PhoneNumber)>> = HashMap::new();
        for fan_out in &fan_outs {
            let key = (fan_out.inbound.room_id, fan_out.sender);
            if let Entry::Vacant(entry) = recipients.entry(key) {
                let numbers = self.read.fan_out(key.0, &MemberKey::User(key.1)).await?;
                let parsed = numbers.into_iter().filter_map(|(recipient, phone)| Some((recipient, PhoneNumber::parse(&phone).ok()?)));
                entry.insert(parsed.collect());
            }
        }
        // The deliveries of all the run's texts are queued in post order, so each recipient's
        // stand in the log (and are sent, and resent) in the order the texts were posted; in
        // bundles stored in that order, one transaction each on PostgreSQL.
        let mut items = Vec::new();
        for fan_out in &fan_outs {
            let message_id = fan_out.inbound.key("message");
            for (recipient, to) in &recipients[&(fan_out.inbound.room_id, fan_out.sender)] {
                let step = format!("fanout:{recipient}");
                items.extend(deliveries(&fan_out.inbound, Some(*recipient), to, &fan_out.text, &step, Some(message_id)));
            }
        }
        while !items.is_empty() {
            let bundle: Vec<_> = items.drain(..items.len().min(DELIVERIES_PER_BUNDLE)).collect();
            self.queue_in_order(bundle).await?;
        }
        Ok(())
    }

    async fn refused<E: std::error::Error + 'static>(
        &self,
        inbound: &Inbound,
        user: Option<Uuid>,
        e: ExecuteError<E>,
    ) -> Result<(), ProcessError> {
        match e {
            ExecuteError::Rejected(refusal) => self.reply(inbound, user, &sentence(&refusal.to_string())).await,
            other => Err(other.into()),
        }
    }

    /// Answers the sender, unless they stopped receiving texts.
    async fn reply(&self, inbound: &Inbound, user: Option<Uuid>, text: &str) -> Result<(), ProcessError> {
        if let Some(user_id) = user {
            let (state, _) = self.executor.current::<User>(&StreamName::user(user_id)).await?;
            if !state.receives_sms_in(inbound.room_id) {
                return Ok(());
            }
        }
        self.queue(inbound, user, &inbound.sms.from.clone(), text, "reply", None).await
    }

    /// Answers even a member who just stopped (the confirmation of `#stop`).
    async fn reply_always(&self, inbound: &Inbound, user: Uuid, text: &str) -> Result<(), ProcessError> {
        self.queue(inbound, Some(user), &inbound.sms.from.clone(), text, "reply", None).await
    }

    /// Queues `text` to `to`, split into parts of at most [`MAX_SMS_CHARS`].
    async fn queue(
        &self,
        inbound: &Inbound,
        recipient: Option<Uuid>,
        to: &PhoneNumber,
        text: &str,
        step: &str,
        cause_message_id: Option<Uuid>,
    ) -> Result<(), ProcessError> {
        self.queue_in_order(deliveries(inbound, recipient, to, text, step, cause_message_id)).await
    }

    /// Queues deliveries, stored in the log in the order given; one queued before (a replay) is
    /// left as it is.
    async fn queue_in_order(&self, items: Vec<(StreamName, DeliveryCommand, Metadata, Uuid)>) -> Result<(), ProcessError> {
        for outcome in self.executor.create_in_order::<Delivery>(items).await {
            match outcome {
                Ok(_) | Err(ExecuteError::Rejected(DeliveryError::AlreadyQueued)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// How many deliveries one ordered bundle carries (one transaction on PostgreSQL).
const DELIVERIES_PER_BUNDLE: usize = 1_000;

/// The deliveries that queue `text` to `to`, split into parts of at most [`MAX_SMS_CHARS`]. A
/// delivery's stream is born with it, and its id derives from the text and the step: handled
/// again (a replay), the same ids make it the store's repeat, and nothing is queued twice.
fn deliveries(
    inbound: &Inbound,
    recipient: Option<Uuid>,
    to: &PhoneNumber,
    text: &str,
    step: &str,
    cause_message_id: Option<Uuid>,
) -> Vec<(StreamName, DeliveryCommand, Metadata, Uuid)> {
    let parts = split(text, MAX_SMS_CHARS);
    let metadata = inbound.metadata.caused_by(inbound.event_id, domain::Actor::System, Gateway::Sms);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let delivery_id = inbound.key(&format!("{step}:{i}"));
            let queued = DeliveryQueued {
                delivery_id,
                room_id: inbound.room_id,
                // Unknown numbers have no user yet; the nil id marks a reply to a stranger.
                recipient: recipient.unwrap_or(Uuid::nil()),
                to: to.clone(),
                from: inbound.sms.to.clone(),
                body: part.clone(),
                cause_message_id,
                cause_event_id: Some(inbound.event_id),
                segment: i as u32 + 1,
                segments: parts.len() as u32,
            };
            (StreamName::delivery(delivery_id), DeliveryCommand::Queue(queued), metadata.clone(), delivery_id)
        })
        .collect()
}

/// A member's text posted to the room whose number it was sent to; its message id derives from
/// the inbound event, so posting it again is a repeat.
fn sms_post(inbound: &Inbound, user_id: Uuid, nick: &Nick, level: Level, body: &MessageBody) -> RoomCommand {
    RoomCommand::Post {
        message_id: inbound.key("message"),
        speaker: Speaker::Member { member: MemberRef { user_id: Some(user_id), nick: display(nick) }, mask: None },
        body: body.clone(),
        kind: MessageKind::Say,
        gateway: Gateway::Sms,
        caller_level: level,
    }
}

/// The inbound text a recorded event holds; `None` for one that names no room.
fn decode(recorded: &RecordedEvent) -> Result<Option<Inbound>, ProcessError> {
    let Event::InboundSmsReceived(sms) = Event::decode_json(&recorded.event_type, recorded.schema_version, recorded.payload.as_str())
        .map_err(|e| ProcessError::Command(e.to_string()))?
    else {
        return Ok(None);
    };
    let Some(room_id) = sms.room_id else { return Ok(None) };
    Ok(Some(Inbound {
        event_id: recorded.event_id,
        position: recorded.position,
        sms,
        room_id,
        metadata: recorded.metadata.clone(),
        recorded_at: recorded.recorded_at,
    }))
}

/// What a text asks for. A picture without words is a message of its links.
fn command_of(sms: &InboundSmsReceived) -> Result<SmsCommand, commands::CommandError> {
    if sms.body.trim().is_empty() && !sms.media.is_empty() {
        Ok(SmsCommand::Text { body: String::new() })
    } else {
        commands::parse(&sms.body)
    }
}

/// Members' plain texts of a run waiting to be posted, and what was looked up for them (valid
/// while this processor writes nothing but posts: the next command clears it).
#[derive(Default)]
struct Gathered {
    posts: Vec<PendingPost>,
    /// Phone number → the user holding it.
    holders: HashMap<String, Option<Uuid>>,
    rooms: HashMap<Uuid, Room>,
    users: HashMap<Uuid, User>,
}

/// A member's plain text, decided on nothing yet: the room decides when the batch is posted.
struct PendingPost {
    inbound: Inbound,
    sender: Uuid,
    /// What the recipients get: `[nick] text`.
    text: String,
    post: RoomCommand,
    metadata: Metadata,
}

/// A posted text waiting for its fan-out.
struct FanOut {
    inbound: Inbound,
    sender: Uuid,
    /// What the recipients get: `[nick] text`.
    text: String,
    /// The post's position: the read model must have reached it.
    position: Position,
}

/// A text with its MMS media as links, one a line after the words: what SMS members and IRC get
/// (Twilio's media URLs open without its credentials).
fn with_media_links(body: &str, media: &[domain::events::InboundMedia]) -> String {
    let mut text = body.trim_end().to_owned();
    for attachment in media {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&attachment.url);
    }
    text
}

fn display(nick: &Nick) -> DisplayNick {
    DisplayNick::parse(nick.as_str()).expect("a valid nick is a valid display nick")
}

/// A phone joining a room as its user (who holds their own nick, so no separate holder).
fn sms_joining(user_id: Uuid, nick: &Nick, phone: PhoneNumber, level: Level) -> Joining {
    Joining {
        member: MemberRef { user_id: Some(user_id), nick: display(nick) },
        mask: None,
        phone: Some(phone),
        gateway: Gateway::Sms,
        caller_level: level,
        as_bot: false,
        nick_holder: None,
    }
}

/// Domain refusals are lowercase phrases; a text reads better as a sentence.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str().trim_end_matches('.')),
        None => String::new(),
    }
}

/// Splits on character boundaries into parts of at most `max` characters.
pub(crate) fn split(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(max).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_split_into_twilio_sized_parts_on_character_boundaries() {
        let text = "é".repeat(MAX_SMS_CHARS + 5);
        let parts = split(&text, MAX_SMS_CHARS);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].chars().count(), MAX_SMS_CHARS);
        assert_eq!(parts[1].chars().count(), 5);
        assert_eq!(split("hi", MAX_SMS_CHARS), vec!["hi".to_owned()]);
    }

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(sentence("the nick bob is taken"), "The nick bob is taken.");
    }
}
