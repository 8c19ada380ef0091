//! Moderation: `.kick`, `.ban`, `.unban`, `.mute`, `.unmute`, `.voice`/`.op` and their
//! opposites, `.requestban`, `.approve`/`.reject`, `.topic`; and what channel operators do by
//! hand (`/mode`, `/topic`), which is recorded when they are Switchboard operators and undone
//! (topics) when they are not. Each acts on the room of the channel it was said in.

use domain::aggregates::room::BanRequest;
use domain::events::{BanTarget, ChannelMode, SessionEndReason};
use domain::{BanDuration, DisplayNick, HostMask, Level, Reason, RoomCommand, Topic};
use uuid::Uuid;

use super::{Answer, Asker, Failure, Handlers};
use crate::irc::bot::backend::Backend;
use crate::irc::bot::replies;
use crate::irc::input::{ChannelModeKind, ModeChange, Source};

impl<B: Backend> Handlers<'_, B> {
    /// `.kick <nick> [reason]`
    pub async fn kick(&self, asker: &Asker, nick: &str, reason: Option<String>) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        if self.state.is_me(nick) {
            return Err(Failure::Say(replies::WILL_NOT_KICK_MYSELF.into()));
        }
        let level = self.level_of(&asker.who).await?;
        let target_level = self.level_of_nick(nick).await?;
        let reason = reason.as_deref().map(Reason::parse).transpose()?;
        let kick =
            RoomCommand::Kick { target: self.state.member_by_nick(nick)?, reason: reason.clone(), caller_level: level, target_level };
        self.backend.execute_room(room_id, kick, self.actor(asker)).await?;
        let why = reason.map(|r| r.to_string()).unwrap_or_else(|| replies::kicked_by(&asker.who.nick));
        self.state.outbox.send(irc::proto::Command::KICK(channel.clone(), nick.to_owned(), Some(why)));
        self.state.forget_presence(nick, &channel, SessionEndReason::Kick);
        Ok(())
    }

    /// `.ban <nick|mask> [duration] [reason]`
    pub async fn ban(&self, asker: &Asker, target: &str, duration: Option<BanDuration>, reason: Option<String>) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        if self.state.is_me(target) {
            return Err(Failure::Say(replies::WILL_NOT_BAN_MYSELF.into()));
        }
        let level = self.level_of(&asker.who).await?;
        let (ban_target, mask) = self.ban_target(target).await?;
        let target_level = self.level_of_target(&ban_target).await?;
        let reason = reason.as_deref().map(Reason::parse).transpose()?;
        let ban = RoomCommand::Ban {
            ban_id: Uuid::now_v7(),
            target: ban_target,
            duration,
            reason: reason.clone(),
            caller_level: level,
            target_level,
        };
        self.backend.execute_room(room_id, ban, self.actor(asker)).await?;
        self.state.apply_ban(&channel, &mask, reason.as_ref().map(|r| r.as_str()));
        self.state.reply(asker, &replies::banned(&mask, duration.map(|d| d.as_delta())));
        Ok(())
    }

    /// `.unban <nick|mask>`
    pub async fn unban(&self, asker: &Asker, target: &str) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let (target, mask) = self.ban_target(target).await?;
        self.backend.execute_room(room_id, RoomCommand::Unban { target, caller_level: level }, self.actor(asker)).await?;
        self.state.outbox.raw(&["MODE", &channel, "-b", mask.as_str()]);
        self.state.reply(asker, &replies::unbanned(&mask));
        Ok(())
    }

    /// `.mute <nick> [duration]`
    pub async fn mute(&self, asker: &Asker, nick: &str, duration: Option<BanDuration>) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let target_level = self.level_of_nick(nick).await?;
        let mute = RoomCommand::Mute { target: self.state.member_by_nick(nick)?, duration, caller_level: level, target_level };
        self.backend.execute_room(room_id, mute, self.actor(asker)).await?;
        self.state.outbox.raw(&["MODE", &channel, "-v", nick]);
        self.state.reply(asker, &replies::muted(nick, duration.map(|d| d.as_delta())));
        Ok(())
    }

    /// `.unmute <nick>`: recorded, then voiced again on the channel (`.mute` took the voice).
    pub async fn unmute(&self, asker: &Asker, nick: &str) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let unmute = RoomCommand::Unmute { target: self.state.member_by_nick(nick)?, caller_level: level };
        self.backend.execute_room(room_id, unmute, self.actor(asker)).await?;
        self.state.outbox.raw(&["MODE", &channel, "+v", nick]);
        self.state.reply(asker, &replies::unmuted(nick));
        Ok(())
    }

    /// `.voice`, `.devoice`, `.op`, `.deop <nick>`: recorded, then set on the channel.
    pub async fn mode(&self, asker: &Asker, nick: &str, mode: ChannelMode) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let target_level = self.level_of_nick(nick).await?;
        let change = RoomCommand::ChangeChannelMode { nick: DisplayNick::parse(nick)?, mode, caller_level: level, target_level };
        self.backend.execute_room(room_id, change, self.actor(asker)).await?;
        let flag = match mode {
            ChannelMode::Voice => "+v",
            ChannelMode::Devoice => "-v",
            ChannelMode::Op => "+o",
            ChannelMode::Deop => "-o",
        };
        self.state.outbox.raw(&["MODE", &channel, flag, nick]);
        Ok(())
    }

    /// `.requestban <nick> <reason>`: for staff to decide.
    pub async fn request_ban(&self, asker: &Asker, nick: &str, reason: &str) -> Answer {
        let (room_id, _) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let (target, _) = self.ban_target(nick).await?;
        let request_id = Uuid::now_v7();
        let request = RoomCommand::RequestBan { request_id, target, reason: Reason::parse(reason)?, caller_level: level };
        self.backend.execute_room(room_id, request, self.actor(asker)).await?;
        self.state.reply(asker, &replies::ban_request_opened(request_id));
        Ok(())
    }

    /// `.approve <id>` / `.reject <id>`: `id` is the request's UUID or its first hex digits.
    pub async fn decide_ban_request(&self, asker: &Asker, request: &str, approve: bool) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let room = self.backend.room(room_id).await?;
        let wanted = request.to_ascii_lowercase();
        let matches: Vec<(&Uuid, &BanRequest)> =
            room.ban_requests.iter().filter(|(id, _)| id.simple().to_string().starts_with(&wanted) || id.to_string() == wanted).collect();
        let [(request_id, pending)] = matches.as_slice() else {
            return Err(Failure::Say(replies::no_single_ban_request(request)));
        };
        let request_id = **request_id;
        let actor = self.actor(asker);
        if approve {
            let target_level = self.level_of_target(&pending.target).await?;
            let approve =
                RoomCommand::ApproveBanRequest { request_id, ban_id: Uuid::now_v7(), duration: None, caller_level: level, target_level };
            self.backend.execute_room(room_id, approve, actor).await?;
            if let Some(mask) = self.irc_mask_of(&pending.target).await {
                self.state.apply_ban(&channel, &mask, Some(pending.reason.as_str()));
            }
            self.state.reply(asker, &replies::ban_request_approved(request_id));
        } else {
            self.backend.execute_room(room_id, RoomCommand::RejectBanRequest { request_id, caller_level: level }, actor).await?;
            self.state.reply(asker, &replies::ban_request_rejected(request_id));
        }
        Ok(())
    }

    /// `.topic <text>`: recorded, then set on the channel.
    pub async fn topic(&self, asker: &Asker, text: String) -> Answer {
        let (room_id, channel) = self.in_channel(asker)?;
        let level = self.level_of(&asker.who).await?;
        let topic = Topic::parse(&text)?;
        self.backend.execute_room(room_id, RoomCommand::SetTopic { topic: topic.clone(), caller_level: level }, self.actor(asker)).await?;
        self.state.set_topic(&channel, topic.as_str());
        Ok(())
    }

    /// Someone set the topic with `/topic`: recorded for operators; below operator the room's
    /// topic is put back.
    pub async fn topic_changed(&self, by: &Source, channel: &str, topic: &str) -> Answer {
        let Some(bound) = self.state.channel(channel) else { return Ok(()) };
        let level = self.level_of(by).await?;
        if level >= Level::Operator {
            let set = RoomCommand::SetTopic { topic: Topic::parse(topic)?, caller_level: level };
            self.backend.execute_room(bound.room_id, set, self.state.actor(by)).await?;
        } else {
            self.restore_topic(channel).await?;
        }
        Ok(())
    }

    /// Sets the room's topic on its channel again (nothing when the room has none).
    pub async fn restore_topic(&self, channel: &str) -> Answer {
        let Some(bound) = self.state.channel(channel) else { return Ok(()) };
        if let Some(kept) = self.backend.room(bound.room_id).await?.topic {
            self.state.set_topic(channel, kept.as_str());
        }
        Ok(())
    }

    /// Modes set by people: recorded when they are logged-in operators (the domain checks the
    /// level); otherwise the channel op acted outside Switchboard and only the server knows.
    pub async fn mode_changed(&self, by: &Source, channel: &str, changes: &[ModeChange]) -> Answer {
        let Some(bound) = self.state.channel(channel) else { return Ok(()) };
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
            if let Err(e) = self.backend.execute_room(bound.room_id, command, self.state.actor(by)).await {
                tracing::debug!(error = ?e, "mode change not recorded");
            }
        }
        Ok(())
    }

    /// A nick or mask as a ban target, with the `+b` mask the channel gets. A nick that
    /// belongs to an account bans the account everywhere (SMS too) and its nick on IRC.
    async fn ban_target(&self, target: &str) -> Result<(BanTarget, HostMask), Failure> {
        let mask = HostMask::parse(target)?;
        if target.contains(['!', '@', '*', '?']) {
            return Ok((BanTarget::Mask { mask: mask.clone() }, mask));
        }
        Ok(match self.backend.nick_holder(target).await? {
            Some(user_id) => (BanTarget::User { user_id }, mask),
            None => (BanTarget::Mask { mask: mask.clone() }, mask),
        })
    }

    /// A ban target's level: an account's, or a guest's for a mask.
    async fn level_of_target(&self, target: &BanTarget) -> Result<Level, Failure> {
        match target {
            BanTarget::User { user_id } => Ok(self.backend.user(*user_id).await?.level),
            BanTarget::Mask { .. } => Ok(Level::Guest),
        }
    }

    /// The channel mask for a ban target: a mask as is; an account by its current nick.
    pub async fn irc_mask_of(&self, target: &BanTarget) -> Option<HostMask> {
        match target {
            BanTarget::Mask { mask } => Some(mask.clone()),
            BanTarget::User { user_id } => {
                let user = self.backend.user(*user_id).await.ok()?;
                HostMask::parse(user.nick?.as_str()).ok()
            }
        }
    }
}
