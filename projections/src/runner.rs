//! Live runners: one task per projection, catching up from its checkpoint and then following the
//! log as it grows, woken by the store's NOTIFY wake-ups (with polling as the fallback).
//!
//! Only one process runs a given projection at a time (a session advisory lock); the others stand
//! by and take over when its connection goes. A connection failure is retried with backoff; an
//! event the projection cannot apply stops that projection (state `failed`, naming the event)
//! while the others go on.

use std::sync::Arc;
use std::time::Duration;

use store::{EventStore, Filter, Position};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::build::{BuildOptions, rebuild};
use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::worker::{BatchOutcome, Role, Worker};
use crate::{db, locks};

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most events applied in one transaction.
    pub batch_size: usize,
    /// How often to check for new events when no wake-up arrives.
    pub poll_interval: Duration,
    /// How often a standby asks whether the active runner has gone.
    pub standby_retry: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self { batch_size: 2_000, poll_interval: Duration::from_millis(500), standby_retry: Duration::from_secs(2) }
    }
}

/// What a runner is doing, for `/readyz` and read-your-writes waits.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerState {
    Starting,
    /// Another process runs this projection.
    Standby,
    /// Building the first (or a new version's) generation.
    Building,
    Running,
    /// The database went away; retrying.
    Reconnecting(String),
    Failed(String),
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunnerStatus {
    pub state: RunnerState,
    /// Every event up to here that the projection reads has been applied.
    pub observed: Position,
}

/// A runner's task, named after its projection.
type Task = (&'static str, JoinHandle<Result<(), ProjectionError>>);

/// The running projections of this process.
pub struct Runners {
    runners: Vec<(&'static str, watch::Receiver<RunnerStatus>)>,
    tasks: std::sync::Mutex<Vec<Task>>,
    shutdown: watch::Sender<bool>,
}

impl Runners {
    /// Starts one runner task per projection.
    pub fn start<S: EventStore + Clone>(
        store: S,
        db_config: store::PgConfig,
        projections: Vec<Arc<dyn Projection>>,
        options: RunnerOptions,
    ) -> Self {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (runners, tasks) = projections
            .into_iter()
            .map(|projection| {
                let (status_tx, status_rx) = watch::channel(RunnerStatus { state: RunnerState::Starting, observed: Position::START });
                let name = projection.name();
                let runner = Runner {
                    projection,
                    store: store.clone(),
                    db_config: db_config.clone(),
                    options: options.clone(),
                    status: status_tx,
                    shutdown: shutdown_rx.clone(),
                };
                ((name, status_rx), (name, tokio::spawn(runner.run())))
            })
            .unzip();
        Self { runners, tasks: std::sync::Mutex::new(tasks), shutdown }
    }

    pub fn statuses(&self) -> Vec<(&'static str, RunnerStatus)> {
        self.runners.iter().map(|(name, status)| (*name, status.borrow().clone())).collect()
    }

    /// Whether every runner is applying events (not failed, building or reconnecting).
    pub fn all_running(&self) -> bool {
        self.runners.iter().all(|(_, status)| matches!(status.borrow().state, RunnerState::Running | RunnerState::Standby))
    }

    /// Whether this process actively runs every named projection (not on standby behind another
    /// process), so that [`wait_for`](Self::wait_for) can watch it here.
    pub fn run_here(&self, names: &[&str]) -> bool {
        names.iter().all(|name| self.runners.iter().any(|(n, status)| n == name && matches!(status.borrow().state, RunnerState::Running)))
    }

    /// Waits until every projection (or those named) has applied everything up to `position`.
    pub async fn wait_for(&self, position: Position, names: &[&str], timeout: Duration) -> Result<(), ProjectionError> {
        let wait_all = async {
            for (name, status) in &self.runners {
                if !names.is_empty() && !names.contains(name) {
                    continue;
                }
                let mut status = status.clone();
                loop {
                    {
                        let current = status.borrow_and_update();
                        if current.observed >= position {
                            break;
                        }
                        if let RunnerState::Failed(reason) = &current.state {
                            return Err(ProjectionError::Database(format!("projection {name} has failed: {reason}")));
                        }
                    }
                    if status.changed().await.is_err() {
                        return Err(ProjectionError::Database(format!("projection {name} has stopped")));
                    }
                }
            }
            Ok(())
        };
        tokio::time::timeout(timeout, wait_all).await.map_err(|_| ProjectionError::Timeout(timeout, position))?
    }

    /// Stops every runner after its current batch.
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("runner task list poisoned"));
        for (name, handle) in tasks {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(projection = name, error = %e, "projection had stopped with an error"),
                Err(e) => tracing::error!(projection = name, error = %e, "projection task panicked"),
            }
        }
    }
}

struct Runner<S> {
    projection: Arc<dyn Projection>,
    store: S,
    db_config: store::PgConfig,
    options: RunnerOptions,
    status: watch::Sender<RunnerStatus>,
    shutdown: watch::Receiver<bool>,
}

impl<S: EventStore + Clone> Runner<S> {
    async fn run(mut self) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.run_once().await {
                Ok(()) => {
                    self.set_state(RunnerState::Stopped);
                    return Ok(());
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(projection = name, error = %e, retry_in = ?backoff, "projection lost its database; retrying");
                    self.set_state(RunnerState::Reconnecting(e.to_string()));
                    if self.sleep_or_shutdown(backoff).await {
                        self.set_state(RunnerState::Stopped);
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    tracing::error!(projection = name, error = %e, "projection stopped");
                    if let Ok(client) = db::connect(&self.db_config).await
                        && let Err(record) = db::record_failure(&client, name, &e).await
                    {
                        tracing::warn!(projection = name, error = %record, "could not record the failure");
                    }
                    self.set_state(RunnerState::Failed(e.to_string()));
                    return Err(e);
                }
            }
        }
    }

    /// Runs until shutdown (Ok) or an error.
    async fn run_once(&mut self) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut client = db::connect(&self.db_config).await?;
        let (space, key) = locks::leader(name);
        loop {
            let leader: bool = client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&space, &key]).await?.get(0);
            if leader {
                break;
            }
            self.set_state(RunnerState::Standby);
            if self.sleep_or_shutdown(self.options.standby_retry).await {
                return Ok(());
            }
        }

        match db::live_generation(&client, name).await? {
            Some((_, version)) if version == self.projection.version() => {}
            // First start: nothing to keep serving, so generation 1 goes live empty at once and
            // catches up in the open (status shows its lag).
            None => {
                let (space, key) = locks::build(name);
                let free: bool = client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&space, &key]).await?.get(0);
                if !free {
                    // A `switchboard rebuild` is installing it right now: look again shortly.
                    return Err(ProjectionError::Unavailable(format!("{name} is being built by another process")));
                }
                db::create_generation(&client, self.projection.as_ref(), 1, false).await?;
                db::switch_over(&mut client, self.projection.as_ref(), 1).await?;
                client.execute("SELECT pg_advisory_unlock($1, $2)", &[&space, &key]).await?;
            }
            existing => {
                tracing::info!(projection = name, from_version = ?existing.map(|e| e.1), to_version = self.projection.version(), "building");
                self.set_state(RunnerState::Building);
                rebuild(&self.store, &self.db_config, std::slice::from_ref(&self.projection), &BuildOptions::default(), |_| {}).await?;
            }
        }
        db::record_live(&client, name).await?;

        let filter = Filter::event_types(self.projection.event_types().iter().copied());
        let mut wakeups = self.store.wakeups();
        loop {
            let (generation, _) = db::live_generation(&client, name).await?.ok_or(ProjectionError::NotInstalled(name))?;
            let mut worker = Worker::attach(self.projection.clone(), client, generation, Role::Live).await?;
            let mut after = worker.position();
            self.set_running(after);
            loop {
                if *self.shutdown.borrow() {
                    return Ok(());
                }
                wakeups.borrow_and_update();
                let batch = self.store.read_all(after, &filter, self.options.batch_size).await?;
                let (next, caught_up) = (batch.next, batch.caught_up);
                if !batch.events.is_empty() {
                    match worker.apply_recorded(batch.events, next).await? {
                        BatchOutcome::Applied => {}
                        // A rebuild switched generations (or another runner moved the checkpoint).
                        BatchOutcome::Stale => break,
                    }
                }
                after = next;
                self.set_running(after);
                if caught_up {
                    let mut shutdown = self.shutdown.clone();
                    tokio::select! {
                        _ = wakeups.changed() => {}
                        _ = tokio::time::sleep(self.options.poll_interval) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
            client = worker.into_client();
        }
    }

    fn set_state(&self, state: RunnerState) {
        self.status.send_modify(|status| status.state = state);
    }

    fn set_running(&self, observed: Position) {
        self.status.send_modify(|status| {
            status.state = RunnerState::Running;
            status.observed = observed;
        });
    }

    /// Sleeps; true when shutdown was asked for meanwhile.
    async fn sleep_or_shutdown(&mut self, duration: Duration) -> bool {
        if *self.shutdown.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => *self.shutdown.borrow(),
            _ = self.shutdown.changed() => true,
        }
    }
}
