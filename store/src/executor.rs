//! The command executor: load a stream, fold it, decide, append expecting nothing that matters
//! to have changed since, and retry (bounded) when another writer got there first.
//!
//! "Nothing that matters": an append expects [`ExpectedVersion::UnchangedSince`] the version it
//! decided on, and events the aggregate's decisions never read
//! ([`Aggregate::affects_decisions`]: a room's chat messages) are appended inert. So posts to a
//! busy room do not refuse each other, while a post decided before a ban or a mute is still
//! refused at append time and decided again on the state that includes it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Aggregate, Context, EventCodec, Metadata, StreamName};
use uuid::Uuid;

use crate::error::StoreError;
use crate::event_store::EventStore;
use crate::types::{AppendResult, Direction, ExpectedVersion, NewEvent, Position, StreamAppend};

/// How many times a decision is retried after a concurrency conflict. Conflicts on one stream
/// are rare (one room, one user); a bound keeps a hot stream from spinning forever.
pub const MAX_ATTEMPTS: u32 = 8;

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The aggregate refused the command (a rule of the domain).
    #[error(transparent)]
    Rejected(E),
    /// Still conflicting after [`MAX_ATTEMPTS`] attempts.
    #[error("stream {stream} kept changing; gave up after {attempts} attempts")]
    TooMuchContention { stream: StreamName, attempts: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`CommandExecutor::create_in_order`] did with one item: `None` when its stream was
/// already there.
pub type Created<A> = Result<Option<Executed<A>>, ExecuteError<<A as Aggregate>::Error>>;

/// What a command produced.
#[derive(Debug, Clone)]
pub struct Executed<A: Aggregate> {
    /// The state after the new events.
    pub state: A,
    pub events: Vec<A::Event>,
    /// `None` when the decision produced no events (nothing to wait for).
    pub appended: Option<AppendResult>,
}

impl<A: Aggregate> Executed<A> {
    /// The consistency token of this command: readers may wait for it.
    pub fn position(&self) -> Position {
        self.appended.map(|a| a.position).unwrap_or(Position::START)
    }
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How many aggregates of each type [`CommandExecutor::execute`] and
/// [`CommandExecutor::execute_idempotent`] keep in memory between commands. Per type, so that a
/// burst of one-shot streams (a fan-out's deliveries) cannot push out the rooms and users that
/// are used again and again.
pub const KEPT_AGGREGATES: usize = 512;

/// Aggregates kept between commands, least recently used out. A kept state is only a head
/// start: before deciding, the executor reads what was appended since (by anyone), and the
/// append carries the version it decided on. Concurrent commands on one stream each start from
/// a copy of the kept state; the most advanced state is kept afterwards.
#[derive(Default)]
struct Kept {
    entries: HashMap<(TypeId, StreamName), (u64, Box<dyn Any + Send>)>,
    /// Entries per aggregate type.
    counts: HashMap<TypeId, usize>,
    tick: u64,
}

impl Kept {
    /// A copy of the kept state: the entry stays for concurrent commands on the same stream
    /// (taking it out would send each of them to read the whole stream).
    fn copy<A: Aggregate>(&self, stream: &StreamName) -> Option<Loaded<A>> {
        let (_, boxed) = self.entries.get(&(TypeId::of::<A>(), stream.clone()))?;
        boxed.downcast_ref::<Loaded<A>>().cloned()
    }

    #[cfg(test)]
    fn take<A: Aggregate>(&mut self, stream: &StreamName) -> Option<Loaded<A>> {
        let (_, boxed) = self.entries.remove(&(TypeId::of::<A>(), stream.clone()))?;
        if let Some(count) = self.counts.get_mut(&TypeId::of::<A>()) {
            *count -= 1;
        }
        boxed.downcast::<Loaded<A>>().ok().map(|b| *b)
    }

    /// Keeps `loaded`, unless a concurrent command already kept a more advanced state.
    fn put<A: Aggregate>(&mut self, loaded: Loaded<A>) {
        self.tick += 1;
        let kind = TypeId::of::<A>();
        if let Some((tick, kept)) = self.entries.get_mut(&(kind, loaded.stream.clone()))
            && kept.downcast_ref::<Loaded<A>>().is_some_and(|k| k.version > loaded.version)
        {
            *tick = self.tick;
            return;
        }
        let of_kind = self.counts.entry(kind).or_default();
        if *of_kind >= KEPT_AGGREGATES {
            let oldest =
                self.entries.iter().filter(|((k, _), _)| *k == kind).min_by_key(|(_, (tick, _))| *tick).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
                *of_kind -= 1;
            }
        }
        if self.entries.insert((kind, loaded.stream.clone()), (self.tick, Box::new(loaded))).is_none() {
            *of_kind += 1;
        }
    }
}

/// Runs commands against aggregates in a store. Cheap to clone (clones share the kept
/// aggregates).
pub struct CommandExecutor<S: ?Sized> {
    store: Arc<S>,
    clock: Clock,
    kept: Arc<Mutex<Kept>>,
}

impl<S: ?Sized> Clone for CommandExecutor<S> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), clock: self.clock.clone(), kept: self.kept.clone() }
    }
}

impl<S: EventStore + ?Sized> CommandExecutor<S> {
    pub fn new(store: Arc<S>) -> Self {
        Self { store, clock: Arc::new(Utc::now), kept: Arc::default() }
    }

    /// Uses `clock` instead of the system clock (tests of timed rules).
    pub fn with_clock(store: Arc<S>, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self { store, clock: Arc::new(clock), kept: Arc::default() }
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Loads the aggregate's current state and version (the whole stream, folded).
    pub async fn load<A>(&self, stream: &StreamName) -> Result<(A, Option<u64>), StoreError>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let mut loaded = Loaded { stream: stream.clone(), state: A::default(), version: None };
        self.catch_up(&mut loaded).await?;
        Ok((loaded.state, loaded.version))
    }

    /// The stream's current state and version for a caller that reads it without deciding (is
    /// this phone someone, is that user a member): the kept aggregate caught up with what was
    /// appended since, so a busy room costs its new events, not a read of its whole history as
    /// [`load`](Self::load) does.
    pub async fn current<A>(&self, stream: &StreamName) -> Result<(A, Option<u64>), StoreError>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let loaded = self.take_or_load::<A>(stream).await?;
        let current = (loaded.state.clone(), loaded.version);
        self.keep(loaded);
        Ok(current)
    }

    /// The stream's kept aggregate caught up with what was appended since, or the stream loaded.
    async fn take_or_load<A>(&self, stream: &StreamName) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let kept = self.kept.lock().expect("kept aggregates lock").copy::<A>(stream);
        match kept {
            Some(mut loaded) => {
                self.catch_up(&mut loaded).await?;
                Ok(loaded)
            }
            None => self.load_kept::<A>(stream).await,
        }
    }

    fn keep<A: Aggregate>(&self, loaded: Loaded<A>) {
        self.kept.lock().expect("kept aggregates lock").put(loaded);
    }

    /// After a conflict: catch up; when there was nothing new to read yet the append was
    /// refused, the stream is not what was kept (a restored database, say): start over from it.
    async fn recover_from_conflict<A>(&self, loaded: &mut Loaded<A>) -> Result<(), StoreError>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let before = loaded.version;
        self.catch_up(loaded).await?;
        if loaded.version == before {
            *loaded = self.load_kept::<A>(&loaded.stream).await?;
        }
        Ok(())
    }

    /// Decides `command` on the stream's current state and appends the outcome.
    ///
    /// The state comes from the aggregate kept since this executor's last command on the stream
    /// (see [`KEPT_AGGREGATES`]), caught up with what was appended since: a command on a room
    /// with a million messages reads the few events that are new, not the million. The append
    /// expects nothing but inert events since the version decided on (module docs); when
    /// someone else wrote something that matters first, the executor catches up and decides
    /// again.
    #[tracing::instrument(level = "debug", skip(self, command, metadata), fields(stream = %stream))]
    pub async fn execute<A>(
        &self,
        stream: &StreamName,
        command: &A::Command,
        metadata: Metadata,
    ) -> Result<Executed<A>, ExecuteError<A::Error>>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        self.execute_inner(stream, command, metadata, None).await
    }

    /// Like [`execute`](Self::execute), with event ids derived from an outside idempotency key
    /// (a Twilio `MessageSid`, an IRC line id): executing the same request twice stores its
    /// events once. A repeat decides nothing: it returns no events and the first execution's
    /// position. Whether the request ran before is a lookup of the event ids derived from its
    /// key, not a read of the stream. (Two executions racing each other are settled by the
    /// store's idempotent append.)
    pub async fn execute_idempotent<A>(
        &self,
        stream: &StreamName,
        command: &A::Command,
        metadata: Metadata,
        key: Uuid,
    ) -> Result<Executed<A>, ExecuteError<A::Error>>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        self.execute_inner(stream, command, metadata, Some(key)).await
    }

    async fn execute_inner<A>(
        &self,
        stream: &StreamName,
        command: &A::Command,
        metadata: Metadata,
        key: Option<Uuid>,
    ) -> Result<Executed<A>, ExecuteError<A::Error>>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let mut loaded = self.take_or_load::<A>(stream).await?;
        for attempt in 1..=MAX_ATTEMPTS {
            if let Some(key) = key {
                let earlier = match self.earlier_execution(stream, key).await {
                    Ok(earlier) => earlier,
                    Err(e) => {
                        self.keep(loaded);
                        return Err(e.into());
                    }
                };
                if let Some(original) = earlier {
                    // This request was carried out before: its outcome stands, nothing is
                    // decided again (the state may have moved on since). Caught up once more, so
                    // that the state includes it even when it committed after the catch-up above.
                    self.catch_up(&mut loaded).await?;
                    let state = loaded.state.clone();
                    self.keep(loaded);
                    return Ok(Executed { state, events: vec![], appended: Some(original) });
                }
            }
            let ctx = Context::new((self.clock)(), metadata.actor.clone());
            let state = loaded.state.clone();
            let events = match state.decide(command, &ctx) {
                Ok(events) => events,
                Err(refusal) => {
                    self.keep(loaded);
                    return Err(ExecuteError::Rejected(refusal));
                }
            };
            if events.is_empty() {
                self.keep(loaded);
                return Ok(Executed { state, events, appended: None });
            }
            let new_events = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let id = key.map_or_else(Uuid::now_v7, |key| derive_event_id(key, i));
                    new_event::<A>(id, e, metadata.clone())
                })
                .collect();
            match self.store.append(stream, ExpectedVersion::from_decision(loaded.version), new_events).await {
                Ok(appended) => {
                    let state = events.iter().fold(state, |s, e| s.evolve(e));
                    // With a key, kept without these events: the store may have answered with a
                    // racing execution of the same request (same ids), whose events were decided
                    // at another moment. The next command reads back what was stored. Without
                    // one, the state skips only inert events others appended in between.
                    if key.is_none() {
                        loaded.state = state.clone();
                        loaded.version = appended.stream_version;
                    }
                    self.keep(loaded);
                    return Ok(Executed { state, events, appended: Some(appended) });
                }
                Err(StoreError::WrongExpectedVersion { .. }) if attempt < MAX_ATTEMPTS => {
                    // Someone else wrote first: decide again on the new state.
                    back_off(attempt).await;
                    self.recover_from_conflict(&mut loaded).await?;
                }
                // The key's ids are stored elsewhere: refused, nothing written, the state stands.
                Err(e @ StoreError::IdempotencyMismatch { .. }) => {
                    self.keep(loaded);
                    return Err(e.into());
                }
                // The outcome is unknown: the state is not kept; the next command catches up
                // from what was kept before and reads whatever did commit.
                Err(e) => return Err(e.into()),
            }
        }
        Err(ExecuteError::TooMuchContention { stream: stream.clone(), attempts: MAX_ATTEMPTS })
    }

    /// Decides each command on an empty state and appends it expecting no stream, all stored in
    /// the log in the order given ([`EventStore::append_in_order`]: one transaction on
    /// PostgreSQL): for streams written once, when they are born (deliveries), so nothing is
    /// read first. Event ids derive from each item's key, so a repeat of the same request is the
    /// store's idempotent repeat and answers with the first append. Each item has its own
    /// outcome: `None` when its stream was already there otherwise.
    pub async fn create_in_order<A>(&self, items: Vec<(StreamName, A::Command, Metadata, Uuid)>) -> Vec<Created<A>>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let now = (self.clock)();
        let mut outcomes: Vec<Created<A>> = Vec::with_capacity(items.len());
        let mut appends = Vec::new();
        let mut appended_by = Vec::new();
        for (index, (stream, command, metadata, key)) in items.into_iter().enumerate() {
            let ctx = Context::new(now, metadata.actor.clone());
            match A::default().decide(&command, &ctx) {
                Ok(events) if events.is_empty() => outcomes.push(Ok(Some(Executed { state: A::default(), events, appended: None }))),
                Ok(events) => {
                    let new_events =
                        events.iter().enumerate().map(|(i, e)| new_event::<A>(derive_event_id(key, i), e, metadata.clone())).collect();
                    appends.push(StreamAppend { stream, expected: ExpectedVersion::NoStream, events: new_events });
                    appended_by.push(index);
                    let state = events.iter().fold(A::default(), |s, e| s.evolve(e));
                    outcomes.push(Ok(Some(Executed { state, events, appended: None })));
                }
                Err(refusal) => outcomes.push(Err(ExecuteError::Rejected(refusal))),
            }
        }
        for (index, result) in appended_by.into_iter().zip(self.store.append_in_order(appends).await) {
            match result {
                Ok(appended) => {
                    if let Ok(Some(executed)) = &mut outcomes[index] {
                        executed.appended = Some(appended);
                    }
                }
                Err(StoreError::WrongExpectedVersion { .. }) => outcomes[index] = Ok(None),
                Err(e) => outcomes[index] = Err(e.into()),
            }
        }
        outcomes
    }

    /// Where an earlier execution of the request with this key left its last event, if it ran:
    /// its events carry the ids derived from the key, in order, in this stream.
    async fn earlier_execution(&self, stream: &StreamName, key: Uuid) -> Result<Option<AppendResult>, StoreError> {
        let mut last = None;
        for index in 0.. {
            match self.store.find_event(derive_event_id(key, index)).await? {
                Some(found) if found.stream == *stream => {
                    last = Some(AppendResult { stream_version: Some(found.stream_version), position: found.position });
                }
                _ => break,
            }
        }
        Ok(last)
    }
}

/// A pause before deciding again after a conflict; the jitter keeps two contenders from
/// colliding in lockstep.
async fn back_off(attempt: u32) {
    let backoff = rand::random_range(0..(2u64 << attempt.min(6)));
    tracing::debug!(attempt, backoff_ms = backoff, "conflict; deciding again");
    tokio::time::sleep(Duration::from_millis(backoff)).await;
}

/// An aggregate held in memory by the one worker that writes its stream most (a busy room's
/// worker in the IRC gateway), so that a command costs one append instead of a stream read plus
/// an append. It is only trusted while no one else wrote anything that matters: every append
/// expects nothing but inert events since the version it was decided on, and a conflict catches
/// up from the store and decides again.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    pub stream: StreamName,
    pub state: A,
    pub version: Option<u64>,
}

/// What one [`CommandExecutor::execute_batch`] did.
#[derive(Debug)]
pub struct BatchOutcome<A: Aggregate> {
    /// Per command, in order: the events it produced, or the domain's refusal.
    pub results: Vec<Result<Vec<A::Event>, A::Error>>,
    /// `None` when no command produced an event.
    pub appended: Option<AppendResult>,
}

impl<S: EventStore + ?Sized> CommandExecutor<S> {
    /// Loads a stream to keep in memory for [`execute_batch`](Self::execute_batch).
    pub async fn load_kept<A>(&self, stream: &StreamName) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        let (state, version) = self.load::<A>(stream).await?;
        Ok(Loaded { stream: stream.clone(), state, version })
    }

    /// Reads what others appended since `loaded.version` and folds it in.
    pub async fn catch_up<A>(&self, loaded: &mut Loaded<A>) -> Result<(), StoreError>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        loop {
            let from = loaded.version.map_or(0, |v| v + 1);
            let page = self.store.read_stream(&loaded.stream, Direction::Forwards, Some(from), 1_000).await?;
            let full = page.len() == 1_000;
            for recorded in page {
                let version = recorded.stream_version;
                let envelope = recorded.decode::<A::Event>()?;
                loaded.state = std::mem::take(&mut loaded.state).evolve(&envelope.event);
                loaded.version = Some(version);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Decides `commands` one after the other on the kept state (each sees the events of the
    /// ones before it) and appends all their events in one append: one transaction and one
    /// commit for the whole batch, which is what lets one busy stream take thousands of
    /// commands a second. A refused command is reported and skipped; the others go ahead.
    /// When someone else wrote something that matters meanwhile, the batch is decided again on
    /// the caught-up state (bounded by [`MAX_ATTEMPTS`]).
    ///
    /// Each command carries an idempotency key; its events' ids derive from it. So when an
    /// append's outcome is unknown (the connection dropped around the commit), the caller can
    /// reload and run the same batch again: what did commit is recognised by the store as a
    /// repeat, not written twice.
    pub async fn execute_batch<A>(
        &self,
        loaded: &mut Loaded<A>,
        commands: &[(A::Command, Metadata, Uuid)],
    ) -> Result<BatchOutcome<A>, ExecuteError<A::Error>>
    where
        A: Aggregate,
        A::Event: EventCodec,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let mut state = loaded.state.clone();
            let mut results = Vec::with_capacity(commands.len());
            let mut new_events = Vec::new();
            for (command, metadata, key) in commands {
                let ctx = Context::new((self.clock)(), metadata.actor.clone());
                match state.decide(command, &ctx) {
                    Ok(events) => {
                        for (i, event) in events.iter().enumerate() {
                            new_events.push(new_event::<A>(ordered_event_id(*key, i), event, metadata.clone()));
                            state = state.evolve(event);
                        }
                        results.push(Ok(events));
                    }
                    Err(refusal) => results.push(Err(refusal)),
                }
            }
            if new_events.is_empty() {
                return Ok(BatchOutcome { results, appended: None });
            }
            let count = new_events.len() as u64;
            match self.store.append(&loaded.stream, ExpectedVersion::from_decision(loaded.version), new_events).await {
                Ok(appended) => {
                    let reached = loaded.version.map_or(count - 1, |v| v + count);
                    if appended.stream_version.is_none_or(|v| v == reached) {
                        loaded.state = state;
                        loaded.version = Some(reached);
                    } else {
                        // Others appended inert events in between, or the store answered with an
                        // earlier append's result (a repeat of the same keys, decided at another
                        // moment): either way, read back what the stream holds.
                        self.catch_up(loaded).await?;
                    }
                    return Ok(BatchOutcome { results, appended: Some(appended) });
                }
                Err(StoreError::WrongExpectedVersion { .. }) if attempt < MAX_ATTEMPTS => self.catch_up(loaded).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ExecuteError::TooMuchContention { stream: loaded.stream.clone(), attempts: MAX_ATTEMPTS })
    }
}

/// An event to append, inert when the aggregate's decisions never read it.
fn new_event<A>(event_id: Uuid, event: &A::Event, metadata: Metadata) -> NewEvent
where
    A: Aggregate,
    A::Event: EventCodec,
{
    NewEvent::with_id(event_id, event, metadata).inert(!A::affects_decisions(event))
}

/// Event ids for a batch command's key that stay time-ordered when the key is (a UUIDv7): its
/// first 14 bytes, then the index added to its last two. Hashed ids would land all over the
/// log's unique index on event ids, while time-ordered ones append at its right edge, as the
/// store's own v7 ids do. Other keys fall back to [`derive_event_id`]. Distinct v7 keys share
/// their first 14 bytes (a millisecond and 62 random bits) with negligible probability.
pub fn ordered_event_id(key: Uuid, index: usize) -> Uuid {
    if key.get_version_num() != 7 {
        return derive_event_id(key, index);
    }
    let mut bytes = *key.as_bytes();
    let tail = u16::from_be_bytes([bytes[14], bytes[15]]).wrapping_add(index as u16);
    bytes[14..].copy_from_slice(&tail.to_be_bytes());
    Uuid::from_bytes(bytes)
}

/// Event ids for an idempotency key: deterministic per (key, index), so a retry produces the
/// same ids.
pub fn derive_event_id(key: Uuid, index: usize) -> Uuid {
    Uuid::new_v5(&key, &(index as u64).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Clone)]
    struct Counter(u64);
    #[derive(Debug, Default, Clone)]
    struct Other(u64);

    macro_rules! trivial_aggregate {
        ($t:ident) => {
            impl Aggregate for $t {
                type Event = ();
                type Command = ();
                type Error = std::convert::Infallible;
                fn evolve(self, _: &()) -> Self {
                    Self(self.0 + 1)
                }
                fn decide(&self, _: &(), _: &Context) -> Result<Vec<()>, Self::Error> {
                    Ok(vec![()])
                }
            }
        };
    }
    trivial_aggregate!(Counter);
    trivial_aggregate!(Other);

    fn loaded<A: Aggregate>(n: usize) -> Loaded<A> {
        Loaded { stream: StreamName::parse(&format!("kept-{n}")).unwrap(), state: A::default(), version: Some(n as u64) }
    }

    #[test]
    fn kept_aggregates_are_bounded_per_type_and_the_least_recently_kept_goes_first() {
        let mut kept = Kept::default();
        kept.put(loaded::<Other>(0));
        for n in 0..KEPT_AGGREGATES + 10 {
            kept.put(loaded::<Counter>(n));
        }
        assert_eq!(kept.counts[&TypeId::of::<Counter>()], KEPT_AGGREGATES);
        // The first ten Counters went; the Other, kept before all of them, did not.
        assert!(kept.take::<Counter>(&loaded::<Counter>(9).stream).is_none());
        assert_eq!(kept.take::<Counter>(&loaded::<Counter>(10).stream).map(|l| l.version), Some(Some(10)));
        assert!(kept.take::<Other>(&loaded::<Other>(0).stream).is_some());
        // Same stream name, other type: a separate entry.
        assert!(kept.take::<Other>(&loaded::<Other>(11).stream).is_none());
        assert_eq!(kept.counts[&TypeId::of::<Counter>()], KEPT_AGGREGATES - 1);
    }
}
