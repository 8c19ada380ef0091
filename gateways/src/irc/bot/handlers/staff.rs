//! Staff commands: `.channels`, `.join`/`.part` (binding a channel to a new room and unbinding
//! it), `.say`/`.act` (speaking as the bot, recorded when said on a bound channel).

use domain::events::MessageKind;
use domain::{DisplayNick, Gateway, IrcChannel, Level, MessageBody, RoomCommand, RoomName, Speaker};
use projections::queries::BoundChannel;
use uuid::Uuid;

use super::{Answer, Asker, Failure, Handlers};
use crate::irc::bot::backend::Backend;
use crate::irc::bot::replies;

impl<B: Backend> Handlers<'_, B> {
    /// `.channels`: the bound channels.
    pub async fn channels(&self, asker: &Asker) -> Answer {
        self.require(asker, Level::Staff).await?;
        self.state.reply(asker, &replies::bound_channels(&self.state.channels.names()));
        Ok(())
    }

    /// `.join <#chan> [key]`: a new room bound to the channel, and the bot joins it.
    pub async fn bind_channel(&self, asker: &Asker, channel: &str, key: Option<String>) -> Answer {
        let (_, level) = self.require(asker, Level::Staff).await?;
        let irc_channel = IrcChannel::parse(channel)?;
        if self.state.channel(channel).is_some() {
            return Err(Failure::Say(replies::already_bound(channel)));
        }
        let room_id = Uuid::now_v7();
        let actor = self.actor(asker);
        let name = RoomName::parse(channel.trim_start_matches(['#', '&']))?;
        self.backend
            .execute_room(room_id, RoomCommand::Create { room_id, name, invite_only: false, caller_level: level }, actor.clone())
            .await?;
        let bind = RoomCommand::BindIrcChannel { channel: irc_channel.clone(), key: key.clone(), caller_level: level };
        self.backend.execute_room(room_id, bind, actor).await?;
        let bound = BoundChannel { room_id, channel: irc_channel.to_string(), key, invite_only: false };
        self.state.channels.bind(bound.clone());
        self.state.join_channel(&bound);
        self.state.reply(asker, &replies::now_a_room(channel));
        Ok(())
    }

    /// `.part <#chan>`: the room keeps its history; the bot leaves the channel.
    pub async fn unbind_channel(&self, asker: &Asker, channel: &str) -> Answer {
        let (_, level) = self.require(asker, Level::Staff).await?;
        let bound = self.state.channel(channel).ok_or_else(|| Failure::Say(replies::not_bound(channel)))?;
        self.backend.execute_room(bound.room_id, RoomCommand::UnbindIrcChannel { caller_level: level }, self.actor(asker)).await?;
        self.state.channels.unbind(channel);
        self.state.outbox.raw(&["PART", &bound.channel, replies::UNBOUND_PART]);
        self.state.reply(asker, &replies::unbound(channel));
        Ok(())
    }

    /// `.say` / `.act <#chan|nick> <text>`: said by the bot; recorded as the bot's on a bound
    /// channel.
    pub async fn speak(&self, asker: &Asker, target: &str, text: &str, kind: MessageKind) -> Answer {
        let (_, level) = self.require(asker, Level::Staff).await?;
        if let Some(bound) = self.state.channel(target) {
            let post = RoomCommand::Post {
                message_id: Uuid::now_v7(),
                speaker: Speaker::Bot { nick: DisplayNick::parse(&self.state.outbox.nick())? },
                body: MessageBody::parse(text)?,
                kind,
                gateway: Gateway::Irc,
                caller_level: level,
            };
            self.backend.execute_room(bound.room_id, post, self.actor(asker)).await?;
        }
        match kind {
            MessageKind::Action => self.state.outbox.action(target, text),
            _ => self.state.outbox.privmsg(target, text),
        };
        Ok(())
    }
}
