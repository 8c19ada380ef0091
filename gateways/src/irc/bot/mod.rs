//! The bot's brain: what each thing said or done on IRC means for Switchboard.
//!
//! - [`dispatch`]: [`Bot::dispatch`] takes one server input and returns quickly; room activity
//!   goes to the room's worker in server order, everything else to the control task.
//! - [`control`]: the control task (commands, session ends, leaked tokens, people's topic and
//!   mode changes, one at a time) and the sweepers (idle sessions, expired bans, stale sessions).
//! - [`handlers`]: what each command does, by area, behind the [`backend::Backend`] seam.
//! - [`replies`]: every sentence the bot says.
//! - What the bot knows only in memory, rebuilt on every connection: [`sessions`] (who is
//!   logged in from which `nick!user@host`), [`presence`] (who is on which channel, from NAMES
//!   and what happens after), [`channels`] (the bound channels); [`state`] holds them together
//!   with the settings and the outbox.

use std::sync::Arc;

use domain::events::{BanTarget, MemberRef};
use domain::{HostMask, StreamName};
use projections::ReadModels;
use projections::queries::BoundChannel;
use store::{CommandExecutor, EventStore, SharedStore};

use tokio::sync::watch;
use uuid::Uuid;

use self::backend::Live;
use self::handlers::Handlers;
use self::state::BotState;
use super::outbox::Outbox;
use super::rooms::{RoomWorkers, Written};
use super::settings::IrcSettings;

mod backend;
mod channels;
mod control;
mod dispatch;
mod handlers;
mod presence;
pub(crate) mod replies;
mod sessions;
mod state;

/// The event store the IRC side writes to and reads from, whichever backend it is: the one place
/// that names it (the room workers, the relay and the demo binding use it too).
pub type Store = dyn EventStore;

/// Nicks and channels are compared casefolded (ASCII, as the accepted charset is ASCII).
fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

struct Inner {
    state: BotState,
    live: Live,
    /// How many relays are running ([`Bot::relay_started`]).
    relays: watch::Sender<usize>,
}

/// The IRC bot. Cheap to clone.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

impl Bot {
    /// Builds the bot and starts its control task and sweepers.
    pub fn start(settings: IrcSettings, store: SharedStore, read: ReadModels) -> Self {
        let executor: CommandExecutor<Store> = CommandExecutor::new(store);
        let (control, jobs) = control::ControlQueue::new(settings.control_queue);
        let written = Written::default();
        let live = Live { rooms: RoomWorkers::new(executor.clone(), written.clone()), executor, read, written };
        let state = BotState::new(settings, Outbox::default(), control);
        let bot = Bot { inner: Arc::new(Inner { state, live, relays: watch::Sender::new(0) }) };
        tokio::spawn(bot.clone().end_stale_sessions());
        tokio::spawn(bot.clone().control_loop(jobs));
        tokio::spawn(bot.clone().idle_sweeper());
        tokio::spawn(bot.clone().ban_expiry_sweeper());
        bot
    }

    fn state(&self) -> &BotState {
        &self.inner.state
    }

    fn rooms(&self) -> &RoomWorkers {
        &self.inner.live.rooms
    }

    fn handlers(&self) -> Handlers<'_, Live> {
        Handlers { state: &self.inner.state, backend: &self.inner.live }
    }

    pub fn settings(&self) -> &IrcSettings {
        &self.state().settings
    }

    pub fn outbox(&self) -> &Outbox {
        &self.state().outbox
    }

    /// A relay runs until the returned guard is dropped; on shutdown the connection stays up
    /// until no relay runs, so the run in hand reaches the server ([`Bot::relay_running`]).
    pub fn relay_started(&self) -> RelayRunning {
        self.inner.relays.send_modify(|n| *n += 1);
        RelayRunning(self.inner.relays.clone())
    }

    /// How many relays are running, as it changes.
    pub fn relay_running(&self) -> watch::Receiver<usize> {
        self.inner.relays.subscribe()
    }

    /// Returns once everything heard on the channels so far has been appended to the log (or
    /// refused): the last step of a shutdown.
    pub async fn settle(&self) {
        self.rooms().settled().await;
    }

    /// The channels to join: every room bound to IRC, re-read from the read model.
    pub async fn load_channels(&self) -> Result<Vec<BoundChannel>, projections::ProjectionError> {
        let bound = self.inner.live.read.irc_channels().await?;
        self.state().channels.replace_all(&bound);
        Ok(bound)
    }

    /// Adds a binding the bot learned of while running (relay of the log).
    pub fn bind(&self, channel: BoundChannel) {
        self.state().channels.bind(channel);
    }

    pub fn unbind(&self, channel: &str) -> Option<BoundChannel> {
        self.state().channels.unbind(channel)
    }

    pub fn bound_channel_of(&self, room_id: Uuid) -> Option<BoundChannel> {
        self.state().channels.of_room(room_id)
    }

    /// Whether the bound channels have been read since the start ([`Bot::load_channels`], on
    /// the first connection): before that, a room without a channel here may have one.
    pub fn channels_known(&self) -> bool {
        self.state().channels.loaded()
    }

    /// A room's invite-only flag changed: the channel follows (`+i` / `-i`).
    pub fn set_invite_only(&self, room_id: Uuid, invite_only: bool) {
        let Some(channel) = self.state().channels.set_invite_only(room_id, invite_only) else { return };
        if self.has_joined(&channel) {
            self.state().outbox.raw(&["MODE", &channel, if invite_only { "+i" } else { "-i" }]);
        }
    }

    /// Whether a room is invite-only now (from its stream: a binding may arrive before the
    /// read model knows the room).
    pub async fn room_is_invite_only(&self, room_id: Uuid) -> bool {
        match self.inner.live.executor.load::<domain::Room>(&StreamName::room(room_id)).await {
            Ok((room, _)) => room.invite_only,
            Err(e) => {
                tracing::warn!(error = %e, %room_id, "room not readable; treating it as open");
                false
            }
        }
    }

    /// Whether the bot is on `channel` now.
    pub fn has_joined(&self, channel: &str) -> bool {
        self.state().presence.has_joined(channel)
    }

    /// Sends JOIN for a bound channel (with its key).
    pub fn join_channel(&self, bound: &BoundChannel) {
        self.state().join_channel(bound);
    }

    /// The channel mask for a ban target: a mask as is; an account by its current nick.
    pub async fn irc_mask_of(&self, target: &BanTarget) -> Option<HostMask> {
        self.handlers().irc_mask_of(target).await
    }

    /// `+b` on the channel and a kick for everyone present whom the mask matches.
    pub fn apply_ban(&self, channel: &str, mask: &HostMask, reason: Option<&str>) -> bool {
        self.state().apply_ban(channel, mask, reason)
    }

    /// The nick a room member has on `channel` now, if they are on it: an account by the nick
    /// it is logged in under, else by the member's nick.
    pub fn nick_on_channel(&self, channel: &str, member: &MemberRef) -> Option<String> {
        let state = self.state();
        let nick = member.user_id.and_then(|user_id| state.sessions.nick_of_user(user_id)).unwrap_or_else(|| member.nick.casefold());
        state.presence.on_channel_matching(channel, |present| fold(present) == nick).into_iter().next().filter(|n| !state.is_me(n))
    }

    /// The bot is off `channel` (kicked, parted, unbound): sessions whose last shared channel it
    /// was end.
    pub fn bot_left(&self, channel: &str) {
        self.state().bot_left(channel);
    }

    /// The connection is up under `nick`.
    pub fn connected(&self, sender: irc::client::Sender, nick: &str) {
        self.state().outbox.connect(sender, nick);
        metrics::gauge!("switchboard_irc_connected").set(1.0);
    }

    /// A session was ended outside IRC (from the web): forget it, so the person is no longer
    /// logged in here, and tell them. A session the bot already ended itself is gone: nothing
    /// happens, so a repeated event changes nothing.
    pub fn session_ended_elsewhere(&self, session_id: Uuid) {
        let state = self.state();
        if let Some(nick) = state.sessions.remove_by_id(session_id) {
            state.outbox.notice(&nick, replies::SESSION_ENDED_ELSEWHERE);
        }
    }

    /// The connection dropped: every session ends and presence is unknown until the next NAMES.
    pub fn disconnected(&self) {
        let state = self.state();
        state.outbox.disconnect();
        metrics::gauge!("switchboard_irc_connected").set(0.0);
        for session in state.sessions.end_all() {
            state.queue(control::ControlJob::EndSession(session, domain::events::SessionEndReason::Disconnect));
        }
        state.presence.clear();
    }
}

/// Held while a relay runs ([`Bot::relay_started`]).
pub struct RelayRunning(watch::Sender<usize>);

impl Drop for RelayRunning {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
