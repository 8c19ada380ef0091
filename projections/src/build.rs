//! Building a generation side by side: from the start of the log into fresh tables, while the
//! live generation keeps serving, then switching readers over in one transaction.
//!
//! Several projections are built from one reader: each page of the log is read and decoded once
//! and handed to every projection that wants some of it, each writing on its own connection
//! (so the server works on them in parallel). Nothing but read-model tables is written: side
//! effects (outbound SMS, IRC announcements) are separate subscribers and never re-run.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use domain::Event;
use store::{EventStore, Filter, Position};

use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::worker::{BatchOutcome, Role, Worker};
use crate::{db, locks};

/// How far a build has come; reported after every page.
#[derive(Debug, Clone)]
pub struct BuildProgress {
    /// Events read from the log so far (each counted once, however many projections used it).
    pub processed: u64,
    /// Events the build expected when it started: the planner's estimate of the log's size
    /// (0 when it has none yet); the log keeps growing meanwhile.
    pub total: u64,
    pub position: Position,
    pub started: Instant,
}

impl BuildProgress {
    pub fn rate(&self) -> f64 {
        self.processed as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Events read per page (and applied per transaction).
    pub page: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { page: 5_000 }
    }
}

/// Builds a new generation of each projection from the start of the log and switches readers
/// to it when it has caught up. Returns the new generations.
pub async fn rebuild<S: EventStore + Clone>(
    store: &S,
    db_config: &store::PgConfig,
    projections: &[Arc<dyn Projection>],
    options: &BuildOptions,
    mut progress: impl FnMut(&BuildProgress),
) -> Result<Vec<(String, i32)>, ProjectionError> {
    if projections.is_empty() {
        return Ok(Vec::new());
    }
    let mut workers = Vec::with_capacity(projections.len());
    for projection in projections {
        workers.push(prepare(db_config, projection.clone()).await?);
    }
    let total = estimated_log_size(&workers[0]).await.unwrap_or(0);
    // What the projections being built want. A build of every projection reads the whole log
    // and routes by type here (they want nearly every type, and a type filter in the query costs
    // more than the few events it skips); a build of a few reads only their types.
    let wanted: HashSet<String> = projections.iter().flat_map(|p| p.event_types().iter().map(|t| t.to_string())).collect();
    let filter = if projections.len() >= crate::projection::all().len() {
        Filter::all()
    } else {
        Filter::event_types(wanted.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let mut state = BuildProgress { processed: 0, total, position: Position::START, started: Instant::now() };
    progress(&state);

    // Read ahead: the next page is read and decoded while the current one is written.
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel::<Result<Page, ProjectionError>>(2);
    let reader_store = store.clone();
    let page_size = options.page;
    let reader = tokio::spawn(async move {
        let mut after = Position::START;
        loop {
            let page = read_page(&reader_store, after, &filter, &wanted, page_size).await;
            let done = match &page {
                Ok(page) => {
                    after = page.next;
                    page.caught_up
                }
                Err(_) => true,
            };
            if pages_tx.send(page).await.is_err() || done {
                return;
            }
        }
    });

    // Each projection writes on its own task and connection with a few pages of slack, so a
    // projection that is slow on some pages (rooms on joins) does not hold the others back.
    let mut feeds = Vec::with_capacity(workers.len());
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let (feed, mut pages) = tokio::sync::mpsc::channel::<Arc<Page>>(8);
        let done = Arc::new(AtomicU64::new(0));
        let counter = done.clone();
        feeds.push((feed, done));
        tasks.push(tokio::spawn(async move {
            let wanted: HashSet<&str> = worker.projection().event_types().iter().copied().collect();
            while let Some(page) = pages.recv().await {
                apply_page(&mut worker, &wanted, &page).await?;
                counter.fetch_add(page.events.len() as u64, Ordering::Relaxed);
            }
            // Its own reader indexes now, while the other projections may still be loading.
            let started = Instant::now();
            db::finish_bulk_load(worker.client(), worker.projection().as_ref(), worker.generation()).await?;
            tracing::info!(
                projection = worker.projection().name(),
                ms = started.elapsed().as_millis() as u64,
                "loaded; reader indexes built"
            );
            Ok::<Worker, ProjectionError>(worker)
        }));
    }
    let mut read_error = None;
    let mut read = 0u64;
    'pages: while let Some(page) = pages_rx.recv().await {
        let page = match page {
            Ok(page) => Arc::new(page),
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        state.position = page.next;
        read += page.events.len() as u64;
        for (feed, _) in &feeds {
            if feed.send(page.clone()).await.is_err() {
                break 'pages; // that projection failed; its task holds the error
            }
        }
        state.processed = feeds.iter().map(|(_, done)| done.load(Ordering::Relaxed)).min().unwrap_or(0);
        progress(&state);
    }
    drop(feeds);
    drop(pages_rx);
    let _ = reader.await;
    let mut workers = Vec::with_capacity(tasks.len());
    for task in tasks {
        workers.push(task.await.map_err(|e| ProjectionError::Database(format!("projection build task panicked: {e}")))??);
    }
    if let Some(e) = read_error {
        return Err(e);
    }
    state.processed = read;
    progress(&state);

    let mut switched = Vec::new();
    for worker in workers {
        let projection = worker.projection().clone();
        let generation = worker.generation();
        let mut client = worker.into_client();
        db::switch_over(&mut client, projection.as_ref(), generation).await?;
        let (space, key) = locks::build(projection.name());
        client.execute("SELECT pg_advisory_unlock($1, $2)", &[&space, &key]).await?;
        tracing::info!(projection = projection.name(), generation, "switched readers to the rebuilt generation");
        switched.push((projection.name().to_string(), generation));
    }
    Ok(switched)
}

/// Takes the build lock and creates the next generation's empty tables.
async fn prepare(db_config: &store::PgConfig, projection: Arc<dyn Projection>) -> Result<Worker, ProjectionError> {
    let client = db::connect(db_config).await?;
    let (space, key) = locks::build(projection.name());
    let locked: bool = client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&space, &key]).await?.get(0);
    if !locked {
        return Err(ProjectionError::RebuildRunning(projection.name()));
    }
    let generation = db::live_generation(&client, projection.name()).await?.map_or(1, |(generation, _)| generation + 1);
    db::create_generation(&client, projection.as_ref(), generation, true).await?;
    Worker::attach(projection, client, generation, Role::Build).await
}

struct Page {
    events: Vec<store::Envelope<Event>>,
    /// Same order as `events`: the stored type of each, for routing to projections.
    types: Vec<&'static str>,
    next: Position,
    caught_up: bool,
}

async fn read_page<S: EventStore>(
    store: &S,
    after: Position,
    filter: &Filter,
    wanted: &HashSet<String>,
    limit: usize,
) -> Result<Page, ProjectionError> {
    let batch = store.read_all(after, filter, limit).await?;
    let mut events = Vec::with_capacity(batch.events.len());
    let mut types = Vec::with_capacity(batch.events.len());
    // Events no projection being built wants are not decoded (nor can they stop the build).
    for recorded in batch.events.into_iter().filter(|e| wanted.contains(&e.event_type)) {
        let (position, event_type, event_id) = (recorded.position, recorded.event_type.clone(), recorded.event_id);
        let envelope = recorded.decode::<Event>().map_err(|e| ProjectionError::EventFailed {
            projection: "(rebuild reader)",
            position,
            event_type: event_type.clone(),
            event_id,
            reason: e.to_string(),
        })?;
        types.push(domain::EventCodec::event_type(&envelope.event));
        events.push(envelope);
    }
    Ok(Page { events, types, next: batch.next, caught_up: batch.caught_up })
}

async fn apply_page(worker: &mut Worker, wanted: &HashSet<&str>, page: &Page) -> Result<(), ProjectionError> {
    let mine: Vec<&store::Envelope<Event>> =
        page.events.iter().zip(&page.types).filter(|(_, t)| wanted.contains(*t)).map(|(event, _)| event).collect();
    if mine.is_empty() {
        return Ok(());
    }
    match worker.apply(&mine, page.next).await? {
        BatchOutcome::Applied => Ok(()),
        // Only this build writes this generation's checkpoint (we hold the build lock).
        BatchOutcome::Stale => Err(ProjectionError::Database(format!(
            "the checkpoint of {} generation {} moved during its build",
            worker.projection().name(),
            worker.generation()
        ))),
    }
}

/// The log's size for the progress report: the planner's estimate, not a count (counting a
/// large log took longer than some rebuilds; the report only needs a rough total). Under
/// KurrentDB the log's catalogue is the event index, and es_events is empty (and vice versa).
async fn estimated_log_size(worker: &Worker) -> Result<u64, ProjectionError> {
    let estimate: f32 = worker
        .client()
        .query_one(
            "SELECT greatest(max(reltuples) FILTER (WHERE oid = 'es_events'::regclass), \
                             max(reltuples) FILTER (WHERE oid = 'kurrent_event_index'::regclass)) \
             FROM pg_class WHERE oid IN ('es_events'::regclass, 'kurrent_event_index'::regclass)",
            &[],
        )
        .await?
        .get(0);
    Ok(estimate.max(0.0) as u64)
}
