//! Subscriber checkpoints in `es_checkpoints`: a consumer of the log that restarts resumes where
//! it saved, and one that never saved starts at the beginning.

use store::testing::TestDatabase;
use store::{EventStore, ExpectedVersion};

#[tokio::test]
async fn a_subscriber_resumes_from_the_position_it_saved_last() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    assert_eq!(store.load_checkpoint("gateway:test").await.unwrap(), store::Position::START);

    let stream = domain::StreamName::parse("test-1").unwrap();
    let first = store.append(&stream, ExpectedVersion::Any, vec![store::testing::conformance::event("test.happened", 1)]).await.unwrap();
    let second = store.append(&stream, ExpectedVersion::Any, vec![store::testing::conformance::event("test.happened", 2)]).await.unwrap();
    store.save_checkpoint("gateway:test", first.position).await.unwrap();
    store.save_checkpoint("gateway:test", second.position).await.unwrap();

    // A new store (a restarted process) reads the last saved position; others are untouched.
    let restarted = db.store().await;
    assert_eq!(restarted.load_checkpoint("gateway:test").await.unwrap(), second.position);
    assert_eq!(restarted.load_checkpoint("gateway:other").await.unwrap(), store::Position::START);
}
