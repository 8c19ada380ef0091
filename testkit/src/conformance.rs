//! The conformance suite: behaviour every [`EventStore`] backend must have. Each case takes a
//! fresh, empty store; [`conformance_tests!`](crate::conformance_tests) generates one test per case
//! for a backend's own test crate, so every backend runs the same cases unchanged.

use std::time::Duration;

use domain::{Actor, Gateway, Metadata, StreamName};
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use store::{Direction, EventStore, ExpectedVersion, Filter, NewEvent, Position, StoreError, StreamAppend};

pub fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: json!({ "n": n }),
        metadata: Metadata::new(Actor::System, Gateway::System),
        inert: false,
    }
}

fn stream(name: &str) -> StreamName {
    StreamName::parse(&format!("{name}-{}", Uuid::now_v7())).unwrap()
}

pub async fn appends_to_a_new_stream_with_no_stream_expected(store: &dyn EventStore) {
    let s = stream("room");
    let r = store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 0), event("t.a", 1)]).await.unwrap();
    assert_eq!(r.stream_version, Some(1));
    assert!(r.position > Position::START);
    assert_eq!(store.stream_version(&s).await.unwrap(), Some(1));
}

pub async fn expected_versions_are_enforced_and_conflicts_report_the_actual_version(store: &dyn EventStore) {
    let s = stream("room");
    match store.append(&s, ExpectedVersion::StreamExists, vec![event("t.a", 0)]).await {
        Err(StoreError::WrongExpectedVersion { actual: None, .. }) => {}
        other => panic!("stream-exists on a missing stream must conflict, got {other:?}"),
    }
    store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 0)]).await.unwrap();
    match store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 1)]).await {
        Err(StoreError::WrongExpectedVersion { actual: Some(0), .. }) => {}
        other => panic!("no-stream on an existing stream must conflict, got {other:?}"),
    }
    match store.append(&s, ExpectedVersion::Exact(5), vec![event("t.a", 1)]).await {
        Err(StoreError::WrongExpectedVersion { actual: Some(0), .. }) => {}
        other => panic!("a wrong exact version must conflict, got {other:?}"),
    }
    let r = store.append(&s, ExpectedVersion::Exact(0), vec![event("t.a", 1)]).await.unwrap();
    assert_eq!(r.stream_version, Some(1));
    let r = store.append(&s, ExpectedVersion::StreamExists, vec![event("t.a", 2)]).await.unwrap();
    assert_eq!(r.stream_version, Some(2));
    let r = store.append(&s, ExpectedVersion::Any, vec![event("t.a", 3)]).await.unwrap();
    assert_eq!(r.stream_version, Some(3));
    let read = store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap();
    let ns: Vec<u64> = read.iter().map(|e| e.payload.to_value()["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![0, 1, 2, 3], "a refused append must write nothing");
}

pub async fn re_appending_the_same_event_ids_returns_the_original_result(store: &dyn EventStore) {
    let s = stream("user");
    let events = vec![event("t.a", 0), event("t.a", 1)];
    let first = store.append(&s, ExpectedVersion::NoStream, events.clone()).await.unwrap();
    store.append(&s, ExpectedVersion::Any, vec![event("t.a", 2)]).await.unwrap();
    // A retry (Twilio re-sends, a reconnect replays) with a now-stale expected version.
    let again = store.append(&s, ExpectedVersion::NoStream, events.clone()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap().len(), 3);
    // Part old, part new ids: not the same append.
    let mixed = vec![events[0].clone(), event("t.a", 9)];
    assert!(matches!(store.append(&s, ExpectedVersion::Any, mixed).await, Err(StoreError::IdempotencyMismatch { .. })));
    // The same ids aimed at another stream: refused, not duplicated.
    let other = stream("user");
    assert!(matches!(store.append(&other, ExpectedVersion::Any, events).await, Err(StoreError::IdempotencyMismatch { .. })));
    assert_eq!(store.stream_version(&other).await.unwrap(), None);
}

pub async fn events_are_found_by_id(store: &dyn EventStore) {
    let s = stream("user");
    let events = vec![event("t.a", 0), event("t.a", 1)];
    let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
    let appended = store.append(&s, ExpectedVersion::NoStream, events).await.unwrap();
    store.append(&stream("user"), ExpectedVersion::NoStream, vec![event("t.a", 2)]).await.unwrap();
    let read = store.read_stream(&s, Direction::Forwards, None, 10).await.unwrap();
    for (version, id) in ids.iter().enumerate() {
        let found = store.find_event(*id).await.unwrap().expect("a stored event is found");
        assert_eq!(found.stream, s);
        assert_eq!(found.stream_version, version as u64);
        assert_eq!(found.position, read[version].position);
    }
    assert_eq!(store.find_event(ids[1]).await.unwrap().map(|f| f.position), Some(appended.position));
    assert_eq!(store.find_event(Uuid::now_v7()).await.unwrap(), None, "an unknown id is not found");
}

pub async fn streams_read_forwards_and_backwards_from_a_version(store: &dyn EventStore) {
    let s = stream("room");
    let events: Vec<_> = (0..10).map(|n| event("t.a", n)).collect();
    store.append(&s, ExpectedVersion::NoStream, events).await.unwrap();
    let fw = store.read_stream(&s, Direction::Forwards, Some(3), 4).await.unwrap();
    assert_eq!(fw.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    let bw = store.read_stream(&s, Direction::Backwards, None, 3).await.unwrap();
    assert_eq!(bw.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![9, 8, 7]);
    let bw = store.read_stream(&s, Direction::Backwards, Some(1), 10).await.unwrap();
    assert_eq!(bw.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![1, 0]);
    assert!(store.read_stream(&stream("room"), Direction::Forwards, None, 10).await.unwrap().is_empty());
}

pub async fn metadata_and_payload_round_trip(store: &dyn EventStore) {
    let s = stream("room");
    let user = Uuid::now_v7();
    let cause = Uuid::now_v7();
    let mut e = event("room.message_posted", 7);
    e.payload = json!({ "body": "héllo ✓ \u{1F600}", "nested": { "a": [1, 2, null] } });
    e.metadata = Metadata { actor: Actor::User(user), gateway: Gateway::Irc, correlation_id: cause, causation_id: Some(cause) };
    store.append(&s, ExpectedVersion::Any, vec![e.clone()]).await.unwrap();
    let read = store.read_stream(&s, Direction::Forwards, None, 1).await.unwrap().remove(0);
    assert_eq!(read.event_id, e.event_id);
    assert_eq!(read.event_type, e.event_type);
    assert_eq!(read.payload.to_value(), e.payload);
    assert_eq!(read.metadata, e.metadata);
    assert_eq!(read.stream, s);
}

/// A category no other test writes to, so that cases reading the global log see only their own
/// events on a shared server (a real KurrentDB that every test uses).
fn own_category(name: &str) -> String {
    // Categories are lowercase letters: the random half of a v7 uuid, one letter per hex digit.
    let letters: String =
        Uuid::now_v7().simple().to_string()[20..].chars().map(|c| (b'a' + c.to_digit(16).unwrap() as u8) as char).collect();
    format!("{name}_{letters}")
}

pub async fn the_global_log_is_ordered_and_filterable(store: &dyn EventStore) {
    let (room_category, user_category) = (own_category("room"), own_category("user"));
    let rooms = stream(&room_category);
    let users = stream(&user_category);
    let mine = Filter::categories([room_category.clone(), user_category.clone()]);
    let from = store.head().await.unwrap();
    store.append(&rooms, ExpectedVersion::Any, vec![event("room.a", 0), event("room.b", 1)]).await.unwrap();
    store.append(&users, ExpectedVersion::Any, vec![event("user.a", 2)]).await.unwrap();
    let last = store.append(&rooms, ExpectedVersion::Any, vec![event("room.a", 3)]).await.unwrap();
    // The global log is readable once every older writer has finished (the watermark);
    // readers that need their own write wait for its position.
    store.wait_for(last.position, Duration::from_secs(10)).await.unwrap();

    let all = store.read_all(from, &mine, 100).await.unwrap();
    assert_eq!(all.events.iter().map(|e| e.payload.to_value()["n"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(all.events.windows(2).all(|w| w[0].position < w[1].position));
    assert!(all.caught_up);
    if from.is_start() {
        assert_eq!(store.read_all(from, &Filter::all(), 100).await.unwrap().events, all.events, "an empty store holds only these");
    }

    let paged = store.read_all(from, &mine, 3).await.unwrap();
    assert_eq!(paged.events.len(), 3);
    assert!(!paged.caught_up);
    let rest = store.read_all(paged.next, &mine, 3).await.unwrap();
    assert_eq!(rest.events.len(), 1);
    assert_eq!(rest.events[0].payload.to_value()["n"], 3);

    let by_type = Filter { event_types: vec!["room.a".into()], categories: vec![room_category.clone()] };
    let by_type = store.read_all(from, &by_type, 100).await.unwrap();
    assert_eq!(by_type.events.iter().map(|e| e.payload.to_value()["n"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 3]);
    let only_types = store.read_all(from, &Filter::event_types(["user.a"]), 100).await.unwrap();
    assert!(only_types.events.iter().any(|e| e.stream == users), "a filter on types alone finds the event");
    assert!(only_types.events.iter().all(|e| e.event_type == "user.a"));
    let by_category = store.read_all(from, &Filter::categories([user_category.clone()]), 100).await.unwrap();
    assert_eq!(by_category.events.len(), 1);
    // A sparse filter still moves the caller forward past what it does not want.
    assert!(by_category.next >= all.events.last().unwrap().position);
    let nothing = store.read_all(by_category.next, &Filter::categories([user_category]), 100).await.unwrap();
    assert!(nothing.events.is_empty());
    // On a server that other tests write to at the same time, the head may be further on.
    assert!(store.head().await.unwrap() >= last.position);
    if from.is_start() {
        assert_eq!(store.head().await.unwrap(), last.position);
    }
}

pub async fn appends_in_order_stand_in_the_log_in_that_order_each_with_its_own_outcome(store: &dyn EventStore) {
    let category = own_category("delivery");
    let from = store.head().await.unwrap();
    let taken = stream(&category);
    store.append(&taken, ExpectedVersion::NoStream, vec![event("t.a", 0)]).await.unwrap();
    let fresh: Vec<StreamName> = (0..5).map(|_| stream(&category)).collect();
    let mut appends: Vec<StreamAppend> = fresh
        .iter()
        .zip(1..)
        .map(|(s, n)| StreamAppend { stream: s.clone(), expected: ExpectedVersion::NoStream, events: vec![event("t.b", n)] })
        .collect();
    // A stream that exists already, in the middle: refused alone.
    appends.insert(2, StreamAppend { stream: taken.clone(), expected: ExpectedVersion::NoStream, events: vec![event("t.b", 99)] });
    let outcomes = store.append_in_order(appends.clone()).await;

    assert_eq!(outcomes.len(), 6);
    assert!(matches!(outcomes[2], Err(StoreError::WrongExpectedVersion { actual: Some(0), .. })), "{:?}", outcomes[2]);
    let positions: Vec<Position> = outcomes.iter().filter_map(|o| o.as_ref().ok()).map(|a| a.position).collect();
    assert_eq!(positions.len(), 5);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "stored in the order given: {positions:?}");
    store.wait_for(*positions.last().unwrap(), Duration::from_secs(10)).await.unwrap();
    let mine = Filter { event_types: vec!["t.b".into()], categories: vec![category] };
    let logged = store.read_all(from, &mine, 100).await.unwrap();
    assert_eq!(logged.events.iter().map(|e| e.payload.to_value()["n"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);

    // The same appends again: the stored ones are the store's idempotent repeats.
    let again = store.append_in_order(appends).await;
    for (first, second) in outcomes.iter().zip(&again) {
        if let (Ok(first), Ok(second)) = (first, second) {
            assert_eq!(first.position, second.position);
        }
    }
    assert_eq!(again.iter().filter(|o| o.is_ok()).count(), 5);
}

pub async fn a_subscription_catches_up_then_follows_live(store: &dyn EventStore) {
    let category = own_category("room");
    let s = stream(&category);
    let from = store.head().await.unwrap();
    store.append(&s, ExpectedVersion::Any, vec![event("t.a", 0), event("t.a", 1)]).await.unwrap();
    let mut sub = store.subscribe_all(from, Filter::categories([category.clone()]));
    for n in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(e.payload.to_value()["n"], n);
    }
    let r = store.append(&s, ExpectedVersion::Any, vec![event("t.a", 2)]).await.unwrap();
    let live = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.expect("live event not delivered").unwrap().unwrap();
    assert_eq!(live.payload.to_value()["n"], 2);
    assert_eq!(live.position, r.position);
    // A subscription from a position starts after it.
    let mut later = store.subscribe_all(r.position, Filter::categories([category]));
    store.append(&s, ExpectedVersion::Any, vec![event("t.a", 3)]).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), later.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(e.payload.to_value()["n"], 3);
}

pub async fn a_consistency_token_can_be_waited_for(store: &dyn EventStore) {
    let s = stream("room");
    let r = store.append(&s, ExpectedVersion::Any, vec![event("t.a", 0)]).await.unwrap();
    store.wait_for(r.position, Duration::from_secs(10)).await.unwrap();
    assert!(store.head().await.unwrap() >= r.position);
    let token: Position = r.position.to_string().parse().unwrap();
    assert_eq!(token, r.position);
}

pub async fn bad_input_gets_a_clear_error_and_writes_nothing(store: &dyn EventStore) {
    let s = stream("room");
    let mut big = event("t.a", 0);
    big.payload = json!({ "body": "x".repeat(store::limits::MAX_EVENT_PAYLOAD_BYTES + 1) });
    assert!(matches!(store.append(&s, ExpectedVersion::Any, vec![big]).await, Err(StoreError::PayloadTooLarge { .. })));
    let mut bad_type = event("t.a", 0);
    bad_type.event_type = "drop table; --".into();
    assert!(matches!(store.append(&s, ExpectedVersion::Any, vec![bad_type]).await, Err(StoreError::InvalidEventType(_))));
    let many: Vec<_> = (0..=store::limits::MAX_EVENTS_PER_APPEND as u64).map(|n| event("t.a", n)).collect();
    assert!(matches!(store.append(&s, ExpectedVersion::Any, many).await, Err(StoreError::TooManyEvents { .. })));
    assert_eq!(store.stream_version(&s).await.unwrap(), None);
    assert!("pg.banana".parse::<Position>().is_err());
}

pub async fn a_follower_keeps_its_place_and_resumes_after_it(store: &dyn EventStore) {
    let category = own_category("room");
    let (follower, other, new) =
        (format!("conformance:follower:{category}"), format!("conformance:other:{category}"), format!("conformance:new:{category}"));
    let mine = Filter::categories([category.clone()]);
    assert_eq!(store.load_checkpoint(&follower).await.unwrap(), Position::START, "a new follower starts at the start");
    let s = stream(&category);
    let first = store.append(&s, ExpectedVersion::Any, vec![event("t.a", 0), event("t.a", 1)]).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut seen = Vec::new();
    let run = store::follow(store, &follower, mine.clone(), store::FirstStart::Beginning, stopped.clone(), |e| {
        seen.push(e.payload.to_value()["n"].as_u64().unwrap());
        let done = seen.len() == 2;
        let stop = &stop;
        async move {
            if done {
                stop.send(true).unwrap();
            }
            Ok::<(), StoreError>(())
        }
    });
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("the follower stops when told").unwrap();
    assert_eq!(seen, [0, 1]);
    assert_eq!(store.load_checkpoint(&follower).await.unwrap(), first.position, "the place is saved");

    // A restarted follower resumes after its place; one that starts at the head skips history.
    store.append(&s, ExpectedVersion::Any, vec![event("t.a", 2)]).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut resumed = Vec::new();
    let run = store::follow(store, &follower, mine.clone(), store::FirstStart::Beginning, stopped, |e| {
        resumed.push(e.payload.to_value()["n"].as_u64().unwrap());
        stop.send(true).unwrap();
        async { Ok::<(), StoreError>(()) }
    });
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("the follower stops when told").unwrap();
    assert_eq!(resumed, [2]);
    store.save_checkpoint(&other, first.position).await.unwrap();
    assert_eq!(store.load_checkpoint(&other).await.unwrap(), first.position, "followers keep separate places");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let head = store.head().await.unwrap();
    let mut from_head = Vec::new();
    let run = store::follow(store, &new, mine, store::FirstStart::Head, stopped, |e| {
        from_head.push(e.position);
        async { Ok::<(), StoreError>(()) }
    });
    assert!(tokio::time::timeout(Duration::from_millis(300), run).await.is_err(), "nothing old is handled");
    assert!(from_head.is_empty());
    assert_eq!(store.load_checkpoint(&new).await.unwrap(), head, "a head start is saved at once");
}

pub async fn an_empty_append_only_checks_the_version(store: &dyn EventStore) {
    let s = stream("room");
    let r = store.append(&s, ExpectedVersion::NoStream, vec![]).await.unwrap();
    assert_eq!(r.stream_version, None);
    assert!(matches!(store.append(&s, ExpectedVersion::Exact(3), vec![]).await, Err(StoreError::WrongExpectedVersion { .. })));
}

/// Inert events (chat messages) do not refuse an append that expects nothing but inert events
/// since the version it decided on; any other event does, and so does a version never reached.
pub async fn inert_events_leave_a_decision_standing_and_other_events_do_not(store: &dyn EventStore) {
    let s = stream("room");
    store.append(&s, ExpectedVersion::NoStream, vec![event("t.a", 0)]).await.unwrap();
    // Two posts decided at version 0, one after the other: the second is not refused.
    for n in 1..=2 {
        let r = store.append(&s, ExpectedVersion::UnchangedSince(0), vec![event("t.said", n).inert(true)]).await.unwrap();
        assert_eq!(r.stream_version, Some(n), "an inert event after version 0 leaves version 0's decision standing");
    }
    // A decision at version 0 that is not inert itself is accepted too, and fences the stream.
    let r = store.append(&s, ExpectedVersion::UnchangedSince(0), vec![event("t.banned", 3)]).await.unwrap();
    assert_eq!(r.stream_version, Some(3));
    match store.append(&s, ExpectedVersion::UnchangedSince(2), vec![event("t.said", 4).inert(true)]).await {
        Err(StoreError::WrongExpectedVersion { actual: Some(3), .. }) => {}
        other => panic!("a decision taken before a non-inert event must be refused, got {other:?}"),
    }
    // Empty appends (the general path) check the fence the same way.
    assert!(store.append(&s, ExpectedVersion::UnchangedSince(3), vec![]).await.is_ok());
    assert!(matches!(store.append(&s, ExpectedVersion::UnchangedSince(2), vec![]).await, Err(StoreError::WrongExpectedVersion { .. })));
    match store.append(&s, ExpectedVersion::UnchangedSince(9), vec![event("t.said", 4).inert(true)]).await {
        Err(StoreError::WrongExpectedVersion { actual: Some(3), .. }) => {}
        other => panic!("a version the stream never reached must be refused, got {other:?}"),
    }
    let r = store.append(&s, ExpectedVersion::UnchangedSince(3), vec![event("t.said", 4).inert(true)]).await.unwrap();
    assert_eq!(r.stream_version, Some(4));
    let read = store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap();
    let ns: Vec<u64> = read.iter().map(|e| e.payload.to_value()["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![0, 1, 2, 3, 4], "a refused append writes nothing");
}

/// Writers that expect the version they last saw, several per stream, all at once: each
/// conflict is refused and retried, and every stream ends with each writer's events exactly
/// once, versions without a gap.
pub async fn concurrent_writers_on_few_streams_never_lose_or_duplicate_an_event(store: &dyn EventStore) {
    let category = own_category("room");
    let streams: Vec<StreamName> = (0..3).map(|_| stream(&category)).collect();
    let writer = |w: usize| {
        let s = streams[w % streams.len()].clone();
        async move {
            let mut written = 0;
            while written < 10 {
                let seen = store.stream_version(&s).await.unwrap();
                match store.append(&s, ExpectedVersion::from_seen(seen), vec![event("t.w", w as u64)]).await {
                    Ok(_) => written += 1,
                    Err(StoreError::WrongExpectedVersion { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
    };
    futures::future::join_all((0..9).map(writer)).await;
    for s in &streams {
        let events = store.read_stream(s, Direction::Forwards, None, 1_000).await.unwrap();
        assert_eq!(events.len(), 30, "{s}");
        assert!(events.iter().enumerate().all(|(i, e)| e.stream_version == i as u64), "{s}: versions without a gap");
        let mut per_writer = std::collections::BTreeMap::<u64, usize>::new();
        for e in &events {
            *per_writer.entry(e.payload.to_value()["n"].as_u64().unwrap()).or_default() += 1;
        }
        assert!(per_writer.values().all(|n| *n == 10), "{s}: {per_writer:?}");
    }
}

/// A subscriber that reads while many writers append (single and multi-event appends, to their
/// own streams and a shared one) receives every stored event once, in log order, each stream's
/// versions in order.
pub async fn a_subscriber_reading_while_many_write_gets_every_event_once_in_order(store: &dyn EventStore) {
    let category = own_category("room");
    let from = store.head().await.unwrap();
    let mut subscription = store.subscribe_all(from, Filter::categories([category.clone()]));
    let shared = stream(&category);
    let writer = |w: u64| {
        let (shared, own) = (shared.clone(), stream(&category));
        async move {
            let mut ids = Vec::new();
            for i in 0..20u64 {
                let target = if i % 3 == 0 { &shared } else { &own };
                let events: Vec<NewEvent> = (0..1 + i % 3).map(|_| event("t.fast", w)).collect();
                ids.extend(events.iter().map(|e| e.event_id));
                store.append(target, ExpectedVersion::Any, events).await.unwrap();
            }
            ids
        }
    };
    let written: Vec<Uuid> = futures::future::join_all((0..6).map(writer)).await.into_iter().flatten().collect();
    let mut received = Vec::with_capacity(written.len());
    while received.len() < written.len() {
        let next = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
        let event = next.unwrap_or_else(|_| panic!("{} of {} events delivered", received.len(), written.len()));
        received.push(event.expect("the subscription ended").expect("the subscription failed"));
    }
    assert!(tokio::time::timeout(Duration::from_millis(200), subscription.next()).await.is_err(), "nothing more than was written");
    assert!(received.windows(2).all(|w| w[0].position < w[1].position), "in log order");
    let ids: std::collections::HashSet<Uuid> = received.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), received.len(), "no event twice");
    assert_eq!(ids, written.into_iter().collect(), "every event written, none other");
    let mut versions = std::collections::HashMap::<&StreamName, u64>::new();
    for e in &received {
        let expected = versions.entry(&e.stream).or_insert(0);
        assert_eq!(e.stream_version, *expected, "{}: versions in order", e.stream);
        *expected += 1;
    }
}

/// Posts decided at the same version (inert events expecting `UnchangedSince`), all at once on
/// one stream: none refuses another, and each is stored once.
pub async fn concurrent_inert_appends_at_one_decision_all_succeed_once(store: &dyn EventStore) {
    let s = stream(&own_category("room"));
    let decided = store.append(&s, ExpectedVersion::NoStream, vec![event("t.created", 0)]).await.unwrap().stream_version.unwrap();
    let posts: Vec<NewEvent> = (1..=20).map(|n| event("t.said", n).inert(true)).collect();
    let outcomes =
        futures::future::join_all(posts.iter().map(|e| store.append(&s, ExpectedVersion::UnchangedSince(decided), vec![e.clone()]))).await;
    for outcome in &outcomes {
        assert!(outcome.is_ok(), "an inert post at an unchanged decision is not refused: {outcome:?}");
    }
    let read = store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap();
    assert_eq!(read.len(), 21);
    let ids: std::collections::HashSet<Uuid> = read.iter().map(|e| e.event_id).collect();
    assert!(posts.iter().all(|p| ids.contains(&p.event_id)), "every post stored once");
}

/// An append wakes whoever waits on the store's wake-ups (projection runners between reads).
pub async fn an_append_wakes_the_stores_waiters(store: &dyn EventStore) {
    let mut wakeups = store.wakeups();
    wakeups.borrow_and_update();
    store.append(&stream("room"), ExpectedVersion::Any, vec![event("t.a", 0)]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wakeups.changed()).await.expect("no wake-up after an append").unwrap();
}

/// Generates one `#[tokio::test]` per conformance case. `$make` is an async expression that
/// yields `(guard, store)`: the guard keeps per-test resources alive.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            appends_to_a_new_stream_with_no_stream_expected,
            expected_versions_are_enforced_and_conflicts_report_the_actual_version,
            re_appending_the_same_event_ids_returns_the_original_result,
            streams_read_forwards_and_backwards_from_a_version,
            metadata_and_payload_round_trip,
            the_global_log_is_ordered_and_filterable,
            a_subscription_catches_up_then_follows_live,
            a_consistency_token_can_be_waited_for,
            bad_input_gets_a_clear_error_and_writes_nothing,
            an_empty_append_only_checks_the_version,
            inert_events_leave_a_decision_standing_and_other_events_do_not,
            events_are_found_by_id,
            a_follower_keeps_its_place_and_resumes_after_it,
            appends_in_order_stand_in_the_log_in_that_order_each_with_its_own_outcome,
            concurrent_writers_on_few_streams_never_lose_or_duplicate_an_event,
            a_subscriber_reading_while_many_write_gets_every_event_once_in_order,
            concurrent_inert_appends_at_one_decision_all_succeed_once,
            an_append_wakes_the_stores_waiters
        );
    };
    (@cases $make:expr; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_guard, store) = $make.await;
                $crate::conformance::$case(&store).await;
            }
        )+
    };
}
