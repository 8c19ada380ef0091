//! What the bot knows in memory and how it speaks, shared by the dispatch, the control task and
//! the command handlers: its settings, its outbox, the bound channels, sessions and presence, and
//! the control queue where session ends are recorded in order with commands.

use domain::events::{MemberRef, SessionEndReason};
use domain::{Actor, DisplayNick, HostMask};
use projections::queries::BoundChannel;
use uuid::Uuid;

use super::channels::Channels;
use super::control::{ControlJob, ControlQueue};
use super::handlers::{Asker, Failure};
use super::presence::Presence;
use super::replies;
use super::sessions::{Session, Sessions};
use crate::irc::input::Source;
use crate::irc::outbox::Outbox;
use crate::irc::settings::IrcSettings;

pub struct BotState {
    pub settings: IrcSettings,
    pub outbox: Outbox,
    pub channels: Channels,
    pub sessions: Sessions,
    pub presence: Presence,
    control: ControlQueue,
}

impl BotState {
    pub fn new(settings: IrcSettings, outbox: Outbox, control: ControlQueue) -> Self {
        Self { settings, outbox, channels: Channels::default(), sessions: Sessions::default(), presence: Presence::default(), control }
    }

    /// Queues a job for the control task (handled one at a time, in order). When the queue is
    /// full the job is not taken, and whoever caused it hears so.
    pub fn queue(&self, job: ControlJob) {
        let Err(refused) = self.control.push(job) else { return };
        metrics::counter!("switchboard_irc_control_refused_total").increment(1);
        match *refused {
            ControlJob::Command(asker, _) => self.reply(&asker, replies::BUSY),
            ControlJob::LeakedToken(who, _) => {
                self.outbox.notice(&who.nick, replies::LEAKED_TOKEN_NOT_REVOKED);
            }
            ControlJob::TopicChanged(by, channel, _) => {
                tracing::warn!(%channel, by = %by.nick, "control queue full; a topic change is not checked")
            }
            ControlJob::ModeChanged(by, channel, _) => {
                tracing::warn!(%channel, by = %by.nick, "control queue full; a mode change is not checked")
            }
            ControlJob::RestoreTopic(channel) => tracing::warn!(%channel, "control queue full; the room's topic is not put back now"),
            ControlJob::EndSession(..) | ControlJob::Rejoin(_) => unreachable!("always queued"),
        }
    }

    pub fn is_me(&self, nick: &str) -> bool {
        nick.eq_ignore_ascii_case(&self.outbox.nick())
    }

    pub fn channel(&self, name: &str) -> Option<BoundChannel> {
        self.channels.get(name)
    }

    pub fn session_of(&self, who: &Source) -> Option<Session> {
        self.sessions.of(who)
    }

    /// Who said something, as a room member: by account when logged in, else by nick.
    pub fn member_ref(&self, who: &Source) -> Option<MemberRef> {
        let nick = DisplayNick::parse(&who.nick).ok()?;
        Some(MemberRef { user_id: self.session_of(who).map(|s| s.user_id), nick })
    }

    /// The member named by a nick in a moderation command (logged-in people by account).
    pub fn member_by_nick(&self, nick: &str) -> Result<MemberRef, Failure> {
        let display = DisplayNick::parse(nick)?;
        Ok(MemberRef { user_id: self.sessions.user_of_nick(nick), nick: display })
    }

    pub fn actor(&self, who: &Source) -> Actor {
        self.session_of(who).map_or(Actor::Anonymous, |s| Actor::User(s.user_id))
    }

    /// Ends `nick`'s session, if any, and records the end.
    pub fn end_session_of(&self, nick: &str, reason: SessionEndReason) {
        if let Some(session) = self.sessions.end(nick) {
            self.queue(ControlJob::EndSession(session, reason));
        }
    }

    /// Removes `nick` from `channel`; a session ends when its last shared channel is gone.
    pub fn forget_presence(&self, nick: &str, channel: &str, reason: SessionEndReason) {
        if self.presence.left(nick, channel) {
            self.end_session_of(nick, reason);
        }
    }

    /// The bot is off `channel` (kicked, parted, unbound): sessions whose last shared channel it
    /// was end.
    pub fn bot_left(&self, channel: &str) {
        for nick in self.presence.bot_left(channel) {
            self.end_session_of(&nick, SessionEndReason::Part);
        }
    }

    /// A member just logged in: they are invited into every invite-only channel the bot is on
    /// (on IRC a live session is the invitation).
    pub fn invite_to_closed_channels(&self, nick: &str) {
        for channel in self.channels.invite_only().into_iter().filter(|c| self.presence.has_joined(c)) {
            self.outbox.raw(&["INVITE", nick, &channel]);
        }
    }

    /// `+b` on the channel and a kick for everyone present whom the mask matches.
    /// `false` when not every line could be queued (no connection).
    pub fn apply_ban(&self, channel: &str, mask: &HostMask, reason: Option<&str>) -> bool {
        let mut queued = self.outbox.raw(&["MODE", channel, "+b", mask.as_str()]);
        let present = self.presence.on_channel_matching(channel, |nick| mask.matches_nick_only(nick));
        for nick in present.into_iter().filter(|n| !self.is_me(n)) {
            let reason = reason.unwrap_or(replies::BANNED).to_owned();
            queued &= self.outbox.send(irc::proto::Command::KICK(channel.to_owned(), nick, Some(reason)));
        }
        queued
    }

    /// Someone the room refuses as banned is on `channel`: `+b nick!*@*` (narrow, never a shared
    /// host) and a kick.
    pub fn kick_banned(&self, channel: &str, nick: &str) {
        tracing::info!(%nick, %channel, "banned person on the channel; banning and kicking");
        self.outbox.raw(&["MODE", channel, "+b", &format!("{nick}!*@*")]);
        self.outbox.send(irc::proto::Command::KICK(channel.to_owned(), nick.to_owned(), Some(replies::BANNED_ON_JOIN.into())));
    }

    /// Sets the channel's topic, remembered until the server shows it taken (a channel operator
    /// may have to give the bot `+o` first).
    pub fn set_topic(&self, channel: &str, topic: &str) {
        self.channels.topic_sent(channel);
        self.outbox.send(irc::proto::Command::TOPIC(channel.to_owned(), Some(topic.to_owned())));
    }

    /// Sends JOIN for a bound channel (with its key).
    pub fn join_channel(&self, bound: &BoundChannel) {
        match &bound.key {
            Some(key) => self.outbox.raw(&["JOIN", &bound.channel, key]),
            None => self.outbox.raw(&["JOIN", &bound.channel]),
        };
    }

    /// An answer where the command was said: `nick: text` in a channel, privately otherwise.
    pub fn reply(&self, asker: &Asker, text: &str) {
        match &asker.channel {
            Some(channel) => self.outbox.privmsg(channel, &format!("{}: {text}", asker.who.nick)),
            None => self.outbox.privmsg(&asker.who.nick, text),
        };
    }

    /// A private answer (NOTICE), whatever the command was said in.
    pub fn tell(&self, asker: &Asker, text: &str) {
        self.outbox.notice(&asker.who.nick, text);
    }

    /// Refusals say why; internal errors are logged with an id and the person only hears that
    /// something went wrong. Nothing internal reaches a channel.
    pub fn answer_failure(&self, asker: &Asker, failure: Failure) {
        match failure {
            Failure::Say(reason) => self.reply(asker, &reason),
            Failure::Internal(cause) => {
                let id = Uuid::new_v4().simple().to_string();
                let id = &id[..8];
                tracing::error!(error_id = id, %cause, "IRC command failed");
                self.reply(asker, &replies::internal_error(id));
            }
        }
    }
}
