//! Following the log from a saved place: how consumers outside the projections (the SMS
//! processor, the SMS bridge, the IRC relay) read it, on any backend.

use futures::StreamExt;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::event_store::EventStore;
use crate::types::{Filter, Position, RecordedEvent};

/// Where a subscriber that has never run starts ([`follow()`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstStart {
    /// At the beginning of the log.
    Beginning,
    /// At the log's head: only what happens from now on.
    Head,
}

/// Events handled before the checkpoint is saved, at most: one save per run of events that were
/// ready together (one per event when they trickle in), so that a busy log does not cost every
/// follower a write per event.
const CHECKPOINT_EVERY: usize = 256;

/// Runs `handle` on every event matching `filter` after `subscriber`'s checkpoint, in log
/// order, until `shutdown` turns true or `handle` fails (the caller restarts it; a replay
/// starts after the last event handled, so handlers must be idempotent). A subscriber that
/// never ran starts at `first_start`: the log's beginning, or its head for consumers that must
/// not act on old history (relaying old messages into a channel, texting them to phones).
pub async fn follow<S, F, Fut, E>(
    store: &S,
    subscriber: &str,
    filter: Filter,
    first_start: FirstStart,
    mut shutdown: watch::Receiver<bool>,
    mut handle: F,
) -> Result<(), E>
where
    S: EventStore + ?Sized,
    F: FnMut(RecordedEvent) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<StoreError>,
{
    let after = resume_position(store, subscriber, first_start).await?;
    let mut chunks = store.subscribe_all(after, filter).ready_chunks(CHECKPOINT_EVERY);
    loop {
        let next = tokio::select! {
            // A follower told to stop starts no new run, even with one ready.
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            next = chunks.next() => next,
        };
        let Some(chunk) = next else { return Ok(()) };
        let mut handled = None;
        for recorded in chunk {
            let outcome = match recorded {
                Ok(recorded) => {
                    let position = recorded.position;
                    handle(recorded).await.map(|()| position)
                }
                Err(e) => Err(e.into()),
            };
            match outcome {
                Ok(position) => handled = Some(position),
                Err(e) => {
                    // What was handled before the failure is not done again after a restart.
                    if let Some(position) = handled {
                        store.save_checkpoint(subscriber, position).await?;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(position) = handled {
            store.save_checkpoint(subscriber, position).await?;
        }
    }
}

/// Like [`follow()`], handing `handle` every run of events that were ready together (at most
/// [`CHECKPOINT_EVERY`]) at once, so that it can overlap their work (the SMS processor waits for
/// the read models once per run, not once per text). The checkpoint moves past a run only when
/// `handle` succeeded for all of it; after a failure the whole run is handed over again.
pub async fn follow_runs<S, F, Fut, E>(
    store: &S,
    subscriber: &str,
    filter: Filter,
    first_start: FirstStart,
    mut shutdown: watch::Receiver<bool>,
    mut handle: F,
) -> Result<(), E>
where
    S: EventStore + ?Sized,
    F: FnMut(Vec<RecordedEvent>) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<StoreError>,
{
    let after = resume_position(store, subscriber, first_start).await?;
    let mut chunks = store.subscribe_all(after, filter).ready_chunks(CHECKPOINT_EVERY);
    loop {
        let next = tokio::select! {
            // A follower told to stop starts no new run, even with one ready.
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            next = chunks.next() => next,
        };
        let Some(chunk) = next else { return Ok(()) };
        let run = chunk.into_iter().collect::<Result<Vec<_>, StoreError>>()?;
        let Some(last) = run.last().map(|r| r.position) else { continue };
        handle(run).await?;
        store.save_checkpoint(subscriber, last).await?;
    }
}

/// Where `subscriber` goes on: after its checkpoint, or — the first time, when it starts at the
/// head — after the head, saved at once so that a restart does not fall back to the start.
async fn resume_position<S: EventStore + ?Sized>(store: &S, subscriber: &str, first_start: FirstStart) -> Result<Position, StoreError> {
    let after = store.load_checkpoint(subscriber).await?;
    if after == Position::START && first_start == FirstStart::Head {
        let head = store.head().await?;
        store.save_checkpoint(subscriber, head).await?;
        return Ok(head);
    }
    Ok(after)
}
