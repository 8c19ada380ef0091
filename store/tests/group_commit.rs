//! Group commit: appends queued together are committed in one transaction, yet each keeps its
//! own expected-version check and outcome, whichever path (disjoint or general) the group takes.

use std::collections::BTreeMap;

use domain::StreamName;
use futures::future::join_all;
use store::{AppendResult, Direction, EventStore, ExpectedVersion, NewEvent, PgEventStore, StoreError};
use testkit::TestDatabase;
use testkit::conformance::event;
use uuid::Uuid;

fn stream(n: usize) -> StreamName {
    StreamName::parse(&format!("room-g{n}x{}", Uuid::now_v7().simple())).unwrap()
}

/// Queues every append before the committer runs (the test runtime has one thread), so they
/// are committed as groups, and returns their outcomes in order.
async fn together(
    store: &PgEventStore,
    appends: Vec<(StreamName, ExpectedVersion, Vec<NewEvent>)>,
) -> Vec<Result<AppendResult, StoreError>> {
    join_all(appends.iter().map(|(s, e, events)| store.append(s, *e, events.clone()))).await
}

#[tokio::test]
async fn a_group_of_fresh_appends_conflicts_and_retries_gives_each_its_own_outcome() {
    let db = TestDatabase::create().await;
    let store = db.store().await;

    // Ten streams with two events each, written earlier.
    let streams: Vec<StreamName> = (0..10).map(stream).collect();
    let mut first_appends = Vec::new();
    for s in &streams {
        let events = vec![event("t.a", 0), event("t.a", 1)];
        let result = store.append(s, ExpectedVersion::NoStream, events.clone()).await.unwrap();
        first_appends.push((events, result));
    }

    // One group: fresh appends with the right version, wrong versions, new streams, "no stream"
    // on an existing stream, and retries of the earlier appends with now-stale expectations.
    let new_streams: Vec<StreamName> = (10..14).map(stream).collect();
    let mut appends = Vec::new();
    for s in &streams[0..4] {
        appends.push((s.clone(), ExpectedVersion::Exact(1), vec![event("t.b", 2), event("t.b", 3)]));
    }
    for s in &streams[4..6] {
        appends.push((s.clone(), ExpectedVersion::Exact(7), vec![event("t.b", 2)]));
    }
    appends.push((streams[6].clone(), ExpectedVersion::NoStream, vec![event("t.b", 2)]));
    appends.push((streams[7].clone(), ExpectedVersion::StreamExists, vec![event("t.b", 2)]));
    appends.push((streams[8].clone(), ExpectedVersion::Any, vec![event("t.b", 2)]));
    for s in &new_streams[0..2] {
        appends.push((s.clone(), ExpectedVersion::NoStream, vec![event("t.c", 0)]));
    }
    appends.push((new_streams[2].clone(), ExpectedVersion::Any, vec![event("t.c", 0)]));
    appends.push((new_streams[3].clone(), ExpectedVersion::StreamExists, vec![event("t.c", 0)]));
    let fresh_outcomes = together(&store, appends).await;

    for outcome in &fresh_outcomes[0..4] {
        assert_eq!(outcome.as_ref().unwrap().stream_version, Some(3));
    }
    for outcome in &fresh_outcomes[4..6] {
        assert!(matches!(outcome, Err(StoreError::WrongExpectedVersion { actual: Some(1), .. })), "{outcome:?}");
    }
    assert!(matches!(fresh_outcomes[6], Err(StoreError::WrongExpectedVersion { actual: Some(1), .. })), "{:?}", fresh_outcomes[6]);
    assert_eq!(fresh_outcomes[7].as_ref().unwrap().stream_version, Some(2));
    assert_eq!(fresh_outcomes[8].as_ref().unwrap().stream_version, Some(2));
    for outcome in &fresh_outcomes[9..12] {
        assert_eq!(outcome.as_ref().unwrap().stream_version, Some(0));
    }
    assert!(matches!(fresh_outcomes[12], Err(StoreError::WrongExpectedVersion { actual: None, .. })), "{:?}", fresh_outcomes[12]);

    // A group mixing retries of stored appends (stale expectations) with fresh appends: the
    // retries get their original results, the fresh ones are written once.
    let mut appends = Vec::new();
    for (s, (events, _)) in streams.iter().zip(&first_appends).take(3) {
        appends.push((s.clone(), ExpectedVersion::NoStream, events.clone()));
    }
    appends.push((streams[9].clone(), ExpectedVersion::Exact(1), vec![event("t.d", 2)]));
    let outcomes = together(&store, appends).await;
    for (outcome, (_, original)) in outcomes.iter().zip(&first_appends).take(3) {
        assert_eq!(outcome.as_ref().unwrap(), original, "a retry gets the original result");
    }
    assert_eq!(outcomes[3].as_ref().unwrap().stream_version, Some(2));

    // Two appends to one stream in one group (the general path): both land, in order.
    let s = &new_streams[0];
    let outcomes = together(
        &store,
        vec![(s.clone(), ExpectedVersion::Exact(0), vec![event("t.e", 1)]), (s.clone(), ExpectedVersion::Exact(1), vec![event("t.e", 2)])],
    )
    .await;
    assert_eq!(outcomes.iter().map(|o| o.as_ref().unwrap().stream_version).collect::<Vec<_>>(), vec![Some(1), Some(2)]);

    // What is stored: every stream's versions are contiguous, nothing refused was written.
    let mut lengths = BTreeMap::new();
    for s in streams.iter().chain(&new_streams) {
        let events = store.read_stream(s, Direction::Forwards, None, 100).await.unwrap();
        assert!(events.iter().enumerate().all(|(i, e)| e.stream_version == i as u64), "{s}: versions contiguous");
        lengths.insert(s.to_string(), events.len());
    }
    let expected: Vec<usize> = vec![4, 4, 4, 4, 2, 2, 2, 3, 3, 3, 3, 1, 1, 0];
    let actual: Vec<usize> = streams.iter().chain(&new_streams).map(|s| lengths[&s.to_string()]).collect();
    assert_eq!(actual, expected);
    for (s, n) in streams.iter().chain(&new_streams).zip(&expected) {
        assert_eq!(store.stream_version(s).await.unwrap(), n.checked_sub(1).map(|v| v as u64), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_on_few_streams_never_lose_or_duplicate_an_event() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let streams: Vec<StreamName> = (0..4).map(stream).collect();
    // 16 writers, 4 per stream, each appending 25 times with the version it last saw and
    // re-reading on conflict: groups mix disjoint appends and clashes on one stream.
    let tasks = (0..16).map(|w| {
        let store = store.clone();
        let s = streams[w % 4].clone();
        tokio::spawn(async move {
            let mut written = 0;
            while written < 25 {
                let seen = store.stream_version(&s).await.unwrap();
                match store.append(&s, ExpectedVersion::from_seen(seen), vec![event("t.w", w as u64)]).await {
                    Ok(_) => written += 1,
                    Err(StoreError::WrongExpectedVersion { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        })
    });
    for t in join_all(tasks).await {
        t.unwrap();
    }
    for s in &streams {
        let events = store.read_stream(s, Direction::Forwards, None, 1_000).await.unwrap();
        assert_eq!(events.len(), 100, "{s}");
        assert!(events.iter().enumerate().all(|(i, e)| e.stream_version == i as u64));
    }
}

#[tokio::test]
async fn in_one_group_an_inert_append_keeps_a_decision_standing_and_a_fencing_one_refuses_the_appends_after_it() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let s = stream(0);
    store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 0)]).await.unwrap();
    // Every append decided at version 0, all in one group on one stream (the general path).
    let said = |n| vec![event("t.said", n).inert(true)];
    let outcomes = together(
        &store,
        vec![
            (s.clone(), ExpectedVersion::UnchangedSince(0), said(1)),
            (s.clone(), ExpectedVersion::UnchangedSince(0), said(2)),
            (s.clone(), ExpectedVersion::UnchangedSince(0), vec![event("t.banned", 3)]),
            (s.clone(), ExpectedVersion::UnchangedSince(0), said(4)),
            (s.clone(), ExpectedVersion::UnchangedSince(3), said(5)),
        ],
    )
    .await;
    let versions: Vec<_> = outcomes.iter().map(|o| o.as_ref().map(|r| r.stream_version).map_err(|_| ())).collect();
    assert_eq!(versions, vec![Ok(Some(1)), Ok(Some(2)), Ok(Some(3)), Err(()), Ok(Some(4))]);
    let stored: Vec<u64> = store
        .read_stream(&s, Direction::Forwards, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.payload.to_value()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(stored, vec![0, 1, 2, 3, 5]);
}
