//! The connection-facing side: [`Bot::dispatch`] takes one [`IrcInput`] and returns quickly, so
//! the connection keeps reading. Room activity (talk, `/me`, joins, parts, quits, kicks, NAMES)
//! is queued to the room's worker in server order ([`crate::irc::rooms`]); commands, session
//! ends, topic and mode changes go to the control task ([`super::control`]).

use chrono::Utc;
use domain::events::{LeaveReason, MemberRef, MessageKind, SessionEndReason};
use domain::{Actor, DisplayNick, Gateway, Joining, Level, MessageBody, Metadata, RoomCommand, Speaker};
use uuid::Uuid;

use super::backend::Backend;
use super::control::ControlJob;
use super::handlers::Asker;
use super::{Bot, replies};
use crate::irc::command::{self, BotCommand};
use crate::irc::input::{ChannelModeKind, IrcInput, SaidKind, Source};
use crate::irc::rooms::RoomFailure;
use crate::irc::settings::IrcSettings;

fn metadata(actor: Actor) -> Metadata {
    Metadata::new(actor, Gateway::Irc)
}

impl Bot {
    /// Acts on one line from the server. Returns quickly; the work is queued in order.
    pub async fn dispatch(&self, input: IrcInput) {
        let state = self.state();
        match input {
            IrcInput::Welcome { nick } => state.outbox.set_nick(&nick),
            IrcInput::Joined { who, channel } => self.joined(who, channel).await,
            IrcInput::Parted { who, channel, .. } => self.left(&who, &channel, LeaveReason::Part).await,
            IrcInput::Kicked { channel, nick, .. } if state.is_me(&nick) => {
                state.bot_left(&channel);
                state.queue(ControlJob::Rejoin(channel));
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
            IrcInput::ModeChanged { by, channel, changes } if !state.is_me(&by.nick) && state.channel(&channel).is_some() => {
                let opped_me = changes
                    .iter()
                    .any(|c| c.adding && c.mode == ChannelModeKind::Op && c.argument.as_deref().is_some_and(|nick| state.is_me(nick)));
                if opped_me && state.channels.topic_unconfirmed(&channel) {
                    state.queue(ControlJob::RestoreTopic(channel.clone()));
                }
                state.queue(ControlJob::ModeChanged(by, channel, changes));
            }
            IrcInput::TopicChanged { by, channel, .. } if state.is_me(&by.nick) => state.channels.topic_confirmed(&channel),
            IrcInput::TopicChanged { by, channel, topic } if !state.is_me(&by.nick) && state.channel(&channel).is_some() => {
                state.queue(ControlJob::TopicChanged(by, channel, topic));
            }
            IrcInput::Names { channel, nicks } => state.presence.names(&channel, nicks),
            IrcInput::EndOfNames { channel } => {
                let nicks = state.presence.end_of_names(&channel);
                if let Some(bound) = state.channel(&channel) {
                    state.presence.replace_channel(&channel, &nicks);
                    self.rooms().reconcile(bound.room_id, nicks).await;
                }
            }
            IrcInput::Ctcp { who, request } => {
                // Answered per convention by NOTICE; the reply is bounded and sanitised (a
                // hostile PING argument cannot make the line too long).
                if let Some(reply) = crate::irc::text::ctcp_reply(&request, &IrcSettings::version(), Utc::now()) {
                    state.outbox.send(irc::proto::Command::NOTICE(who.nick, reply));
                }
            }
            IrcInput::JoinRefused { channel, reason } => tracing::warn!(%channel, %reason, "the server refused to let the bot join"),
            IrcInput::NotChannelOperator { channel } => tracing::warn!(
                %channel,
                "not a channel operator: the server refused the bot's topic or mode; the room's topic is put back once the bot is given +o"
            ),
            IrcInput::ModeChanged { .. } | IrcInput::TopicChanged { .. } => {}
        }
    }

    async fn joined(&self, who: Source, channel: String) {
        let state = self.state();
        let Some(bound) = state.channel(&channel) else { return };
        if state.is_me(&who.nick) {
            state.presence.bot_joined(&channel);
            if bound.invite_only {
                // An invite-only room's channel is kept +i; the bot invites members.
                state.outbox.raw(&["MODE", &bound.channel, "+i"]);
            }
            let Ok(nick) = DisplayNick::parse(&who.nick) else { return };
            let joining = Joining {
                member: MemberRef { user_id: None, nick },
                mask: who.mask(),
                phone: None,
                gateway: Gateway::Irc,
                caller_level: Level::Guest,
                as_bot: true,
                nick_holder: None,
            };
            self.rooms().submit(bound.room_id, RoomCommand::Join(joining), metadata(Actor::System)).await;
            return;
        }
        state.presence.arrived(&who.nick, &channel);
        self.enter_room(bound.room_id, &channel, who).await;
    }

    /// Someone (not the bot) arrived on a bound channel, by JOIN or by changing nick: they join
    /// the room at their account's real level. A join the room refuses as banned is enforced at
    /// once — `+b nick!*@*` and a kick — and recorded (which ban, on whom): the channel's own
    /// `+b` may have been lifted behind the room's back.
    async fn enter_room(&self, room_id: Uuid, channel: &str, who: Source) {
        let state = self.state();
        let Some(member) = state.member_ref(&who) else { return };
        let live = &self.inner.live;
        let level = self.handlers().level_of(&who).await.unwrap_or_else(|failure| {
            tracing::warn!(?failure, nick = %who.nick, "level not readable; joining as a guest");
            Level::Guest
        });
        // Someone not logged in under an account's nick is still covered by that account's bans.
        let nick_holder = match member.user_id {
            Some(_) => None,
            None => live.nick_holder(&who.nick).await.unwrap_or_else(|failure| {
                tracing::warn!(?failure, nick = %who.nick, "nick holder not readable");
                None
            }),
        };
        let joining = Joining {
            member: member.clone(),
            mask: who.mask(),
            phone: None,
            gateway: Gateway::Irc,
            caller_level: level,
            as_bot: false,
            nick_holder,
        };
        let bot = self.clone();
        let actor = state.actor(&who);
        let channel = channel.to_owned();
        // Queued in order now; the outcome is awaited aside so reading goes on.
        let (reply, outcome) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let Ok(Err(RoomFailure::Refused(domain::RoomError::Banned { .. }))) = outcome.await else { return };
            let enforce = RoomCommand::EnforceBan { member, mask: who.mask(), nick_holder };
            if let Err(e) = bot.rooms().execute(room_id, enforce, metadata(Actor::System)).await {
                // The ban was lifted in the meantime, or the room is not writable.
                tracing::info!(error = %e, nick = %who.nick, %channel, "auto-ban not enforced");
                return;
            }
            bot.state().kick_banned(&channel, &who.nick);
        });
        self.rooms().execute_detached(room_id, RoomCommand::Join(joining), metadata(actor), reply).await;
    }

    async fn left(&self, who: &Source, channel: &str, reason: LeaveReason) {
        let state = self.state();
        if state.is_me(&who.nick) {
            state.bot_left(channel);
            return;
        }
        let Some(bound) = state.channel(channel) else { return };
        let session_reason = if reason == LeaveReason::Kick { SessionEndReason::Kick } else { SessionEndReason::Part };
        let member = state.member_by_nick(&who.nick).ok();
        state.forget_presence(&who.nick, channel, session_reason);
        if let Some(member) = member {
            self.rooms().submit(bound.room_id, RoomCommand::Leave { member, reason }, metadata(Actor::System)).await;
        }
    }

    async fn quit(&self, who: Source) {
        let state = self.state();
        let member = state.member_by_nick(&who.nick).ok();
        let channels = state.presence.gone(&who.nick);
        state.end_session_of(&who.nick, SessionEndReason::Quit);
        let Some(member) = member else { return };
        for channel in channels {
            if let Some(bound) = state.channel(&channel) {
                let leave = RoomCommand::Leave { member: member.clone(), reason: LeaveReason::Quit };
                self.rooms().submit(bound.room_id, leave, metadata(Actor::System)).await;
            }
        }
    }

    async fn nick_changed(&self, who: Source, new: String) {
        let state = self.state();
        if state.is_me(&who.nick) {
            state.outbox.set_nick(&new);
            return;
        }
        let old_member = state.member_by_nick(&who.nick).ok();
        state.end_session_of(&who.nick, SessionEndReason::NickChange);
        let channels = state.presence.renamed(&who.nick, &new);
        // In the rooms, the old nick leaves and the new one arrives (a guest is known by nick).
        let renamed = Source { nick: new, ..who };
        for channel in channels {
            let Some(bound) = state.channel(&channel) else { continue };
            if let Some(member) = old_member.clone() {
                self.rooms().submit(bound.room_id, RoomCommand::Leave { member, reason: LeaveReason::Part }, metadata(Actor::System)).await;
            }
            self.enter_room(bound.room_id, &channel, renamed.clone()).await;
        }
    }

    async fn said(&self, who: Source, target: String, to_channel: bool, text: String, kind: SaidKind) {
        let state = self.state();
        state.sessions.touch(&who.nick, Utc::now());
        let prefix = &state.settings.prefix;
        let parsed = if kind == SaidKind::Privmsg { command::parse(prefix, &text) } else { None };
        let channel = to_channel.then(|| target.clone());
        match parsed {
            Some(Ok(BotCommand::Register { token } | BotCommand::Login { token })) if to_channel => {
                // Said where everyone saw it: the token is burnt; nothing else happens.
                state.queue(ControlJob::LeakedToken(who, token));
            }
            Some(Ok(command)) => {
                // A command said in a channel is also talk in the room (people saw it).
                if to_channel {
                    self.record_talk(&who, &target, &text, kind).await;
                }
                state.queue(ControlJob::Command(Asker { who, channel }, command));
            }
            Some(Err(error)) => {
                if to_channel {
                    self.record_talk(&who, &target, &text, kind).await;
                }
                state.reply(&Asker { who, channel }, &error.reply(prefix));
            }
            None if to_channel => self.record_talk(&who, &target, &text, kind).await,
            None if kind == SaidKind::Privmsg => {
                state.outbox.notice(&who.nick, &replies::only_commands(prefix));
            }
            None => {}
        }
    }

    async fn record_talk(&self, who: &Source, channel: &str, text: &str, kind: SaidKind) {
        let state = self.state();
        let Some(bound) = state.channel(channel) else { return };
        let (Some(member), Ok(body)) = (state.member_ref(who), MessageBody::parse(&crate::irc::text::plain(text))) else {
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
        self.rooms().submit(bound.room_id, post, metadata(state.actor(who))).await;
    }
}
