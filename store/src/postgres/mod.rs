//! The PostgreSQL backend: `es_streams` + `es_events` (migrations/V1), group commit of
//! concurrent appends, gap-free reads by transaction-id watermark, LISTEN/NOTIFY wake-ups.

mod append;
pub mod audit;
pub(crate) mod checkpoints;
mod import;
mod notify;
mod read;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use domain::StreamName;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::event_store::{EventStore, EventStream};
use crate::types::{
    AllBatch, AppendResult, Direction, EventLocation, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent, StreamAppend,
};

pub use crate::limits::{MAX_EVENT_PAYLOAD_BYTES, MAX_EVENTS_PER_APPEND};
pub use tls::{PgConfig, PgConfigError, TlsMode};

mod embedded_migrations {
    refinery::embed_migrations!("../migrations");
}

/// The migration runner over every embedded migration (event store and read models).
pub fn embedded_runner() -> refinery::Runner {
    embedded_migrations::migrations::runner()
}

/// A database's migrations against this build's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Migrations recorded as applied.
    pub applied: usize,
    /// This build's migrations the database has not had (`switchboard migrate` applies them).
    pub pending: Vec<String>,
    /// Applied migrations this build does not know (a newer build migrated the database).
    pub unknown: Vec<String>,
}

/// Tuning of the PostgreSQL backend. The defaults suit a small server; see `switchboard.toml`.
#[derive(Debug, Clone)]
pub struct PgStoreOptions {
    /// Connections in the pool (appends, reads, subscriptions share it).
    pub pool_size: usize,
    /// Tasks that commit groups of appends concurrently. While one group waits for its fsync,
    /// the next one fills up; more committers mean smaller groups but less queueing.
    pub committers: usize,
    /// Most events one group transaction may carry.
    pub max_group_events: usize,
    /// How often a subscriber polls when no NOTIFY arrives (fallback when LISTEN is down).
    pub poll_interval: Duration,
    /// Events fetched per page by subscribers.
    pub subscription_page: usize,
    /// The longest a caller waits for a free pooled connection before `StoreError::Pool`
    /// (the pool's connections are all lent, e.g. to queries on a database that hangs).
    pub pool_wait_timeout: Duration,
    /// The longest opening a new connection may take (an unreachable or frozen server).
    pub connect_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on the pooled connections: the server cancels a
    /// statement that runs longer (locks held by a stuck session, a runaway query). `None`:
    /// the server's own setting.
    pub statement_timeout: Option<Duration>,
    /// Appends waiting for a committer at most; beyond, an append is refused at once
    /// (`StoreError::Unavailable`) instead of queueing without bound while the database hangs.
    pub max_queued_appends: usize,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            committers: 1,
            max_group_events: 2_000,
            poll_interval: Duration::from_millis(250),
            subscription_page: 1_000,
            pool_wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
            max_queued_appends: 10_000,
        }
    }
}

/// The PostgreSQL event store. Cheap to clone.
#[derive(Clone)]
pub struct PgEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    appender: append::GroupCommitter,
    /// Bumped on every NOTIFY (and on reconnect of the listener); subscribers wait on it.
    wakeups: watch::Receiver<u64>,
    options: PgStoreOptions,
    listener: notify::ListenerHandle,
}

impl PgEventStore {
    /// Stops the NOTIFY listener and closes the pool (idle connections go at once, lent ones when
    /// returned). For shutdown, before the database goes away: otherwise both report a lost
    /// connection as the server stops. Appends and reads after this fail with a pool error.
    pub fn close(&self) {
        self.inner.listener.stop();
        self.inner.pool.close();
    }

    /// Connects with a pool and starts the committers and the NOTIFY listener. Does not migrate.
    pub async fn connect(config: PgConfig, options: PgStoreOptions) -> Result<Self, StoreError> {
        let pool = connect_pool(&config, &options).await?;
        let (listener, wakeups) = notify::spawn_listener(config);
        let appender =
            append::GroupCommitter::start(pool.clone(), options.committers, options.max_group_events, options.max_queued_appends);
        Ok(Self { inner: Arc::new(Inner { pool, appender, wakeups, options, listener }) })
    }

    /// Applies every pending migration (event store and read models).
    pub async fn migrate(config: &PgConfig) -> Result<(), StoreError> {
        let (mut client, connection) = config.connect().await?;
        let conn = tokio::spawn(connection);
        embedded_runner().run_async(&mut client).await.map_err(|e| StoreError::Migration(e.to_string()))?;
        drop(client);
        let _ = conn.await;
        Ok(())
    }

    /// How far the database's migrations are against this build's (`switchboard doctor`).
    pub async fn migration_state(config: &PgConfig) -> Result<MigrationState, StoreError> {
        let (mut client, connection) = config.connect().await?;
        let conn = tokio::spawn(connection);
        let runner = embedded_runner();
        let has_history: bool = client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).await?.get(0);
        let applied = if has_history {
            runner.get_applied_migrations_async(&mut client).await.map_err(|e| StoreError::Migration(e.to_string()))?
        } else {
            Vec::new()
        };
        drop(client);
        let _ = conn.await;
        let label = |m: &refinery::Migration| format!("V{}__{}", m.version(), m.name());
        let mut migrations: Vec<&refinery::Migration> = runner.get_migrations().iter().collect();
        migrations.sort_by_key(|m| m.version());
        let known: Vec<String> = migrations.into_iter().map(label).collect();
        let done: Vec<String> = applied.iter().map(label).collect();
        Ok(MigrationState {
            applied: done.len(),
            pending: known.iter().filter(|m| !done.contains(m)).cloned().collect(),
            unknown: done.iter().filter(|m| !known.contains(m)).cloned().collect(),
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn options(&self) -> &PgStoreOptions {
        &self.inner.options
    }

    /// Appends waiting for a committer now (readiness reports it).
    pub fn queued_appends(&self) -> usize {
        self.inner.appender.queued()
    }
}

/// A pool of connections to the database with the store's settings (statement timeout,
/// connect and wait timeouts, TLS), checked by taking one connection. What the PostgreSQL store
/// runs on, and what the KurrentDB backend is given for the read models' database.
pub async fn connect_pool(config: &PgConfig, options: &PgStoreOptions) -> Result<Pool, StoreError> {
    let mut pooled = config.settings().clone();
    if let Some(timeout) = options.statement_timeout {
        // Added to any options the URL carries (`-c name=value` is how a connection sets a
        // server setting for its session).
        let setting = format!("-c statement_timeout={}", timeout.as_millis().max(1));
        let options = match pooled.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {setting}"),
            _ => setting,
        };
        pooled.options(options);
    }
    if pooled.get_connect_timeout().is_none() {
        pooled.connect_timeout(options.connect_timeout);
    }
    let manager = Manager::from_config(pooled, config.tls(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(manager)
        .max_size(options.pool_size.max(options.committers + 2))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(options.pool_wait_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))?;
    // Fail early and clearly when the database is not reachable.
    drop(pool.get().await?);
    Ok(pool)
}

#[async_trait]
impl EventStore for PgEventStore {
    /// NOTIFY on every commit (and a bump when the listener reconnects).
    fn wakeups(&self) -> watch::Receiver<u64> {
        self.inner.wakeups.clone()
    }

    // Debug level: at the default info level the fmt layer would format this span's fields on
    // every append (it does so when a span opens), for nothing anyone reads.
    #[tracing::instrument(level = "debug", skip(self, events), fields(stream = %stream, events = events.len()))]
    async fn append(&self, stream: &StreamName, expected: ExpectedVersion, events: Vec<NewEvent>) -> Result<AppendResult, StoreError> {
        let started = std::time::Instant::now();
        let outcome = self.inner.appender.append(stream, expected, events).await;
        // Successful appends only: a conflict returns early and would flatter the figure.
        if outcome.is_ok() {
            metrics::histogram!("switchboard_append_seconds").record(started.elapsed().as_secs_f64());
        }
        outcome
    }

    async fn append_in_order(&self, appends: Vec<StreamAppend>) -> Vec<Result<AppendResult, StoreError>> {
        self.inner.appender.append_in_order(appends).await
    }

    /// One probe of the unique index on event ids.
    async fn find_event(&self, event_id: uuid::Uuid) -> Result<Option<EventLocation>, StoreError> {
        let client = self.inner.pool.get().await?;
        let statement = client
            .prepare_cached("SELECT stream_id, stream_version, log_era, tx_id::text, global_position FROM es_events WHERE event_id = $1")
            .await?;
        let Some(row) = client.query_opt(&statement, &[&event_id]).await? else { return Ok(None) };
        Ok(Some(EventLocation {
            stream: StreamName::parse(row.get(0))?,
            stream_version: row.get::<_, i64>(1) as u64,
            position: Position::from_pg_parts(row.get(2), row.get::<_, &str>(3).parse().unwrap_or(0), row.get(4)),
        }))
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_stream(&self.inner.pool, stream, direction, from, limit).await
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        read::stream_version(&self.inner.pool, stream).await
    }

    async fn read_all(&self, after: Position, filter: &Filter, limit: usize) -> Result<AllBatch, StoreError> {
        read::read_all(&self.inner.pool, after, filter, limit).await
    }

    fn subscribe_all(&self, after: Position, filter: Filter) -> EventStream {
        read::subscribe(self.clone(), after, filter)
    }

    async fn head(&self) -> Result<Position, StoreError> {
        read::head(&self.inner.pool).await
    }

    /// In `es_checkpoints`. Projections keep theirs in the same table, written inside their own
    /// transactions.
    async fn load_checkpoint(&self, subscriber: &str) -> Result<Position, StoreError> {
        checkpoints::load(&self.inner.pool, subscriber).await
    }

    /// Records that `subscriber` has handled everything up to `position`.
    async fn save_checkpoint(&self, subscriber: &str, position: Position) -> Result<(), StoreError> {
        position.as_pg()?;
        checkpoints::save(&self.inner.pool, subscriber, position).await
    }

    async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wakeups = self.wakeups();
        // Re-check on every wake-up, and at least every 50 ms: the position may become readable
        // when an unrelated older transaction ends, which sends no NOTIFY.
        let recheck = self.inner.options.poll_interval.min(Duration::from_millis(50));
        loop {
            if self.head().await? >= position {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::Timeout(timeout));
            }
            let _ = tokio::time::timeout_at(deadline.min(now + recheck), wakeups.changed()).await;
        }
    }
}
