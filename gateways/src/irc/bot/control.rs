//! The control task and the sweepers. Commands to the bot, session ends, leaked tokens, rejoins
//! and people's topic and mode changes are handled here one at a time, in the order they
//! arrived; token checks run aside (they may wait for the read model) but one at a time per
//! nick. The sweepers end idle sessions, take expired timed bans' `+b` off the channels, and at
//! start end the sessions an earlier run left open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use domain::events::SessionEndReason;
use domain::{Actor, Metadata, StreamName, User, UserCommand};
use tokio::sync::mpsc;

use super::Bot;
use super::handlers::Asker;
use super::replies;
use super::sessions::Session;
use crate::irc::command::BotCommand;
use crate::irc::input::{ModeChange, Source};

/// How often expired timed bans are looked for (their `-b` is at most this late).
const BAN_EXPIRY_SWEEP: Duration = Duration::from_secs(30);

pub enum ControlJob {
    Command(Asker, BotCommand),
    /// A token typed in a channel: revoke it.
    LeakedToken(Source, String),
    EndSession(Session, SessionEndReason),
    /// The bot was kicked from a channel: rejoin with its key.
    Rejoin(String),
    TopicChanged(Source, String, String),
    ModeChanged(Source, String, Vec<ModeChange>),
    /// The bot was given `+o` where its topic had not been taken: set the room's topic again.
    RestoreTopic(String),
}

impl ControlJob {
    /// Jobs people can cause in any number (commands, tokens said in a channel, topic and mode
    /// changes) count against the queue's bound. Session ends and rejoins are always taken:
    /// there is at most one per session or per kick of the bot, and a lost one would leave a
    /// session open in the log or the bot off its channel.
    fn is_bounded(&self) -> bool {
        !matches!(self, ControlJob::EndSession(..) | ControlJob::Rejoin(_))
    }
}

/// The sending side of the control task's queue, in arrival order, bounded (see
/// [`ControlJob::is_bounded`]).
pub struct ControlQueue {
    sender: mpsc::UnboundedSender<ControlJob>,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

/// The control task's side of the queue.
pub struct ControlJobs {
    receiver: mpsc::UnboundedReceiver<ControlJob>,
    waiting: Arc<AtomicUsize>,
}

impl ControlQueue {
    pub fn new(capacity: usize) -> (Self, ControlJobs) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        (Self { sender, waiting: waiting.clone(), capacity: capacity.max(1) }, ControlJobs { receiver, waiting })
    }

    /// Queues `job`, or hands it back when the bounded jobs waiting have reached the capacity.
    pub fn push(&self, job: ControlJob) -> Result<(), Box<ControlJob>> {
        if job.is_bounded()
            && self.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1)).is_err()
        {
            return Err(Box::new(job));
        }
        // The control task lives as long as the bot: a send fails only while shutting down.
        let _ = self.sender.send(job);
        Ok(())
    }
}

impl ControlJobs {
    pub async fn recv(&mut self) -> Option<ControlJob> {
        let job = self.receiver.recv().await?;
        self.taken(&job);
        Some(job)
    }

    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<ControlJob> {
        let job = self.receiver.try_recv().ok()?;
        self.taken(&job);
        Some(job)
    }

    fn taken(&self, job: &ControlJob) {
        if job.is_bounded() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Bot {
    pub(super) async fn control_loop(self, mut jobs: ControlJobs) {
        while let Some(job) = jobs.recv().await {
            let state = self.state();
            match job {
                ControlJob::Command(asker, command @ (BotCommand::Register { .. } | BotCommand::Login { .. })) => {
                    // Token checks may wait for the read model: they run aside, so nobody's
                    // `.login x` holds up everyone else's commands; one at a time per nick.
                    if !state.sessions.begin_token_check(&asker.who.nick) {
                        state.reply(&asker, replies::ONE_TOKEN_AT_A_TIME);
                        continue;
                    }
                    let bot = self.clone();
                    tokio::spawn(async move {
                        if let Err(failure) = bot.handlers().handle(&asker, command).await {
                            bot.state().answer_failure(&asker, failure);
                        }
                        bot.state().sessions.end_token_check(&asker.who.nick);
                    });
                }
                ControlJob::Command(asker, command) => {
                    if let Err(failure) = self.handlers().handle(&asker, command).await {
                        state.answer_failure(&asker, failure);
                    }
                }
                ControlJob::LeakedToken(who, token) => self.handlers().leaked_token(&who, &token).await,
                ControlJob::EndSession(session, reason) => self.handlers().record_session_end(&session, reason).await,
                ControlJob::Rejoin(channel) => {
                    if let Some(bound) = state.channel(&channel) {
                        state.join_channel(&bound);
                    }
                }
                ControlJob::TopicChanged(by, channel, topic) => {
                    if let Err(e) = self.handlers().topic_changed(&by, &channel, &topic).await {
                        tracing::error!(?e, %channel, "topic change not handled");
                    }
                }
                ControlJob::RestoreTopic(channel) => {
                    if let Err(e) = self.handlers().restore_topic(&channel).await {
                        tracing::error!(?e, %channel, "topic not put back");
                    }
                }
                ControlJob::ModeChanged(by, channel, changes) => {
                    if let Err(e) = self.handlers().mode_changed(&by, &channel, &changes).await {
                        tracing::error!(?e, %channel, "mode change not handled");
                    }
                }
            }
        }
    }

    /// Sessions still open in the log belong to a connection of an earlier run (a crash or a
    /// kill skipped their ends): they end now, as disconnects.
    pub(super) async fn end_stale_sessions(self) {
        let live = &self.inner.live;
        match live.read.open_irc_sessions().await {
            Ok(open) => {
                for (user_id, session_id) in open {
                    let end = UserCommand::EndIrcSession { session_id: Some(session_id), reason: SessionEndReason::Disconnect };
                    let system = Metadata::new(Actor::System, domain::Gateway::Irc);
                    if let Err(e) = live.executor.execute::<User>(&StreamName::user(user_id), &end, system).await {
                        tracing::error!(error = %e, %user_id, "stale session not ended");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "open sessions not readable; stale ones stay open"),
        }
    }

    /// Ends sessions with nothing said for the configured idle time.
    pub(super) async fn idle_sweeper(self) {
        let idle_timeout = self.state().settings.idle_timeout;
        let mut tick = tokio::time::interval(Duration::from_secs(30).min(idle_timeout).max(Duration::from_secs(1)));
        loop {
            tick.tick().await;
            let idle = chrono::TimeDelta::from_std(idle_timeout).unwrap_or(chrono::TimeDelta::hours(12));
            for (nick, session) in self.state().sessions.take_idle(Utc::now(), idle) {
                self.state().outbox.notice(&nick, replies::SESSION_IDLE);
                self.state().queue(ControlJob::EndSession(session, SessionEndReason::IdleTimeout));
            }
        }
    }

    /// Timed bans end by themselves in the domain; this takes their `+b` off the channel. A
    /// restart looks back a day, so an expiry during downtime is still cleared (a `-b` for a
    /// mask the channel no longer has is harmless).
    pub(super) async fn ban_expiry_sweeper(self) {
        let mut since = Utc::now() - chrono::TimeDelta::days(1);
        let mut tick = tokio::time::interval(BAN_EXPIRY_SWEEP);
        loop {
            tick.tick().await;
            let state = self.state();
            if !state.outbox.is_connected() {
                continue;
            }
            let now = Utc::now();
            match self.inner.live.read.expired_mask_bans(since).await {
                Ok(expired) => {
                    for (room_id, mask) in expired {
                        if let Some(channel) = state.channels.of_room(room_id).filter(|c| state.presence.has_joined(&c.channel)) {
                            state.outbox.raw(&["MODE", &channel.channel, "-b", &mask]);
                        }
                    }
                    since = now;
                }
                Err(e) => tracing::warn!(error = %e, "expired bans not readable; trying again"),
            }
        }
    }
}
