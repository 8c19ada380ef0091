//! The command handlers: what each [`BotCommand`] does, by area —
//! [`account`] (register, login, logout, status, meet, about; leaked tokens and session ends),
//! [`seen_quotes_info`] (what the bot remembers for everyone), [`moderation`] (kicks, bans,
//! mutes, modes, ban requests, topics, and what channel operators do by hand), [`staff`]
//! (binding channels, speaking as the bot) and [`lookups`] (help, version, whois).
//!
//! Handlers work on the bot's memory ([`BotState`]) and reach the rest of Switchboard only through
//! [`Backend`], so they are unit-tested without a server (`tests`). Who may use what is the
//! domain's rule; the handlers supply the caller's and the target's levels. The command
//! reference for people is `docs/commands.md`.

use domain::{Actor, Level};
use uuid::Uuid;

use super::backend::Backend;
use super::replies;
use super::state::BotState;
use crate::irc::command::BotCommand;
use crate::irc::input::Source;
use crate::irc::rooms::RoomFailure;
use store::ExecuteError;

pub mod account;
pub mod lookups;
pub mod moderation;
pub mod seen_quotes_info;
pub mod staff;

#[cfg(test)]
mod tests;

/// Where a command came from and where its answer goes.
#[derive(Debug, Clone)]
pub struct Asker {
    pub who: Source,
    /// The channel it was said in; `None` for a private message.
    pub channel: Option<String>,
}

/// Why a command could not be carried out, mapped to what the person hears in one place
/// ([`BotState::answer_failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
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

pub type Answer = Result<(), Failure>;

/// The handlers over the bot's memory and a backend. Cheap: two references.
pub struct Handlers<'a, B> {
    pub state: &'a BotState,
    pub backend: &'a B,
}

impl<B: Backend> Handlers<'_, B> {
    /// Carries out one command; the answer (or why not) goes to `asker`.
    pub async fn handle(&self, asker: &Asker, command: BotCommand) -> Answer {
        match command {
            BotCommand::Register { token } => self.register(asker, &token).await,
            BotCommand::Login { token } => self.login(asker, &token).await,
            BotCommand::Logout => self.logout(asker).await,
            BotCommand::Status => self.status(asker).await,
            BotCommand::Meet { nick } => self.meet(asker, &nick).await,
            BotCommand::About { nick } => self.about(asker, nick.as_deref()).await,
            BotCommand::SetAbout { text } => self.set_about(asker, &text).await,
            BotCommand::Seen { nick } => self.seen(asker, &nick).await,
            BotCommand::RandomQuote => self.random_quote(asker).await,
            BotCommand::Quote { id } => self.quote(asker, id).await,
            BotCommand::AddQuote { nick, text } => self.add_quote(asker, &nick, &text).await,
            BotCommand::SearchQuotes { words } => self.search_quotes(asker, &words).await,
            BotCommand::DeleteQuote { id } => self.delete_quote(asker, id).await,
            BotCommand::Info { item } => self.info(asker, &item).await,
            BotCommand::AddInfo { item, text } => self.add_info(asker, &item, &text).await,
            BotCommand::SetInfo { item, text } => self.set_info(asker, &item, &text).await,
            BotCommand::DeleteInfo { item } => self.delete_info(asker, &item).await,
            BotCommand::Help { topic } => self.help(asker, topic.as_deref()).await,
            BotCommand::Version => self.version(asker),
            BotCommand::Kick { nick, reason } => self.kick(asker, &nick, reason).await,
            BotCommand::Ban { target, duration, reason } => self.ban(asker, &target, duration, reason).await,
            BotCommand::Unban { target } => self.unban(asker, &target).await,
            BotCommand::Mute { nick, duration } => self.mute(asker, &nick, duration).await,
            BotCommand::Unmute { nick } => self.unmute(asker, &nick).await,
            BotCommand::Mode { nick, mode } => self.mode(asker, &nick, mode).await,
            BotCommand::RequestBan { nick, reason } => self.request_ban(asker, &nick, &reason).await,
            BotCommand::Approve { request } => self.decide_ban_request(asker, &request, true).await,
            BotCommand::Reject { request } => self.decide_ban_request(asker, &request, false).await,
            BotCommand::Topic { text } => self.topic(asker, text).await,
            BotCommand::Channels => self.channels(asker).await,
            BotCommand::JoinChannel { channel, key } => self.bind_channel(asker, &channel, key).await,
            BotCommand::PartChannel { channel } => self.unbind_channel(asker, &channel).await,
            BotCommand::Say { target, text } => self.speak(asker, &target, &text, domain::events::MessageKind::Say).await,
            BotCommand::Act { target, text } => self.speak(asker, &target, &text, domain::events::MessageKind::Action).await,
            BotCommand::Whois { nick } => self.whois(asker, &nick).await,
        }
    }

    fn prefix(&self) -> &str {
        &self.state.settings.prefix
    }

    fn actor(&self, asker: &Asker) -> Actor {
        self.state.actor(&asker.who)
    }

    /// The caller's level now: guests without a session, otherwise the account's current level.
    pub async fn level_of(&self, who: &Source) -> Result<Level, Failure> {
        let Some(session) = self.state.session_of(who) else { return Ok(Level::Guest) };
        Ok(self.backend.user(session.user_id).await?.level)
    }

    /// The level of whoever a nick names, for "the target must rank below the caller": the
    /// logged-in account, else the account owning that nick (staff who are not logged in on
    /// IRC, or are members by SMS, still outrank an operator), else a guest.
    pub async fn level_of_nick(&self, nick: &str) -> Result<Level, Failure> {
        let user_id = match self.state.sessions.user_of_nick(nick) {
            Some(user_id) => Some(user_id),
            None => self.backend.nick_holder(nick).await?,
        };
        match user_id {
            Some(user_id) => Ok(self.backend.user(user_id).await?.level),
            None => Ok(Level::Guest),
        }
    }

    /// The caller's account and level, refused below `needed`.
    async fn require(&self, asker: &Asker, needed: Level) -> Result<(Uuid, Level), Failure> {
        let Some(session) = self.state.session_of(&asker.who) else {
            return Err(Failure::Say(replies::login_needed(self.prefix())));
        };
        let level = self.level_of(&asker.who).await?;
        if level < needed {
            return Err(Failure::Say(replies::level_needed(needed, level)));
        }
        Ok((session.user_id, level))
    }

    /// The room of the channel the command was said in, and the channel's name.
    fn in_channel(&self, asker: &Asker) -> Result<(Uuid, String), Failure> {
        let channel = asker.channel.clone().ok_or_else(|| Failure::Say(replies::SAY_IT_IN_THE_CHANNEL.into()))?;
        let bound = self.state.channel(&channel).ok_or_else(|| Failure::Say(replies::not_a_room(&channel)))?;
        Ok((bound.room_id, bound.channel))
    }
}
