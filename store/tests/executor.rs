//! The command executor on real aggregates and a real store: decisions under contention,
//! refusals, and idempotency keys.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::aggregates::quotes::{QuoteBook, QuoteCommand, QuoteError};
use domain::values::{Level, QuoteText};
use domain::{Actor, Event, Gateway, Metadata, StreamName};
use store::{CommandExecutor, EventStore, ExecuteError};
use testkit::TestDatabase;
use uuid::Uuid;

fn add(text: &str) -> QuoteCommand {
    QuoteCommand::Add { nick: "alice".parse().unwrap(), text: QuoteText::parse(text).unwrap(), caller_level: Level::Member }
}

fn meta() -> Metadata {
    Metadata::new(Actor::User(Uuid::now_v7()), Gateway::Irc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_on_one_stream_all_land_with_sequential_ids() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let executor = executor.clone();
        tasks.push(tokio::spawn(async move {
            executor.execute::<QuoteBook>(&StreamName::quotes(), &add(&format!("quote number {n}")), meta()).await
        }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        let executed = t.await.unwrap().expect("every add succeeds after retrying its conflicts");
        for event in executed.events {
            let Event::QuoteAdded(q) = event else { panic!("unexpected event {event:?}") };
            ids.insert(q.quote_id);
        }
    }
    assert_eq!(ids, (1..=8).collect(), "ids are sequential and never handed out twice");
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_idempotent_commands_on_one_stream_decide_again_after_conflicts_and_all_land() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let other = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let mut tasks = Vec::new();
    for n in 0..8 {
        // Two executors (two processes, say), each with its kept state going stale.
        let executor = if n % 2 == 0 { executor.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            executor.execute_idempotent::<QuoteBook>(&StreamName::quotes(), &add(&format!("keyed quote {n}")), meta(), Uuid::now_v7()).await
        }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        let executed = t.await.unwrap().expect("every add succeeds after retrying its conflicts");
        let [Event::QuoteAdded(q)] = executed.events.as_slice() else { panic!("{:?}", executed.events) };
        ids.insert(q.quote_id);
    }
    assert_eq!(ids, (1..=8).collect(), "ids are sequential and never handed out twice");
}

#[tokio::test]
async fn a_refused_command_writes_nothing_and_says_why() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let first = executor.execute::<QuoteBook>(&StreamName::quotes(), &add("To be or not to be"), meta()).await.unwrap();
    assert!(first.position() > store::Position::START);
    match executor.execute::<QuoteBook>(&StreamName::quotes(), &add("  to BE or not   to be "), meta()).await {
        Err(ExecuteError::Rejected(QuoteError::Duplicate { existing: 1, .. })) => {}
        other => panic!("expected a duplicate refusal, got {other:?}"),
    }
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(0));
}

#[tokio::test]
async fn the_same_request_executed_twice_with_an_idempotency_key_is_stored_once() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let key = Uuid::now_v7();
    let first = executor.execute_idempotent::<QuoteBook>(&StreamName::quotes(), &add("once only"), meta(), key).await.unwrap();
    // Another quote lands in between; then the first request is retried (a webhook re-sent).
    executor.execute::<QuoteBook>(&StreamName::quotes(), &add("something else"), meta()).await.unwrap();
    let again =
        executor.execute_idempotent::<QuoteBook>(&StreamName::quotes(), &add("a different text, same request"), meta(), key).await.unwrap();
    assert!(again.events.is_empty(), "a repeated request decides nothing");
    assert_eq!(again.position(), first.position(), "and answers with the first execution's position");
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(1));
}

/// The PostgreSQL store, counting the events read back from streams.
struct Counting {
    inner: store::PgEventStore,
    stream_events_read: AtomicUsize,
}

#[async_trait::async_trait]
impl EventStore for Counting {
    async fn append(
        &self,
        stream: &StreamName,
        expected: store::ExpectedVersion,
        events: Vec<store::NewEvent>,
    ) -> Result<store::AppendResult, store::StoreError> {
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: store::Direction,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<store::RecordedEvent>, store::StoreError> {
        let events = self.inner.read_stream(stream, direction, from, limit).await?;
        self.stream_events_read.fetch_add(events.len(), Ordering::SeqCst);
        Ok(events)
    }
    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, store::StoreError> {
        self.inner.stream_version(stream).await
    }
    async fn find_event(&self, event_id: Uuid) -> Result<Option<store::EventLocation>, store::StoreError> {
        self.inner.find_event(event_id).await
    }
    async fn read_all(&self, after: store::Position, filter: &store::Filter, limit: usize) -> Result<store::AllBatch, store::StoreError> {
        self.inner.read_all(after, filter, limit).await
    }
    fn subscribe_all(&self, after: store::Position, filter: store::Filter) -> store::EventStream {
        self.inner.subscribe_all(after, filter)
    }
    async fn head(&self) -> Result<store::Position, store::StoreError> {
        self.inner.head().await
    }
    async fn load_checkpoint(&self, subscriber: &str) -> Result<store::Position, store::StoreError> {
        self.inner.load_checkpoint(subscriber).await
    }
    async fn save_checkpoint(&self, subscriber: &str, position: store::Position) -> Result<(), store::StoreError> {
        self.inner.save_checkpoint(subscriber, position).await
    }
    async fn wait_for(&self, position: store::Position, timeout: std::time::Duration) -> Result<(), store::StoreError> {
        self.inner.wait_for(position, timeout).await
    }
    fn wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.wakeups()
    }
}

#[tokio::test]
async fn an_idempotent_command_on_a_long_stream_reads_only_what_is_new() {
    let db = TestDatabase::create().await;
    let store = std::sync::Arc::new(Counting { inner: db.store().await, stream_events_read: AtomicUsize::new(0) });
    let executor = CommandExecutor::new(store.clone());
    let quotes = StreamName::quotes();
    // A history of 300 quotes, written by another executor.
    let writer = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let mut history = writer.load_kept::<QuoteBook>(&quotes).await.unwrap();
    let batch: Vec<_> = (0..300).map(|n| (add(&format!("quote number {n}")), meta(), Uuid::now_v7())).collect();
    writer.execute_batch(&mut history, &batch).await.unwrap();

    let key = Uuid::now_v7();
    let first = executor.execute_idempotent::<QuoteBook>(&quotes, &add("keyed"), meta(), key).await.unwrap();
    assert_eq!(store.stream_events_read.swap(0, Ordering::SeqCst), 300, "the first command loads the stream once");
    writer.execute::<QuoteBook>(&quotes, &add("one more, from elsewhere"), meta()).await.unwrap();

    // The request again (a re-sent webhook): recognised by its event ids, not by reading the
    // stream; only the two events appended since are read.
    let again = executor.execute_idempotent::<QuoteBook>(&quotes, &add("keyed"), meta(), key).await.unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.position(), first.position());
    assert_eq!(store.stream_events_read.swap(0, Ordering::SeqCst), 2);

    // A new request decides on the caught-up state: quote 303 after the 302 stored.
    let next = executor.execute_idempotent::<QuoteBook>(&quotes, &add("keyed, too"), meta(), Uuid::now_v7()).await.unwrap();
    let [Event::QuoteAdded(q)] = next.events.as_slice() else { panic!("{:?}", next.events) };
    assert_eq!(q.quote_id, 303);
    assert_eq!(store.stream_events_read.load(Ordering::SeqCst), 0, "nothing new to read");
    assert_eq!(store.stream_version(&quotes).await.unwrap(), Some(302));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_racing_itself_on_two_executors_is_stored_once_and_both_get_its_position() {
    let db = TestDatabase::create().await;
    let quotes = StreamName::quotes();
    for _ in 0..5 {
        let key = Uuid::now_v7();
        let mut runs = Vec::new();
        for _ in 0..2 {
            let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
            let quotes = quotes.clone();
            runs.push(tokio::spawn(
                async move { executor.execute_idempotent::<QuoteBook>(&quotes, &add(&key.to_string()), meta(), key).await },
            ));
        }
        let mut positions = Vec::new();
        for run in runs {
            let executed = run.await.unwrap().expect("both runs succeed");
            // Whichever run lost, the state it answers with includes the request's quote.
            assert!(executed.state.quotes.values().any(|q| q.text.as_str() == key.to_string()), "{:?}", executed.state);
            positions.push(executed.position());
        }
        assert_eq!(positions[0], positions[1], "both answer with the one stored append");
    }
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    assert_eq!(executor.store().stream_version(&quotes).await.unwrap(), Some(4), "five requests, five quotes");
}

#[tokio::test]
async fn after_an_idempotent_command_the_next_command_sees_its_events() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let quotes = StreamName::quotes();
    executor.execute_idempotent::<QuoteBook>(&quotes, &add("first, by key"), meta(), Uuid::now_v7()).await.unwrap();
    // The kept room was put back without the keyed events folded in: the next command must
    // read them back, not decide on a state that lacks them.
    let second = executor.execute::<QuoteBook>(&quotes, &add("second"), meta()).await.unwrap();
    let [Event::QuoteAdded(q)] = second.events.as_slice() else { panic!("{:?}", second.events) };
    assert_eq!(q.quote_id, 2);
    match executor.execute::<QuoteBook>(&quotes, &add("FIRST, by key"), meta()).await {
        Err(ExecuteError::Rejected(QuoteError::Duplicate { existing: 1, .. })) => {}
        other => panic!("the keyed quote is part of the state: {other:?}"),
    }
}

#[tokio::test]
async fn a_key_already_used_on_another_stream_is_refused_and_writes_nothing() {
    let db = TestDatabase::create().await;
    let store = std::sync::Arc::new(Counting { inner: db.store().await, stream_events_read: AtomicUsize::new(0) });
    let executor = CommandExecutor::new(store.clone());
    let other = StreamName::parse("quotes-other").unwrap();
    for text in ["one", "two", "three"] {
        executor.execute::<QuoteBook>(&other, &add(text), meta()).await.unwrap();
    }
    let key = Uuid::now_v7();
    executor.execute_idempotent::<QuoteBook>(&StreamName::quotes(), &add("here"), meta(), key).await.unwrap();
    match executor.execute_idempotent::<QuoteBook>(&other, &add("there"), meta(), key).await {
        Err(ExecuteError::Store(store::StoreError::IdempotencyMismatch { .. })) => {}
        other => panic!("expected an idempotency mismatch, got {other:?}"),
    }
    assert_eq!(executor.store().stream_version(&other).await.unwrap(), Some(2), "nothing written");
    // The stream is usable with a fresh key, and its kept state survived the refusal: nothing
    // of its history is read again.
    store.stream_events_read.store(0, Ordering::SeqCst);
    let fresh = executor.execute_idempotent::<QuoteBook>(&other, &add("there"), meta(), Uuid::now_v7()).await.unwrap();
    assert_eq!(fresh.appended.and_then(|a| a.stream_version), Some(3));
    assert_eq!(store.stream_events_read.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_batch_on_kept_state_decides_in_order_skips_refusals_and_catches_up_after_another_writer() {
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let mut kept = executor.load_kept::<QuoteBook>(&StreamName::quotes()).await.unwrap();
    let batch =
        vec![(add("first"), meta(), Uuid::now_v7()), (add("FIRST"), meta(), Uuid::now_v7()), (add("second"), meta(), Uuid::now_v7())];
    let outcome = executor.execute_batch(&mut kept, &batch).await.unwrap();
    assert!(outcome.results[0].is_ok() && outcome.results[2].is_ok());
    assert!(matches!(outcome.results[1], Err(QuoteError::Duplicate { existing: 1, .. })), "the second sees the first's event");
    assert_eq!(kept.version, Some(1), "two events in one append");
    assert!(outcome.appended.is_some());

    // Another writer appends behind the kept state's back: the next batch is decided again on
    // the caught-up state instead of failing or overwriting.
    executor.execute::<QuoteBook>(&StreamName::quotes(), &add("third, from elsewhere"), meta()).await.unwrap();
    let outcome = executor.execute_batch(&mut kept, &[(add("fourth"), meta(), Uuid::now_v7())]).await.unwrap();
    let Ok(events) = &outcome.results[0] else { panic!("{:?}", outcome.results) };
    let Event::QuoteAdded(q) = &events[0] else { panic!("{events:?}") };
    assert_eq!(q.quote_id, 4, "decided on the state that includes the other writer's quote");
    assert_eq!(kept.version, Some(3));
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(3));

    // A batch of refusals only appends nothing.
    let outcome = executor.execute_batch(&mut kept, &[(add("fourth"), meta(), Uuid::now_v7())]).await.unwrap();
    assert!(outcome.appended.is_none() && outcome.results[0].is_err());
}

#[tokio::test]
async fn a_batch_run_again_after_an_unknown_outcome_is_stored_once() {
    // The first run committed but its caller never heard (say the connection dropped): it
    // reloads and runs the same batch, with the same keys, on a state that does not know.
    let db = TestDatabase::create().await;
    let executor = CommandExecutor::new(std::sync::Arc::new(db.store().await));
    let batch = vec![(add("once"), meta(), Uuid::now_v7()), (add("twice?"), meta(), Uuid::now_v7())];
    let mut first = executor.load_kept::<QuoteBook>(&StreamName::quotes()).await.unwrap();
    let mut stale = first.clone();
    let committed = executor.execute_batch(&mut first, &batch).await.unwrap();
    let again = executor.execute_batch(&mut stale, &batch).await.unwrap();
    assert_eq!(again.appended.map(|a| a.position), committed.appended.map(|a| a.position), "recognised as the same append");
    assert_eq!(executor.store().stream_version(&StreamName::quotes()).await.unwrap(), Some(1), "two quotes, not four");
}

#[test]
fn batch_event_ids_are_deterministic_distinct_and_stay_time_ordered_for_v7_keys() {
    use store::executor::{derive_event_id, ordered_event_id};
    let (early, late) = (Uuid::now_v7(), {
        std::thread::sleep(std::time::Duration::from_millis(2));
        Uuid::now_v7()
    });
    let ids: Vec<Uuid> = (0..4).map(|i| ordered_event_id(early, i)).collect();
    assert_eq!(ids, (0..4).map(|i| ordered_event_id(early, i)).collect::<Vec<_>>(), "a retry derives the same ids");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 4);
    assert!(ids.iter().all(|id| *id < ordered_event_id(late, 0)), "a later key's events sort after");
    let hashed = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"SM0123");
    assert_eq!(ordered_event_id(hashed, 1), derive_event_id(hashed, 1), "non-v7 keys fall back to the hash");
}

/// `execute` keeps each aggregate between commands; what another executor (another process)
/// appended meanwhile is read before deciding, so the rules see it.
#[tokio::test]
async fn a_kept_aggregate_sees_what_others_appended_before_deciding() {
    let db = TestDatabase::create().await;
    let store = std::sync::Arc::new(db.store().await);
    let (here, elsewhere) = (CommandExecutor::new(store.clone()), CommandExecutor::new(store.clone()));
    let quotes = StreamName::quotes();
    here.execute::<QuoteBook>(&quotes, &add("first quote here"), meta()).await.unwrap();
    elsewhere.execute::<QuoteBook>(&quotes, &add("second quote elsewhere"), meta()).await.unwrap();
    // The kept book has one quote; the stream has two. The duplicate is still refused...
    match here.execute::<QuoteBook>(&quotes, &add("second quote elsewhere"), meta()).await {
        Err(ExecuteError::Rejected(QuoteError::Duplicate { existing: 2, .. })) => {}
        other => panic!("expected the other executor's quote to count, got {other:?}"),
    }
    // ...and the next id follows the other executor's.
    let third = here.execute::<QuoteBook>(&quotes, &add("third quote here"), meta()).await.unwrap();
    let Event::QuoteAdded(q) = &third.events[0] else { panic!("{:?}", third.events) };
    assert_eq!(q.quote_id, 3);
    assert_eq!(store.stream_version(&quotes).await.unwrap(), Some(2));

    // Both executors racing on the same stream: every command lands once, ids stay sequential.
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let executor = if n % 2 == 0 { here.clone() } else { elsewhere.clone() };
            tokio::spawn(
                async move { executor.execute::<QuoteBook>(&StreamName::quotes(), &add(&format!("raced quote {n}")), meta()).await },
            )
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.stream_version(&quotes).await.unwrap(), Some(8));
}
