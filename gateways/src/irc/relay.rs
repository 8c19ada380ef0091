//! The way from the log to IRC (the bridge): what happens in a room elsewhere (an SMS member's
//! text, `sendToRoom` from GraphQL, a ban, an unban, a kick, a mute or unmute, a new binding or
//! an invite-only switch made by staff in GraphQL) is said or done on the room's channel, and an
//! IRC session ended on the web ends on IRC. Things that happened on IRC are not relayed back.
//!
//! It is a subscriber with its own checkpoint (`gateway:irc:relay`), advanced only after the
//! line went to the server, so a restart resumes where it left off. A first start begins at the
//! log's head: the history of a room is not replayed into its channel. While the bot is
//! disconnected or not yet back on the channel, the relay waits (bounded) instead of dropping.

use std::time::Duration;

use domain::events::{self, MessageKind};
use domain::{Event, EventCodec, Gateway};
use projections::queries::BoundChannel;
use store::{Filter, FirstStart, StoreError};
use tokio::sync::watch;

use store::SharedStore;

use super::bot::Bot;

pub const SUBSCRIBER: &str = "gateway:irc:relay";
/// How long a line waits for the bot, connected, to be on its channel before it is given up
/// (and logged): a channel the bot cannot join must not hold up every other room.
const WAIT_FOR_CHANNEL: Duration = Duration::from_secs(60);

const TYPES: [&str; 11] = [
    events::MessagePosted::EVENT_TYPE,
    events::UserBanned::EVENT_TYPE,
    events::UserUnbanned::EVENT_TYPE,
    events::MemberKicked::EVENT_TYPE,
    events::RoomMuteSet::EVENT_TYPE,
    events::RoomMuteLifted::EVENT_TYPE,
    events::IrcChannelBound::EVENT_TYPE,
    events::IrcChannelUnbound::EVENT_TYPE,
    events::InviteOnlyChanged::EVENT_TYPE,
    events::IrcSessionEnded::EVENT_TYPE,
    events::GuestTextingLimited::EVENT_TYPE,
];

/// Follows the log until `shutdown`; errors end the run (the caller restarts it after a pause).
pub async fn run(bot: Bot, store: SharedStore, shutdown: watch::Receiver<bool>) -> Result<(), StoreError> {
    let (bot, waiting) = (&bot, &shutdown);
    store::follow(&*store, SUBSCRIBER, Filter::event_types(TYPES), FirstStart::Head, shutdown.clone(), |recorded| async move {
        let from_irc = recorded.metadata.gateway == Gateway::Irc;
        // What happened on IRC is on IRC already; only an invite-only change is applied whoever
        // made it. The channel's own talk, nearly all of what this follows, is not even decoded.
        if from_irc && recorded.event_type != events::InviteOnlyChanged::EVENT_TYPE {
            return Ok(());
        }
        match Event::decode_json(&recorded.event_type, recorded.schema_version, recorded.payload.as_str()) {
            Ok(event) => relay(bot, event, from_irc, &mut waiting.clone()).await,
            Err(e) => tracing::error!(error = %e, position = %recorded.position, "undecodable event skipped by the IRC relay"),
        }
        Ok(())
    })
    .await
}

async fn relay(bot: &Bot, event: Event, from_irc: bool, shutdown: &mut watch::Receiver<bool>) {
    match event {
        Event::IrcChannelBound(bound) if !from_irc => {
            let invite_only = bot.room_is_invite_only(bound.room_id).await;
            let channel = BoundChannel { room_id: bound.room_id, channel: bound.channel.to_string(), key: bound.key.clone(), invite_only };
            bot.bind(channel.clone());
            bot.join_channel(&channel);
        }
        Event::IrcChannelUnbound(unbound) if !from_irc => {
            if let Some(channel) = bot.unbind(unbound.channel.as_str()) {
                bot.outbox().raw(&["PART", &channel.channel, super::bot::replies::UNBOUND_PART]);
            }
        }
        Event::MessagePosted(message) if !from_irc && message.gateway != Gateway::Irc => {
            let Some(channel) = on_channel(bot, message.room_id, shutdown).await else { return };
            let text = match (message.author_id, message.kind) {
                (None, MessageKind::Action) => return bot.outbox().action(&channel, message.body.as_str()),
                (None, _) => message.body.to_string(),
                (Some(_), MessageKind::Action) => format!("* {} {}", message.author_nick, message.body),
                (Some(_), _) => format!("[{}] {}", message.author_nick, message.body),
            };
            bot.outbox().privmsg(&channel, &text);
        }
        Event::UserBanned(ban) if !from_irc => {
            let Some(mask) = bot.irc_mask_of(&ban.target).await else { return };
            if let Some(channel) = on_channel(bot, ban.room_id, shutdown).await {
                bot.apply_ban(&channel, &mask, ban.reason.as_ref().map(|r| r.as_str()));
            }
        }
        Event::MemberKicked(kick) if !from_irc => {
            let Some(channel) = on_channel(bot, kick.room_id, shutdown).await else { return };
            // Kicked from the room: off its channel too, when they are on it.
            if let Some(nick) = bot.nick_on_channel(&channel, &kick.member) {
                let reason = kick.reason.map(|r| r.to_string()).unwrap_or_else(|| super::bot::replies::KICKED.to_owned());
                bot.outbox().send(irc::proto::Command::KICK(channel, nick, Some(reason)));
            }
        }
        Event::RoomMuteSet(mute) if !from_irc => {
            let Some(channel) = on_channel(bot, mute.room_id, shutdown).await else { return };
            if let Some(nick) = bot.nick_on_channel(&channel, &mute.target) {
                bot.outbox().raw(&["MODE", &channel, "-v", &nick]);
            }
        }
        Event::RoomMuteLifted(unmute) if !from_irc => {
            let Some(channel) = on_channel(bot, unmute.room_id, shutdown).await else { return };
            if let Some(nick) = bot.nick_on_channel(&channel, &unmute.target) {
                bot.outbox().raw(&["MODE", &channel, "+v", &nick]);
            }
        }
        Event::InviteOnlyChanged(change) => bot.set_invite_only(change.room_id, change.invite_only),
        Event::IrcSessionEnded(ended) if !from_irc => bot.session_ended_elsewhere(ended.session_id),
        Event::GuestTextingLimited(limited) => bot.outbox().notice(limited.nick.as_str(), &guest_limit_notice(limited.limit)),
        Event::UserUnbanned(unban) if !from_irc => {
            let Some(mask) = bot.irc_mask_of(&unban.target).await else { return };
            if let Some(channel) = on_channel(bot, unban.room_id, shutdown).await {
                bot.outbox().raw(&["MODE", &channel, "-b", mask.as_str()]);
            }
        }
        _ => {}
    }
}

/// What an IRC guest hears when their lines stop being texted to the room's phones.
pub fn guest_limit_notice(limit: u32) -> String {
    format!(
        "Your lines are no longer texted to this room's phones for now: a guest can have {limit} an hour texted. \
         They still reach the channel; log in (.login) to lift the limit."
    )
}

/// The room's channel once the bot is on it; `None` when the room is not (or no longer) on IRC,
/// or the bot, while connected, could not get on the channel in time. While disconnected it waits
/// as long as it takes: lines are held, not dropped, during an outage.
async fn on_channel(bot: &Bot, room_id: uuid::Uuid, shutdown: &mut watch::Receiver<bool>) -> Option<String> {
    let mut deadline = tokio::time::Instant::now() + WAIT_FOR_CHANNEL;
    loop {
        let channel = bot.bound_channel_of(room_id)?;
        if bot.has_joined(&channel.channel) {
            return Some(channel.channel);
        }
        if !bot.outbox().is_connected() {
            deadline = tokio::time::Instant::now() + WAIT_FOR_CHANNEL;
        }
        if tokio::time::Instant::now() >= deadline || *shutdown.borrow() {
            tracing::warn!(channel = %channel.channel, "the bot is not on the channel; relayed line dropped");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
