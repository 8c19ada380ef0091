//! Bad input and failures: they yield clear errors and lose nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use domain::{DecodeError, Event, Metadata, StreamName};
use store::{Direction, EventStore, ExpectedVersion, NewEvent, StoreError};
use testkit::TestDatabase;
use uuid::Uuid;

fn raw_event(event_type: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        payload: serde_json::json!({"x": 1}),
        metadata: Metadata::system(),
        inert: false,
    }
}

#[tokio::test]
async fn an_unknown_event_type_in_the_log_is_reported_with_its_position_not_skipped() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let stream = StreamName::parse("room-legacy").unwrap();
    let appended = store.append(&stream, ExpectedVersion::NoStream, vec![raw_event("legacy.thing_happened")]).await.unwrap();
    let recorded = store.read_stream(&stream, Direction::Forwards, None, 10).await.unwrap().remove(0);
    match recorded.decode::<Event>() {
        Err(StoreError::Decode { position, source: DecodeError::UnknownType(t), .. }) => {
            assert_eq!(position, appended.position);
            assert_eq!(t, "legacy.thing_happened");
        }
        other => panic!("expected a decode error naming the position, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_stored_metadata_is_a_clear_error() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let stream = StreamName::parse("room-meta").unwrap();
    store.append(&stream, ExpectedVersion::NoStream, vec![raw_event("t.a")]).await.unwrap();
    db.client().await.execute("UPDATE es_events SET metadata = '{\"actor\": 42}'", &[]).await.unwrap();
    let err = store.read_stream(&stream, Direction::Forwards, None, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::BadMetadata { .. }), "{err:?}");
}

/// PostgreSQL cannot store a NUL character in jsonb. An append carrying one must fail alone, with
/// PostgreSQL's reason, while the appends committed in the same group go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_the_database_refuses_fails_only_its_own_append() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let mut bad = raw_event("t.a");
    bad.payload = serde_json::json!({ "body": "nul \u{0} here" });
    let bad_stream = StreamName::parse("room-bad").unwrap();
    let appends = (0..8).map(|i| {
        let store = store.clone();
        let (stream, event) = if i == 3 {
            (bad_stream.clone(), bad.clone())
        } else {
            (StreamName::parse(&format!("room-good{i}")).unwrap(), raw_event("t.a"))
        };
        async move { store.append(&stream, ExpectedVersion::NoStream, vec![event]).await }
    });
    let results = futures::future::join_all(appends).await;
    for (i, result) in results.into_iter().enumerate() {
        if i == 3 {
            let err = result.expect_err("the NUL payload must be refused");
            assert!(matches!(err, StoreError::Database(_)), "a data error is not a lost connection: {err:?}");
            assert!(!err.is_transient());
            assert!(err.to_string().contains("SQLSTATE"), "the reason is readable: {err}");
        } else {
            assert_eq!(result.expect("innocent appends succeed").stream_version, Some(0));
        }
    }
    assert_eq!(store.stream_version(&bad_stream).await.unwrap(), None, "nothing of the refused append is stored");
}

#[tokio::test]
async fn waiting_for_a_position_not_yet_written_times_out_after_the_bound() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let stream = StreamName::parse("room-wait").unwrap();
    let written = store.append(&stream, ExpectedVersion::Any, vec![raw_event("t.a")]).await.unwrap();
    // A token a million transactions ahead of the one just written.
    let parts: Vec<u64> = written.position.to_string().split('.').skip(1).map(|p| p.parse().unwrap()).collect();
    let future: store::Position = format!("pg.{}.{}.{}", parts[0], parts[1] + 1_000_000, parts[2]).parse().unwrap();
    let started = std::time::Instant::now();
    let outcome = store.wait_for(future, Duration::from_millis(300)).await;
    assert!(matches!(outcome, Err(StoreError::Timeout(_))), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited the whole bound");
    assert!(started.elapsed() < Duration::from_secs(3), "and not much longer");
}

#[tokio::test]
async fn a_position_from_another_backend_is_refused_not_read_from_the_start() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let kurrent: store::Position = "kdb.10.9".parse().unwrap();
    let err = store.read_all(kurrent, &store::Filter::all(), 10).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidPosition(_)), "{err:?}");
}

/// Connections are killed while appends are in flight. Each append either succeeds or fails
/// with `Unavailable`; retrying a failed one with the same event ids then succeeds. At the end
/// every append's events are stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_mid_append_loses_nothing_and_duplicates_nothing() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let admin = db.client().await;
    // The killer goes on until an append has been hit (at least 8 rounds, at most 200), and the
    // writers go on until the killer is done: under load, a fixed number of kills could all
    // land between appends or after the writers had finished.
    let hits = Arc::new(AtomicUsize::new(0));
    let killing = Arc::new(AtomicBool::new(true));
    let killer = {
        let name = db.name.clone();
        let (hits, killing) = (hits.clone(), killing.clone());
        tokio::spawn(async move {
            for round in 0..200 {
                if round >= 8 && hits.load(Ordering::SeqCst) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await
                    .unwrap();
            }
            killing.store(false, Ordering::SeqCst);
        })
    };

    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        let (hits, killing) = (hits.clone(), killing.clone());
        tasks.push(tokio::spawn(async move {
            let stream = StreamName::parse(&format!("room-w{w}")).unwrap();
            let mut ids = Vec::new();
            let mut failures = 0;
            let mut appended = 0;
            while appended < 40 || killing.load(Ordering::SeqCst) {
                let events = vec![raw_event("t.a"), raw_event("t.a")];
                ids.extend(events.iter().map(|e| e.event_id));
                // Retry the same append (same ids) until it goes through.
                loop {
                    match store.append(&stream, ExpectedVersion::Any, events.clone()).await {
                        Ok(_) => break,
                        Err(e @ (StoreError::Unavailable(_) | StoreError::Pool(_))) => {
                            assert!(e.is_transient(), "a lost connection must be reported as retryable: {e}");
                            failures += 1;
                            hits.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(other) => panic!("unexpected error: {other:?}"),
                    }
                }
                appended += 1;
            }
            (stream, ids, failures)
        }));
    }
    let mut total_failures = 0;
    let mut expected: HashMap<StreamName, Vec<Uuid>> = HashMap::new();
    for t in tasks {
        let (stream, ids, failures) = t.await.unwrap();
        total_failures += failures;
        expected.insert(stream, ids);
    }
    killer.await.unwrap();
    assert!(total_failures > 0, "the fault injection never hit an append; the test proves nothing");

    for (stream, ids) in expected {
        // The last kill may have hit idle pooled connections the pool has not seen close yet: a
        // read on one fails as transient, and a caller retries it, as here.
        let mut attempts = 0;
        let stored = loop {
            match store.read_stream(&stream, Direction::Forwards, None, 10_000).await {
                Err(e) if e.is_transient() && attempts < 5 => attempts += 1,
                other => break other.unwrap(),
            }
        };
        let stored_ids: Vec<Uuid> = stored.iter().map(|e| e.event_id).collect();
        assert_eq!(stored_ids, ids, "stream {stream}: every event once, in order");
    }
}
