//! The way from the log to IRC (the bridge): what happens in a room elsewhere (an SMS member's
//! text, `sendToRoom` from GraphQL, a ban, an unban, a kick, a mute or unmute, a new binding or
//! an invite-only switch made by staff in GraphQL) is said or done on the room's channel, and an
//! IRC session ended on the web ends on IRC. Things that happened on IRC are not relayed back.
//!
//! It is a subscriber with its own checkpoint (`gateway:irc:relay`), advanced past a run of
//! events only once the server has read every line they made ([`Outbox::written`]): a line
//! still queued when the connection drops or the process stops is said again after the
//! reconnect or the restart, never lost. A first start begins at the log's head: the history of
//! a room is not replayed into its channel. While the bot is disconnected or not yet back on the
//! channel, the relay waits (bounded while connected) instead of dropping. On shutdown the
//! connection stays up until the relay has finished the run in hand ([`Bot::relay_running`]).
//!
//! [`Outbox::written`]: super::outbox::Outbox::written

use std::time::Duration;

use domain::events::{self, MessageKind};
use domain::{Event, EventCodec, Gateway};
use projections::queries::BoundChannel;
use store::{Filter, FirstStart, StoreError};
use tokio::sync::watch;

use super::outbox::NotWritten;

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

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Lines of this run may not have reached the server: the run is relayed again.
    #[error(transparent)]
    NotWritten(#[from] NotWritten),
    #[error("stopping before the bot was back on the channel")]
    Stopping,
}

/// Follows the log until `shutdown`; errors end the run (the caller restarts it after a pause,
/// from the checkpoint: the run that failed is relayed again).
pub async fn run(bot: Bot, store: SharedStore, shutdown: watch::Receiver<bool>) -> Result<(), RelayError> {
    let _running = bot.relay_started();
    let (bot, waiting) = (&bot, &shutdown);
    let followed =
        store::follow_runs(&*store, SUBSCRIBER, Filter::event_types(TYPES), FirstStart::Head, shutdown.clone(), |run| async move {
            let mut said = false;
            for recorded in run {
                let from_irc = recorded.metadata.gateway == Gateway::Irc;
                // What happened on IRC is on IRC already; only an invite-only change is applied
                // whoever made it. The channel's own talk, nearly all of what this follows, is not
                // even decoded.
                if from_irc && recorded.event_type != events::InviteOnlyChanged::EVENT_TYPE {
                    continue;
                }
                match Event::decode_json(&recorded.event_type, recorded.schema_version, recorded.payload.as_str()) {
                    Ok(event) => said |= relay(bot, event, from_irc, &mut waiting.clone()).await?,
                    Err(e) => tracing::error!(error = %e, position = %recorded.position, "undecodable event skipped by the IRC relay"),
                }
            }
            if said {
                bot.outbox().written().await?;
            }
            Ok(())
        })
        .await;
    match followed {
        // Stopped in the middle of a run: it is not checkpointed, so the next start does it.
        Err(RelayError::Stopping) => Ok(()),
        other => other,
    }
}

/// Whether a line was queued for the server (`Ok(false)`: nothing to say, or given up on a
/// channel the bot cannot get on); `Err` when it could not be, so the run is done again.
fn queued(sent: bool) -> Result<bool, RelayError> {
    if sent { Ok(true) } else { Err(NotWritten.into()) }
}

async fn relay(bot: &Bot, event: Event, from_irc: bool, shutdown: &mut watch::Receiver<bool>) -> Result<bool, RelayError> {
    match event {
        Event::IrcChannelBound(bound) if !from_irc => {
            let invite_only = bot.room_is_invite_only(bound.room_id).await;
            let channel = BoundChannel { room_id: bound.room_id, channel: bound.channel.to_string(), key: bound.key.clone(), invite_only };
            bot.bind(channel.clone());
            bot.join_channel(&channel);
            Ok(false)
        }
        Event::IrcChannelUnbound(unbound) if !from_irc => match bot.unbind(unbound.channel.as_str()) {
            Some(channel) => queued(bot.outbox().raw(&["PART", &channel.channel, super::bot::replies::UNBOUND_PART])),
            None => Ok(false),
        },
        Event::MessagePosted(message) if !from_irc && message.gateway != Gateway::Irc => {
            let Some(channel) = on_channel(bot, message.room_id, shutdown).await? else { return Ok(false) };
            let text = match (message.author_id, message.kind) {
                (None, MessageKind::Action) => return queued(bot.outbox().action(&channel, message.body.as_str())),
                (None, _) => message.body.to_string(),
                (Some(_), MessageKind::Action) => format!("* {} {}", message.author_nick, message.body),
                (Some(_), _) => format!("[{}] {}", message.author_nick, message.body),
            };
            queued(bot.outbox().privmsg(&channel, &text))
        }
        Event::UserBanned(ban) if !from_irc => {
            let Some(mask) = bot.irc_mask_of(&ban.target).await else { return Ok(false) };
            match on_channel(bot, ban.room_id, shutdown).await? {
                Some(channel) => queued(bot.apply_ban(&channel, &mask, ban.reason.as_ref().map(|r| r.as_str()))),
                None => Ok(false),
            }
        }
        Event::MemberKicked(kick) if !from_irc => {
            let Some(channel) = on_channel(bot, kick.room_id, shutdown).await? else { return Ok(false) };
            // Kicked from the room: off its channel too, when they are on it.
            match bot.nick_on_channel(&channel, &kick.member) {
                Some(nick) => {
                    let reason = kick.reason.map(|r| r.to_string()).unwrap_or_else(|| super::bot::replies::KICKED.to_owned());
                    queued(bot.outbox().send(irc::proto::Command::KICK(channel, nick, Some(reason))))
                }
                None => Ok(false),
            }
        }
        Event::RoomMuteSet(mute) if !from_irc => {
            let Some(channel) = on_channel(bot, mute.room_id, shutdown).await? else { return Ok(false) };
            match bot.nick_on_channel(&channel, &mute.target) {
                Some(nick) => queued(bot.outbox().raw(&["MODE", &channel, "-v", &nick])),
                None => Ok(false),
            }
        }
        Event::RoomMuteLifted(unmute) if !from_irc => {
            let Some(channel) = on_channel(bot, unmute.room_id, shutdown).await? else { return Ok(false) };
            match bot.nick_on_channel(&channel, &unmute.target) {
                Some(nick) => queued(bot.outbox().raw(&["MODE", &channel, "+v", &nick])),
                None => Ok(false),
            }
        }
        Event::InviteOnlyChanged(change) => {
            bot.set_invite_only(change.room_id, change.invite_only);
            Ok(false)
        }
        Event::IrcSessionEnded(ended) if !from_irc => {
            bot.session_ended_elsewhere(ended.session_id);
            Ok(false)
        }
        // A notice to someone who may have left: said once if it can be, never retried.
        Event::GuestTextingLimited(limited) => {
            bot.outbox().notice(limited.nick.as_str(), &guest_limit_notice(limited.limit));
            Ok(false)
        }
        Event::UserUnbanned(unban) if !from_irc => {
            let Some(mask) = bot.irc_mask_of(&unban.target).await else { return Ok(false) };
            match on_channel(bot, unban.room_id, shutdown).await? {
                Some(channel) => queued(bot.outbox().raw(&["MODE", &channel, "-b", mask.as_str()])),
                None => Ok(false),
            }
        }
        _ => Ok(false),
    }
}

/// What an IRC guest hears when their lines stop being texted to the room's phones.
pub fn guest_limit_notice(limit: u32) -> String {
    format!(
        "Your lines are no longer texted to this room's phones for now: a guest can have {limit} an hour texted. \
         They still reach the channel; log in (.login) to lift the limit."
    )
}

/// The room's channel once the bot is on it; `None` when the room is not (or no longer) on IRC
/// (known once the bindings were read),
/// or the bot, while connected, could not get on the channel in time. While disconnected it waits
/// as long as it takes: lines are held, not dropped, during an outage; a shutdown in that wait
/// is `Err(Stopping)`, so the line waits in the log for the next start.
async fn on_channel(bot: &Bot, room_id: uuid::Uuid, shutdown: &mut watch::Receiver<bool>) -> Result<Option<String>, RelayError> {
    let mut deadline = tokio::time::Instant::now() + WAIT_FOR_CHANNEL;
    loop {
        // Until the first connection has read the bindings, a room may be bound all the same.
        while !bot.channels_known() {
            if *shutdown.borrow() {
                return Err(RelayError::Stopping);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let Some(channel) = bot.bound_channel_of(room_id) else { return Ok(None) };
        if bot.has_joined(&channel.channel) {
            return Ok(Some(channel.channel));
        }
        if *shutdown.borrow() {
            return Err(RelayError::Stopping);
        }
        if !bot.outbox().is_connected() {
            deadline = tokio::time::Instant::now() + WAIT_FOR_CHANNEL;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(channel = %channel.channel, "the bot is not on the channel; relayed line dropped");
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
