//! Subscriber checkpoints in `es_checkpoints`: a consumer of the log that restarts resumes where
//! it saved, and one that never saved starts at the beginning.

use store::{EventStore, ExpectedVersion};
use testkit::TestDatabase;

#[tokio::test]
async fn a_subscriber_resumes_from_the_position_it_saved_last() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    assert_eq!(store.load_checkpoint("gateway:test").await.unwrap(), store::Position::START);

    let stream = domain::StreamName::parse("test-1").unwrap();
    let first = store.append(&stream, ExpectedVersion::Any, vec![testkit::conformance::event("test.happened", 1)]).await.unwrap();
    let second = store.append(&stream, ExpectedVersion::Any, vec![testkit::conformance::event("test.happened", 2)]).await.unwrap();
    store.save_checkpoint("gateway:test", first.position).await.unwrap();
    store.save_checkpoint("gateway:test", second.position).await.unwrap();

    // A new store (a restarted process) reads the last saved position; others are untouched.
    let restarted = db.store().await;
    assert_eq!(restarted.load_checkpoint("gateway:test").await.unwrap(), second.position);
    assert_eq!(restarted.load_checkpoint("gateway:other").await.unwrap(), store::Position::START);
}

#[tokio::test]
async fn a_follower_that_fails_midway_resumes_after_the_last_event_it_handled_and_skips_nothing() {
    use std::sync::{Arc, Mutex};
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let stream = domain::StreamName::parse("test-1").unwrap();
    // Ten events appended at once: they arrive together, as one chunk.
    let events = (0..10).map(|n| testkit::conformance::event("test.happened", n)).collect();
    store.append(&stream, ExpectedVersion::Any, events).await.unwrap();
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    // Each run is bounded: the first ends at its failure, the second follows until the bound.
    let follow = |fail_at: Option<u64>, bound_ms: u64| {
        let (store, seen) = (store.clone(), seen.clone());
        async move {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            let run = store::follow(&store, "gateway:test", store::Filter::all(), store::FirstStart::Beginning, stopped, |recorded| {
                let seen = seen.clone();
                async move {
                    if Some(recorded.stream_version) == fail_at {
                        return Err(store::StoreError::Unavailable("the handler's dependency is down".into()));
                    }
                    seen.lock().unwrap().push(recorded.stream_version);
                    Ok(())
                }
            });
            tokio::time::timeout(std::time::Duration::from_millis(bound_ms), run).await
        }
    };
    assert!(matches!(follow(Some(6), 10_000).await, Ok(Err(_))), "the failure ends the run");
    assert_eq!(*seen.lock().unwrap(), (0..6).collect::<Vec<_>>());
    assert!(follow(None, 2_000).await.is_err(), "the second run keeps following until the timeout");
    assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>(), "resumed at the failed event: nothing skipped, nothing repeated");
}
