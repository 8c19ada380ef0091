//! The KurrentDB backend beyond the conformance suite: faults (dropped connections, a server
//! that hangs, a node that is not the leader), limits checked before sending, the event-id
//! index catching up on events written by others. Against the test kit's KurrentDB stand-in
//! (not KurrentDB): these need its fault switches.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use store::{EventStore, ExpectedVersion, Filter, KurrentEventStore, KurrentOptions, Position, StoreError};
use testkit::TestDatabase;
use testkit::conformance::event;
use testkit::kurrentdb::KurrentStandIn;
use uuid::Uuid;

fn stream(category: &str) -> domain::StreamName {
    domain::StreamName::parse(&format!("{category}-{}", Uuid::now_v7())).unwrap()
}

async fn store_on(database: &TestDatabase, url: String, deadline: Duration) -> KurrentEventStore {
    let pool = database.store().await.pool().clone();
    // The client waits `discoveryInterval` (500 ms by default) before its first connection,
    // which would eat a short deadline.
    let mut options = KurrentOptions::new(format!("{url}&discoveryInterval=10"));
    options.deadline = deadline;
    KurrentEventStore::connect(options, pool).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_resumes_after_dropped_connections_with_nothing_skipped_or_repeated() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    let store = store_on(&database, server.url(), Duration::from_secs(5)).await;
    let s = stream("room");
    let mut subscription = store.subscribe_all(Position::START, Filter::all());
    let mut seen = Vec::new();
    for round in 0..3u64 {
        for n in 0..5 {
            // An append cut off with its connection is retried: it is idempotent.
            let e = event("t.a", round * 5 + n);
            let mut tries = 0;
            loop {
                match store.append(&s, ExpectedVersion::Any, vec![e.clone()]).await {
                    Ok(_) => break,
                    Err(err) if err.is_transient() && tries < 20 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(err) => panic!("append failed: {err}"),
                }
            }
        }
        while seen.len() < ((round + 1) * 5) as usize {
            let e = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await.expect("delivered").unwrap().unwrap();
            seen.push(e.payload.to_value()["n"].as_u64().unwrap());
        }
        server.drop_connections();
    }
    assert_eq!(seen, (0..15).collect::<Vec<_>>(), "every event once, in order");
    assert_eq!(server.event_count(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_fails_calls_within_the_deadline() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    let store = store_on(&database, server.url(), Duration::from_millis(500)).await;
    let s = stream("room");
    store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 0)]).await.unwrap();
    server.stall(true);
    let started = tokio::time::Instant::now();
    let outcome = store.append(&s, ExpectedVersion::Any, vec![event("t.a", 1)]).await;
    assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let read = store.read_stream(&s, store::Direction::Forwards, None, 10).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    server.stall(false);
    assert_eq!(store.stream_version(&s).await.unwrap().map(|v| v <= 1), Some(true));

    // A server that does not even answer its deadlines: the store's own timeout ends the call.
    server.stall_past_deadlines();
    let started = tokio::time::Instant::now();
    let outcome = store.append(&s, ExpectedVersion::Any, vec![event("t.a", 2)]).await;
    assert!(matches!(&outcome, Err(StoreError::Unavailable(reason)) if reason.contains("did not answer")), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    server.stall(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_over_kurrentdbs_size_limit_is_refused_before_it_is_sent() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    let store = store_on(&database, server.url(), Duration::from_secs(5)).await;
    // Each payload is within the per-event limit; together they are over 1 MiB.
    let events: Vec<_> = (0..5)
        .map(|n| {
            let mut e = event("t.a", n);
            e.payload = json!({ "body": "ü".repeat(120 * 1024) });
            e
        })
        .collect();
    match store.append(&stream("room"), ExpectedVersion::Any, events).await {
        Err(StoreError::AppendTooLarge { limit, .. }) => assert_eq!(limit, store::kurrentdb::MAX_APPEND_BYTES),
        other => panic!("expected AppendTooLarge, got {other:?}"),
    }
    assert_eq!(server.event_count(), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_of_the_postgresql_backend_is_a_clear_error() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    let store = store_on(&database, server.url(), Duration::from_secs(5)).await;
    let postgres: Position = "pg.1.7312.88120".parse().unwrap();
    assert!(matches!(store.read_all(postgres, &Filter::all(), 10).await, Err(StoreError::InvalidPosition(_))));
    assert!(matches!(store.wait_for(postgres, Duration::from_secs(1)).await, Err(StoreError::InvalidPosition(_))));
    assert!(matches!(store.save_checkpoint("x", postgres).await, Err(StoreError::InvalidPosition(_))));
    let mut subscription = store.subscribe_all(postgres, Filter::all());
    assert!(matches!(subscription.next().await, Some(Err(StoreError::InvalidPosition(_)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_by_another_client_are_found_by_id_once_the_indexer_has_read_them() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    let writer = store_on(&database, server.url(), Duration::from_secs(5)).await;
    let s = stream("sms");
    let e = event("t.a", 0);
    writer.append(&s, ExpectedVersion::Any, vec![e.clone()]).await.unwrap();
    // A second database: this store's index never saw the append.
    let other_database = TestDatabase::create().await;
    let reader = store_on(&other_database, server.url(), Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        if let Some(found) = reader.find_event(e.event_id).await.unwrap() {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "the indexer did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(found.stream, s);
    assert_eq!(found.stream_version, 0);
    // And a retry through that store returns the original result, not a second copy.
    let again = reader.append(&s, ExpectedVersion::NoStream, vec![e]).await.unwrap();
    assert_eq!(again.position, found.position);
    assert_eq!(server.event_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_sent_to_a_follower_land_on_the_leader() {
    let database = TestDatabase::create().await;
    let leader = KurrentStandIn::start().await;
    let follower = leader.start_follower().await;
    let store = store_on(&database, follower.url(), Duration::from_secs(5)).await;
    let s = stream("room");
    // The follower refuses and names the leader; the client reconnects there and the retry lands.
    let mut tries = 0;
    let result = loop {
        match store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 0)]).await {
            Ok(result) => break result,
            Err(e) if e.is_transient() && tries < 10 => tries += 1,
            Err(e) => panic!("append failed: {e}"),
        }
    };
    assert_eq!(result.stream_version, Some(0));
    assert_eq!(leader.event_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_first_connection_failed_recovers_once_the_server_answers() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    server.stall(true);
    // The client gives up its connection for good when its first one fails; the store replaces it.
    let url = format!("{}&gossipTimeout=100&maxDiscoverAttempts=2", server.url());
    let store = store_on(&database, url, Duration::from_secs(2)).await;
    let s = stream("room");
    let e = event("t.a", 0);
    assert!(store.append(&s, ExpectedVersion::Any, vec![e.clone()]).await.unwrap_err().is_transient());
    server.stall(false);
    let mut tries = 0;
    loop {
        match store.append(&s, ExpectedVersion::Any, vec![e.clone()]).await {
            Ok(_) => break,
            Err(err) if err.is_transient() && tries < 10 => tries += 1,
            Err(err) => panic!("the store did not recover: {err}"),
        }
    }
    assert_eq!(server.event_count(), 1, "the retried append is stored once");
}

#[tokio::test]
async fn a_connection_string_that_is_not_one_is_a_clear_error() {
    let database = TestDatabase::create().await;
    let pool = database.store().await.pool().clone();
    match KurrentEventStore::connect(KurrentOptions::new("postgres://localhost/x"), pool) {
        Err(StoreError::Kurrent(reason)) => assert!(reason.contains("connection string is not valid"), "{reason}"),
        Err(other) => panic!("expected a connection-string error, got {other:?}"),
        Ok(_) => panic!("a PostgreSQL URL was taken for a KurrentDB one"),
    }
}

/// A retry under `Any` whose first try was written but never indexed (its answer lost with a
/// leader, which also takes KurrentDB's cache of recent ids with it) is recognised in the
/// stream's tail: the first result, nothing stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_under_any_after_a_lost_answer_and_a_leader_change_is_stored_once() {
    let database = TestDatabase::create().await;
    let server = KurrentStandIn::start().await;
    let store = store_on(&database, server.url(), Duration::from_secs(5)).await;
    let s = stream("sms");
    let (one, two, three) = (event("t.a", 1), event("t.a", 2), event("t.a", 3));
    let first = store.append(&s, ExpectedVersion::Any, vec![one.clone()]).await.unwrap();
    let pair = store.append(&s, ExpectedVersion::Any, vec![two.clone(), three.clone()]).await.unwrap();
    store.wait_until_indexed(pair.position, Duration::from_secs(10)).await.unwrap();
    // The appender died before its index write, and the leader changed.
    let client = database.client().await;
    client.execute("DELETE FROM kurrent_event_index", &[]).await.unwrap();
    server.forget_recent_ids();

    assert_eq!(store.append(&s, ExpectedVersion::Any, vec![one.clone()]).await.unwrap(), first);
    assert_eq!(store.append(&s, ExpectedVersion::StreamExists, vec![two.clone(), three.clone()]).await.unwrap(), pair);
    assert_eq!(server.event_count(), 3, "nothing stored twice");
    // Part of an earlier append with something new is not a retry.
    let mixed = store.append(&s, ExpectedVersion::Any, vec![three, event("t.a", 4)]).await;
    assert!(matches!(mixed, Err(StoreError::IdempotencyMismatch { .. })), "{mixed:?}");
    assert_eq!(server.event_count(), 3);
}
