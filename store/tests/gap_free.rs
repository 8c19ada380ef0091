//! Proof of gap-free ordering: many concurrent writers, some holding their transaction open for
//! a random while before committing, some rolling back, and a subscriber reading all along.
//! Every committed event must arrive exactly once, per-stream order must be exact, and no
//! rolled-back event may appear.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{Metadata, StreamName};
use futures::StreamExt;
use rand::Rng;
use store::{EventStore, ExpectedVersion, Filter, NewEvent, PgStoreOptions, Position};
use testkit::TestDatabase;
use uuid::Uuid;

/// Appends through the store's own SQL (`es_append_group`) inside a transaction the test
/// controls, so it can stall between the write and the commit, or roll back. Returns the ids it
/// wrote, committed or rolled back as asked.
async fn append_in_open_transaction(
    client: &mut tokio_postgres::Client,
    stream: &StreamName,
    n_events: usize,
    stall: Duration,
    commit: bool,
) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n_events).map(|_| Uuid::now_v7()).collect();
    let tx = client.transaction().await.unwrap();
    let types = vec!["t.stalled"; n_events];
    let schema = vec![1i16; n_events];
    let payloads = vec![serde_json::json!({}); n_events];
    let metadata = vec![serde_json::to_value(Metadata::system()).unwrap(); n_events];
    let appends = vec![1i32; n_events];
    let rows = tx
        .query(
            "SELECT outcome FROM es_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &vec![stream.as_str()],
                &vec![stream.category()],
                &vec![-1i64],
                &vec![None::<i64>],
                &vec![false],
                &appends,
                &ids,
                &types,
                &schema,
                &payloads,
                &metadata,
            ],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, &str>(0), "ok");
    tokio::time::sleep(stall).await;
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_committed_event_is_delivered_exactly_once_in_order_despite_late_commits_and_rollbacks() {
    let db = TestDatabase::create().await;
    let store = Arc::new(
        db.store_with(PgStoreOptions { poll_interval: Duration::from_millis(50), subscription_page: 64, ..Default::default() }).await,
    );

    // The subscriber starts before any writer and reads concurrently with all of them.
    let received: Arc<Mutex<Vec<store::RecordedEvent>>> = Arc::default();
    let subscriber = {
        let received = received.clone();
        let mut events = store.subscribe_all(Position::START, Filter::all());
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                received.lock().unwrap().push(event.expect("subscription failed"));
            }
        })
    };

    let shared = StreamName::parse("room-shared").unwrap();
    let committed: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let rolled_back: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let mut writers = Vec::new();

    // 6 writers through the store (group commit), to their own streams and a shared one.
    for w in 0..6 {
        let store = store.clone();
        let committed = committed.clone();
        let shared = shared.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..60 {
                let stream = if i % 3 == 0 { shared.clone() } else { StreamName::parse(&format!("room-w{w}")).unwrap() };
                let events: Vec<NewEvent> = (0..1 + i % 3)
                    .map(|_| NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: "t.fast".into(),
                        schema_version: 1,
                        payload: serde_json::json!({"w": w}),
                        metadata: Metadata::system(),
                        inert: false,
                    })
                    .collect();
                let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
                store.append(&stream, ExpectedVersion::Any, events).await.unwrap();
                committed.lock().unwrap().extend(ids);
            }
        }));
    }
    // 3 writers that stall mid-transaction (0–150 ms) before committing: their transaction ids
    // are older than many events committed meanwhile, the classic lost-event case.
    for w in 0..3 {
        let mut client = db.client().await;
        let committed = committed.clone();
        let shared = shared.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..15 {
                let stall = Duration::from_millis(rand::rng().random_range(0..150));
                let stream = if i % 2 == 0 { shared.clone() } else { StreamName::parse(&format!("room-stall{w}")).unwrap() };
                let ids = append_in_open_transaction(&mut client, &stream, 2, stall, true).await;
                committed.lock().unwrap().extend(ids);
            }
        }));
    }
    // 2 writers that stall and then roll back: their events must never be seen.
    for w in 0..2 {
        let mut client = db.client().await;
        let rolled_back = rolled_back.clone();
        writers.push(tokio::spawn(async move {
            for _ in 0..10 {
                let stall = Duration::from_millis(rand::rng().random_range(0..100));
                let stream = StreamName::parse(&format!("room-rollback{w}")).unwrap();
                let ids = append_in_open_transaction(&mut client, &stream, 2, stall, false).await;
                rolled_back.lock().unwrap().extend(ids);
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }

    let committed = committed.lock().unwrap().clone();
    assert_eq!(committed.len(), 6 * 60 * 2 + 3 * 15 * 2, "writers committed what they should");
    // Wait until the subscriber has everything, then a little longer to catch duplicates.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while received.lock().unwrap().len() < committed.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    subscriber.abort();

    let received = received.lock().unwrap().clone();
    let ids: Vec<Uuid> = received.iter().map(|e| e.event_id).collect();
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event was delivered twice");
    let missing: Vec<_> = committed.difference(&unique).collect();
    assert!(missing.is_empty(), "{} committed events were never delivered", missing.len());
    let rolled_back = rolled_back.lock().unwrap().clone();
    assert_eq!(rolled_back.len(), 2 * 10 * 2, "the rollback writers ran");
    assert!(unique.is_disjoint(&rolled_back), "a rolled-back event was delivered");
    let extra: Vec<_> = unique.difference(&committed).collect();
    assert!(extra.is_empty(), "{} events were delivered that were never committed (rolled back?)", extra.len());
    assert!(received.windows(2).all(|w| w[0].position < w[1].position), "positions must strictly increase");

    // Per stream: versions arrive 0, 1, 2, … with no gap and no reordering.
    let mut next_version: HashMap<String, u64> = HashMap::new();
    for event in &received {
        let expected = next_version.entry(event.stream.to_string()).or_insert(0);
        if event.stream_version != *expected {
            let around: Vec<String> = received
                .iter()
                .filter(|e| e.stream == event.stream && e.stream_version + 4 >= *expected && e.stream_version <= *expected + 4)
                .map(|e| format!("v{}@{} {}", e.stream_version, e.position, e.event_type))
                .collect();
            panic!(
                "stream {} out of order: expected v{} got v{}; nearby deliveries: {around:?}",
                event.stream, expected, event.stream_version
            );
        }
        *expected += 1;
    }
    // The rolled-back writers' streams never came into existence.
    for w in 0..2 {
        let stream = StreamName::parse(&format!("room-rollback{w}")).unwrap();
        assert_eq!(store.stream_version(&stream).await.unwrap(), None);
    }
}
