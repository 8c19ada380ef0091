//! One worker per room the bot is in: it keeps the room in memory and writes everything that
//! happens on the room's channel (talk, joins, parts, moderation) to the room's stream, in the
//! order the server sent it.
//!
//! A busy channel is one stream, and one stream is written one append at a time. So the worker
//! takes whatever has queued up while the previous append was in flight and decides it as one
//! batch on the kept state ([`store::CommandExecutor::execute_batch`]): one transaction, one
//! commit for many lines. That is what lets a channel take thousands of lines a second on a
//! durable PostgreSQL, where one commit per line would cap it at the disk's fsync rate.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use domain::events::{LeaveReason, MemberRef};
use domain::{Actor, DisplayNick, Event, Gateway, Joining, Level, Metadata, Room, RoomCommand, RoomError, StreamName};
use store::{CommandExecutor, ExecuteError, Loaded, Position};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::bot::Store;

/// The most lines decided in one append.
const MAX_BATCH: usize = 512;
/// Lines waiting for a room before the reader waits. Generous: when the reader waits, the IRC
/// server's send queue towards the bot fills instead, and a server drops a client whose queue
/// overflows; a burst is better absorbed here (a line is a few hundred bytes).
const QUEUE: usize = 65_536;

/// What became of one command sent to a room worker.
pub type RoomOutcome = Result<(Vec<Event>, Position), RoomFailure>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RoomFailure {
    /// The domain refused (banned, muted, not allowed…): the reason is for the person.
    #[error(transparent)]
    Refused(RoomError),
    /// Storage trouble: logged, never shown.
    #[error("the room could not be written: {0}")]
    Unavailable(String),
}

enum Job {
    Command {
        command: RoomCommand,
        metadata: Metadata,
        reply: Option<oneshot::Sender<RoomOutcome>>,
    },
    /// NAMES after a (re)join: the IRC people present now, in the server's order of events.
    Reconcile {
        present: Vec<String>,
    },
    /// The room as the worker holds it after everything queued before.
    Snapshot {
        reply: oneshot::Sender<Result<Room, RoomFailure>>,
    },
    /// Answered once everything queued before has been appended (or refused).
    Settle {
        reply: oneshot::Sender<()>,
    },
}

/// The newest position the bot has written to the log: its consistency token. The bot's reads
/// of the read models wait until they have reached it, so what it just wrote (a quote, an info
/// item, a line of talk asked about with `.seen`) is what it reads back.
#[derive(Clone, Default)]
pub struct Written(Arc<Mutex<Position>>);

impl Written {
    pub fn advance(&self, position: Position) {
        let mut newest = self.0.lock().expect("written position lock");
        *newest = (*newest).max(position);
    }

    pub fn newest(&self) -> Position {
        *self.0.lock().expect("written position lock")
    }
}

/// The room workers of one bot, started on first use.
#[derive(Clone)]
pub struct RoomWorkers {
    executor: CommandExecutor<Store>,
    workers: Arc<Mutex<HashMap<Uuid, mpsc::Sender<Job>>>>,
    written: Written,
}

impl RoomWorkers {
    /// Workers that advance `written` with every append they make.
    pub fn new(executor: CommandExecutor<Store>, written: Written) -> Self {
        Self { executor, workers: Arc::default(), written }
    }

    fn sender(&self, room_id: Uuid) -> mpsc::Sender<Job> {
        let mut workers = self.workers.lock().expect("room worker map lock");
        if let Some(sender) = workers.get(&room_id).filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(self.executor.clone(), self.written.clone(), room_id, receiver));
        workers.insert(room_id, sender.clone());
        sender
    }

    /// Queues a reconciliation with a NAMES list: IRC members not listed have left while the
    /// bot was away (`Disconnect`), listed people who are not members arrive. Decided by the
    /// worker in order with the lines around it, so a JOIN right after the NAMES reply counts.
    pub async fn reconcile(&self, room_id: Uuid, present: Vec<String>) {
        if self.sender(room_id).send(Job::Reconcile { present }).await.is_err() {
            tracing::error!(%room_id, "room worker gone; presence not reconciled");
        }
    }

    /// Queues a command and returns at once; refusals are logged at debug level (talk from a
    /// muted person is simply not recorded).
    pub async fn submit(&self, room_id: Uuid, command: RoomCommand, metadata: Metadata) {
        if self.sender(room_id).send(Job::Command { command, metadata, reply: None }).await.is_err() {
            tracing::error!(%room_id, "room worker gone; line not recorded");
        }
    }

    /// Queues a command behind everything already queued for the room and waits for its outcome.
    pub async fn execute(&self, room_id: Uuid, command: RoomCommand, metadata: Metadata) -> RoomOutcome {
        let (reply, outcome) = oneshot::channel();
        self.sender(room_id)
            .send(Job::Command { command, metadata, reply: Some(reply) })
            .await
            .map_err(|_| RoomFailure::Unavailable("room worker gone".into()))?;
        outcome.await.map_err(|_| RoomFailure::Unavailable("room worker stopped".into()))?
    }

    /// Queues a command in order and sends its outcome to `reply` when decided, without waiting
    /// (the reader goes on; a task awaits the outcome).
    pub async fn execute_detached(&self, room_id: Uuid, command: RoomCommand, metadata: Metadata, reply: oneshot::Sender<RoomOutcome>) {
        if self.sender(room_id).send(Job::Command { command, metadata, reply: Some(reply) }).await.is_err() {
            tracing::error!(%room_id, "room worker gone; line not recorded");
        }
    }

    /// Returns once every room has appended what was queued before this call, so `written`
    /// covers it: a command reading the rooms' read models (`.about` after a JOIN) sees the
    /// lines that reached the bot before it, however slow the appends are.
    pub async fn settled(&self) {
        let senders: Vec<mpsc::Sender<Job>> =
            self.workers.lock().expect("room worker map lock").values().filter(|s| !s.is_closed()).cloned().collect();
        let waits = senders.into_iter().map(|sender| async move {
            let (reply, done) = oneshot::channel();
            if sender.send(Job::Settle { reply }).await.is_ok() {
                let _ = done.await;
            }
        });
        futures::future::join_all(waits).await;
    }

    /// The room after everything queued before this call, from the worker's kept state (a busy
    /// room's stream is long; reading it again for a `.approve` would be wasted work).
    pub async fn snapshot(&self, room_id: Uuid) -> Result<Room, RoomFailure> {
        let (reply, room) = oneshot::channel();
        self.sender(room_id).send(Job::Snapshot { reply }).await.map_err(|_| RoomFailure::Unavailable("room worker gone".into()))?;
        room.await.map_err(|_| RoomFailure::Unavailable("room worker stopped".into()))?
    }
}

async fn run(executor: CommandExecutor<Store>, written: Written, room_id: Uuid, mut jobs: mpsc::Receiver<Job>) {
    let stream = StreamName::room(room_id);
    let mut kept: Option<Loaded<Room>> = None;
    let mut received = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut received, MAX_BATCH).await > 0 {
        // Commands run as batches; a reconciliation ends the batch before it, since what it
        // decides depends on the state those commands leave.
        let mut batch = Vec::new();
        for job in received.drain(..) {
            match job {
                // The key makes a retry after an unknown outcome safe (see `flush`).
                Job::Command { command, metadata, reply } => batch.push((command, metadata, Uuid::now_v7(), reply)),
                Job::Snapshot { reply } => {
                    flush(&executor, &written, &stream, room_id, &mut kept, &mut batch).await;
                    let room = match kept.as_ref() {
                        Some(loaded) => Ok(loaded.state.clone()),
                        None => Err(RoomFailure::Unavailable("the room could not be loaded".into())),
                    };
                    let _ = reply.send(room);
                }
                Job::Settle { reply } => {
                    if !batch.is_empty() {
                        flush(&executor, &written, &stream, room_id, &mut kept, &mut batch).await;
                    }
                    let _ = reply.send(());
                }
                Job::Reconcile { present } => {
                    flush(&executor, &written, &stream, room_id, &mut kept, &mut batch).await;
                    if let Some(loaded) = kept.as_ref() {
                        batch.extend(reconciliation(&loaded.state, &present).into_iter().map(|(c, m)| (c, m, Uuid::now_v7(), None)));
                        flush(&executor, &written, &stream, room_id, &mut kept, &mut batch).await;
                    }
                }
            }
        }
        flush(&executor, &written, &stream, room_id, &mut kept, &mut batch).await;
    }
}

type Pending = (RoomCommand, Metadata, Uuid, Option<oneshot::Sender<RoomOutcome>>);

/// Decides and appends `batch` on the kept room (loading it first when needed). When the store
/// cannot say whether the append committed (the connection dropped), the room is reloaded and the
/// same batch, with the same idempotency keys, is run once more: what committed is recognised,
/// nothing is written twice, and no line is lost to a blip.
async fn flush(
    executor: &CommandExecutor<Store>,
    written: &Written,
    stream: &StreamName,
    room_id: Uuid,
    kept: &mut Option<Loaded<Room>>,
    batch: &mut Vec<Pending>,
) {
    let commands: Vec<(RoomCommand, Metadata, Uuid)> = batch.iter().map(|(c, m, k, _)| (c.clone(), m.clone(), *k)).collect();
    for attempt in 1..=2 {
        let loaded = match kept.take() {
            Some(loaded) => Ok(loaded),
            None => executor.load_kept::<Room>(stream).await,
        };
        let mut loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) if attempt == 1 && e.is_transient() => continue,
            Err(e) => {
                tracing::error!(%room_id, error = %e, lines = batch.len(), "room not loadable; lines not recorded");
                fail_all(batch, &e.to_string());
                return;
            }
        };
        if batch.is_empty() {
            *kept = Some(loaded);
            return;
        }
        match executor.execute_batch(&mut loaded, &commands).await {
            Ok(outcome) => {
                let position = outcome.appended.map(|a| a.position).unwrap_or(Position::START);
                written.advance(position);
                for ((_, _, _, reply), result) in batch.drain(..).zip(outcome.results) {
                    let outcome = match result {
                        Ok(events) => Ok((events, position)),
                        Err(refusal) => {
                            tracing::debug!(%room_id, reason = %refusal, "room command refused");
                            Err(RoomFailure::Refused(refusal))
                        }
                    };
                    if let Some(reply) = reply {
                        let _ = reply.send(outcome);
                    }
                }
                *kept = Some(loaded);
                return;
            }
            // The kept state is dropped either way: the next attempt starts from the store.
            Err(ExecuteError::Store(e)) if attempt == 1 && e.is_transient() => {
                tracing::warn!(%room_id, error = %e, "room append outcome unknown; reloading and retrying with the same keys");
            }
            Err(e) => {
                let reason = match e {
                    ExecuteError::Store(s) => s.to_string(),
                    other => other.to_string(),
                };
                tracing::error!(%room_id, error = %reason, lines = batch.len(), "room batch not recorded");
                fail_all(batch, &reason);
                return;
            }
        }
    }
}

/// What a NAMES list means for the room: IRC members not present left while the bot was away;
/// present people who are not members arrive (as guests: nobody has a session yet after a
/// reconnect). Present members are left alone, so a reconnect records no duplicates.
fn reconciliation(room: &Room, present: &[String]) -> Vec<(RoomCommand, Metadata)> {
    let system = Metadata::new(Actor::System, Gateway::Irc);
    let folded: HashSet<String> = present.iter().map(|n| n.to_ascii_lowercase()).collect();
    let mut commands = Vec::new();
    for member in room.members.values() {
        if member.gateway == Gateway::Irc && !member.is_bot && !folded.contains(&member.member.nick.casefold()) {
            commands.push((RoomCommand::Leave { member: member.member.clone(), reason: LeaveReason::Disconnect }, system.clone()));
        }
    }
    for nick in present {
        let Ok(nick) = DisplayNick::parse(nick) else { continue };
        if room.members.values().any(|m| m.member.nick.casefold() == nick.casefold()) {
            continue;
        }
        let joining = Joining {
            member: MemberRef { user_id: None, nick },
            mask: None,
            phone: None,
            gateway: Gateway::Irc,
            caller_level: Level::Guest,
            as_bot: false,
            nick_holder: None,
        };
        commands.push((RoomCommand::Join(joining), Metadata::new(Actor::Anonymous, Gateway::Irc)));
    }
    commands
}

fn fail_all(batch: &mut Vec<Pending>, reason: &str) {
    for (_, _, _, reply) in batch.drain(..) {
        if let Some(reply) = reply {
            let _ = reply.send(Err(RoomFailure::Unavailable(reason.to_owned())));
        }
    }
}
