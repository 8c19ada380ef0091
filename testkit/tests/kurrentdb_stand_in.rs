//! The KurrentDB stand-in driven by the official `kurrentdb` client, as the store's KurrentDB
//! backend will drive it: appends and their expectations and retries, stream and `$all` reads,
//! filters, catch-up subscriptions and checkpoints, and the faults (cut connections, a hung
//! node, a follower) with what the client makes of them.

use std::time::Duration;

use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, Endpoint, Error, EventData, Position, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, StreamPosition, StreamState, SubscribeToAllOptions, SubscribeToStreamOptions, Subscription,
    SubscriptionEvent, SubscriptionFilter,
};
use serde_json::json;
use testkit::kurrentdb::KurrentStandIn;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

/// A client of the node. The client waits `discoveryInterval` (500 ms by default) before its
/// first connection even to a single node; tests do not need to.
fn client_for(url: &str) -> Client {
    let settings: ClientSettings = format!("{url}&discoveryInterval=10").parse().expect("the stand-in's URL parses");
    Client::new(settings).expect("a client")
}

fn client(node: &KurrentStandIn) -> Client {
    client_for(&node.url())
}

fn said(text: &str) -> EventData {
    EventData::json("Said", &json!({ "text": text })).expect("JSON").id(Uuid::new_v4())
}

fn expecting(state: StreamState) -> AppendToStreamOptions {
    AppendToStreamOptions::default().stream_state(state)
}

async fn read_stream(client: &Client, stream: &str, options: &ReadStreamOptions) -> kurrentdb::Result<Vec<RecordedEvent>> {
    let mut read = client.read_stream(stream, options).await?;
    let mut events = Vec::new();
    while let Some(event) = read.next().await? {
        events.push(event.event.expect("a read event"));
    }
    Ok(events)
}

async fn read_all(client: &Client, options: &ReadAllOptions) -> Vec<RecordedEvent> {
    let mut read = client.read_all(options).await.expect("reading $all");
    let mut events = Vec::new();
    while let Some(event) = read.next().await.expect("reading $all") {
        events.push(event.event.expect("a read event"));
    }
    events
}

fn texts<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Vec<String> {
    events.into_iter().map(|event| event.as_json::<serde_json::Value>().unwrap()["text"].as_str().unwrap().to_owned()).collect()
}

async fn filtered(client: &Client, filter: SubscriptionFilter) -> Vec<RecordedEvent> {
    read_all(client, &ReadAllOptions::default().filter(filter)).await
}

async fn next_event(subscription: &mut Subscription) -> kurrentdb::Result<SubscriptionEvent> {
    tokio::time::timeout(WAIT, subscription.next_subscription_event()).await.expect("the subscription answers in time")
}

/// The subscription's messages up to and including `caught_up`.
async fn until_caught_up(subscription: &mut Subscription) -> Vec<SubscriptionEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(subscription).await.expect("the subscription goes on");
        let done = matches!(event, SubscriptionEvent::CaughtUp(_));
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn appeared(events: &[SubscriptionEvent]) -> Vec<String> {
    texts(events.iter().filter_map(|event| match event {
        SubscriptionEvent::EventAppeared(event) => Some(event.get_original_event()),
        _ => None,
    }))
}

#[tokio::test]
async fn events_are_appended_and_read_back_in_both_directions() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    let first = said("hello").metadata(b"{\"actor\":\"alice\"}".to_vec().into());
    let written = client.append_to_stream("room-1", &expecting(StreamState::NoStream), vec![first, said("there")]).await.unwrap();
    assert_eq!(written.next_expected_version, 1);
    client.append_to_stream("room-1", &expecting(StreamState::StreamRevision(1)), said("again")).await.unwrap();
    assert_eq!(node.event_count(), 3);

    let forwards = read_stream(&client, "room-1", &ReadStreamOptions::default()).await.unwrap();
    assert_eq!(texts(&forwards), ["hello", "there", "again"]);
    assert_eq!(forwards.iter().map(|event| event.revision).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(forwards[1].position, written.position, "an append answers with its last event's position");
    let event = &forwards[0];
    assert_eq!((event.stream_id(), event.event_type.as_str(), event.is_json), ("room-1", "Said", true));
    assert_eq!(&event.custom_metadata[..], b"{\"actor\":\"alice\"}");
    let age = chrono::Utc::now() - event.created;
    assert!(age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::seconds(5), "created {} is about now", event.created);

    let backwards = read_stream(&client, "room-1", &ReadStreamOptions::default().backwards().position(StreamPosition::End)).await.unwrap();
    assert_eq!(texts(&backwards), ["again", "there", "hello"]);
    let some = ReadStreamOptions::default().backwards().position(StreamPosition::Position(1)).max_count(1);
    assert_eq!(texts(&read_stream(&client, "room-1", &some).await.unwrap()), ["there"]);
    let from = ReadStreamOptions::default().position(StreamPosition::Position(1)).max_count(5);
    assert_eq!(texts(&read_stream(&client, "room-1", &from).await.unwrap()), ["there", "again"]);

    let missing = read_stream(&client, "room-2", &ReadStreamOptions::default()).await;
    assert!(matches!(missing, Err(Error::ResourceNotFound)), "{missing:?}");
}

#[tokio::test]
async fn a_wrong_expectation_comes_back_as_the_clients_wrong_expected_version() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::NoStream), vec![said("a"), said("b")]).await.unwrap();

    let error = client.append_to_stream("room-1", &expecting(StreamState::NoStream), said("c")).await.unwrap_err();
    assert!(
        matches!(error, Error::WrongExpectedVersion { current: CurrentRevision::Current(1), expected: StreamState::NoStream }),
        "{error:?}"
    );
    let error = client.append_to_stream("room-1", &expecting(StreamState::StreamRevision(0)), said("c")).await.unwrap_err();
    assert!(
        matches!(error, Error::WrongExpectedVersion { current: CurrentRevision::Current(1), expected: StreamState::StreamRevision(0) }),
        "{error:?}"
    );
    let error = client.append_to_stream("room-2", &expecting(StreamState::StreamExists), said("c")).await.unwrap_err();
    assert!(
        matches!(error, Error::WrongExpectedVersion { current: CurrentRevision::NoStream, expected: StreamState::StreamExists }),
        "{error:?}"
    );
    client.append_to_stream("room-1", &expecting(StreamState::StreamExists), said("c")).await.unwrap();
    assert_eq!(node.event_count(), 3);
}

#[tokio::test]
async fn a_retried_append_is_answered_with_the_first_result_per_stream() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    let events = || vec![said("a").id(Uuid::from_u128(1)), said("b").id(Uuid::from_u128(2))];
    let first = client.append_to_stream("room-1", &expecting(StreamState::NoStream), events()).await.unwrap();
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("c")).await.unwrap();

    for state in [StreamState::NoStream, StreamState::Any] {
        let again = client.append_to_stream("room-1", &expecting(state), events()).await.unwrap();
        assert_eq!((again.next_expected_version, again.position), (first.next_expected_version, first.position), "{state:?}");
    }
    assert_eq!(node.event_count(), 3, "the retries wrote nothing");

    client.append_to_stream("room-2", &expecting(StreamState::NoStream), events()).await.unwrap();
    assert_eq!(node.event_count(), 5, "ids are deduplicated per stream, not across streams");
}

#[tokio::test]
async fn concurrent_appends_are_serialised() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    let writers = (0..8).map(|writer| {
        let client = client.clone();
        tokio::spawn(async move {
            for n in 0..5 {
                client
                    .append_to_stream("room-1", &expecting(StreamState::Any), vec![said(&format!("{writer}.{n}")), said("and")])
                    .await
                    .unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let events = read_stream(&client, "room-1", &ReadStreamOptions::default()).await.unwrap();
    assert_eq!(events.iter().map(|event| event.revision).collect::<Vec<_>>(), (0..80).collect::<Vec<_>>());
    assert!(events.windows(2).all(|pair| pair[0].position.commit < pair[1].position.commit));
}

#[tokio::test]
async fn all_is_read_inclusive_of_its_start_and_in_log_order() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::Any), vec![said("1"), said("2"), said("3")]).await.unwrap();
    client.append_to_stream("room-2", &expecting(StreamState::Any), said("4")).await.unwrap();

    let all = read_all(&client, &ReadAllOptions::default()).await;
    assert!(all.iter().take_while(|event| event.stream_id().starts_with('$')).count() > 0, "a fresh node's system events come first");
    let ours: Vec<_> = all.iter().filter(|event| !event.stream_id().starts_with('$')).collect();
    assert_eq!(texts(ours.iter().copied()), ["1", "2", "3", "4"]);
    assert!(
        all.windows(2)
            .all(|pair| (pair[0].position.commit, pair[0].position.prepare) < (pair[1].position.commit, pair[1].position.prepare))
    );
    assert!(ours.iter().all(|event| event.position.commit == event.position.prepare), "each event of an append has its own position");

    let from_second = read_all(&client, &ReadAllOptions::default().position(StreamPosition::Position(ours[1].position)).max_count(2)).await;
    assert_eq!(texts(&from_second), ["2", "3"], "forwards from a position includes the event there");
    let before_third =
        read_all(&client, &ReadAllOptions::default().backwards().position(StreamPosition::Position(ours[2].position)).max_count(2)).await;
    assert_eq!(texts(&before_third), ["2", "1"], "backwards from a position starts before it");
    let last = read_all(&client, &ReadAllOptions::default().backwards().position(StreamPosition::End).max_count(1)).await;
    assert_eq!(texts(&last), ["4"]);
    // `position(End)` also turns the read backwards, `forwards()` after it does not.
    assert!(read_all(&client, &ReadAllOptions::default().position(StreamPosition::End).forwards()).await.is_empty());
}

#[tokio::test]
async fn all_is_filtered_by_stream_or_event_type() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.unwrap();
    client
        .append_to_stream("user-1", &expecting(StreamState::Any), EventData::json("Joined", &json!({ "text": "2" })).unwrap())
        .await
        .unwrap();
    client.append_to_stream("nick-x", &expecting(StreamState::Any), said("3")).await.unwrap();

    assert_eq!(texts(&filtered(&client, SubscriptionFilter::on_stream_name().add_prefix("room-").add_prefix("nick-")).await), ["1", "3"]);
    assert_eq!(texts(&filtered(&client, SubscriptionFilter::on_stream_name().regex("^user-")).await), ["2"]);
    assert_eq!(texts(&filtered(&client, SubscriptionFilter::on_event_type().add_prefix("Joi")).await), ["2"]);
    assert_eq!(texts(&filtered(&client, SubscriptionFilter::on_event_type().regex("ai")).await), ["1", "3"], "a regex matches anywhere");
    assert_eq!(texts(&filtered(&client, SubscriptionFilter::on_event_type().exclude_system_events()).await), ["1", "2", "3"]);
}

#[tokio::test]
async fn an_all_subscription_starts_after_its_position_catches_up_and_follows() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::Any), vec![said("1"), said("2"), said("3")]).await.unwrap();
    let ours = read_all(&client, &ReadAllOptions::default().filter(SubscriptionFilter::on_stream_name().add_prefix("room-"))).await;

    let options = SubscribeToAllOptions::default().position(StreamPosition::Position(ours[0].position));
    let mut subscription = client.subscribe_to_all(&options).await;
    let catch_up = until_caught_up(&mut subscription).await;
    assert!(matches!(catch_up[0], SubscriptionEvent::Confirmed(_)), "{:?}", catch_up[0]);
    assert_eq!(appeared(&catch_up), ["2", "3"], "a subscription starts after its position");

    client.append_to_stream("room-1", &expecting(StreamState::Any), said("4")).await.unwrap();
    let live = next_event(&mut subscription).await.unwrap();
    assert_eq!(appeared(&[live]), ["4"]);
}

#[tokio::test]
async fn a_stream_subscription_starts_after_its_revision() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::Any), vec![said("0"), said("1"), said("2")]).await.unwrap();
    client.append_to_stream("room-2", &expecting(StreamState::Any), said("elsewhere")).await.unwrap();

    let mut subscription =
        client.subscribe_to_stream("room-1", &SubscribeToStreamOptions::default().start_from(StreamPosition::Position(0))).await;
    let catch_up = until_caught_up(&mut subscription).await;
    assert_eq!(appeared(&catch_up), ["1", "2"]);
    let Some(SubscriptionEvent::CaughtUp(Some(caught_up))) = catch_up.last() else { panic!("{catch_up:?}") };
    assert_eq!(caught_up.stream_revision, Some(2));

    client.append_to_stream("room-2", &expecting(StreamState::Any), said("elsewhere")).await.unwrap();
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("3")).await.unwrap();
    assert_eq!(appeared(&[next_event(&mut subscription).await.unwrap()]), ["3"]);
}

#[tokio::test]
async fn a_sparse_filtered_subscription_sends_checkpoints() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    for n in 0..9 {
        client.append_to_stream(format!("user-{n}"), &expecting(StreamState::Any), said("noise")).await.unwrap();
    }
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("wanted")).await.unwrap();
    let last = read_all(&client, &ReadAllOptions::default().backwards().position(StreamPosition::End).max_count(1)).await;

    let filter = SubscriptionFilter::on_stream_name().add_prefix("room-").max(4);
    let mut subscription = client.subscribe_to_all(&SubscribeToAllOptions::default().filter(filter)).await;
    let catch_up = until_caught_up(&mut subscription).await;
    assert_eq!(appeared(&catch_up), ["wanted"]);
    let checkpoints: Vec<Position> =
        catch_up.iter().filter_map(|event| if let SubscriptionEvent::Checkpoint(at) = event { Some(*at) } else { None }).collect();
    // The system events and nine noise events before the wanted one: at least two windows of
    // four examined, then one on catching up, at the log's end.
    assert!(checkpoints.len() >= 3, "{catch_up:?}");
    assert!(checkpoints.windows(2).all(|pair| pair[0].commit < pair[1].commit));
    assert_eq!(checkpoints.last(), Some(&last[0].position));
}

#[tokio::test]
async fn dropped_connections_fail_open_subscriptions_and_new_calls_work() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.unwrap();
    let mut subscription = client.subscribe_to_all(&SubscribeToAllOptions::default()).await;
    until_caught_up(&mut subscription).await;

    node.drop_connections();
    let error = next_event(&mut subscription).await.expect_err("a cut subscription fails");
    assert!(matches!(error, Error::ServerError(_)), "{error:?}");

    client.append_to_stream("room-1", &expecting(StreamState::Any), said("2")).await.expect("the same client works again");
    let rooms = SubscriptionFilter::on_stream_name().add_prefix("room-");
    let mut again = client.subscribe_to_all(&SubscribeToAllOptions::default().filter(rooms)).await;
    assert_eq!(appeared(&until_caught_up(&mut again).await), ["1", "2"]);
}

#[tokio::test]
async fn a_stalled_node_lets_calls_run_into_their_deadline() {
    let node = KurrentStandIn::start().await;
    let client = client(&node);
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.unwrap();

    node.stall(true);
    let started = std::time::Instant::now();
    let options = expecting(StreamState::Any).deadline(Duration::from_millis(300));
    let error = client.append_to_stream("room-1", &options, said("2")).await.unwrap_err();
    assert!(matches!(error, Error::DeadlineExceeded), "{error:?}");
    assert!(started.elapsed() >= Duration::from_millis(300) && started.elapsed() < WAIT);
    let read = read_stream(&client, "room-1", &ReadStreamOptions::default().deadline(Duration::from_millis(100))).await;
    assert!(matches!(read, Err(Error::DeadlineExceeded)), "{read:?}");

    let stalled = {
        let client = client.clone();
        tokio::spawn(async move { client.append_to_stream("room-1", &expecting(StreamState::Any), said("3")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!stalled.is_finished(), "an append waits while the node is stalled");
    node.stall(false);
    stalled.await.unwrap().expect("the append goes through once the node answers again");
    assert_eq!(node.event_count(), 2);
}

#[tokio::test]
async fn a_client_whose_first_connection_fails_stays_closed() {
    let node = KurrentStandIn::start().await;
    node.stall(true);
    let client = client_for(&format!("{}&gossipTimeout=100&maxDiscoverAttempts=2", node.url()));
    let error = client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.unwrap_err();
    assert!(matches!(error, Error::GrpcConnectionError(_)), "{error:?}");

    node.stall(false);
    let error = client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.unwrap_err();
    assert!(matches!(error, Error::ConnectionClosed), "the client gave up for good: {error:?}");
    client_for(&node.url()).append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.expect("a new client works");
}

#[tokio::test]
async fn a_follower_sends_writers_to_its_leader() {
    let leader = KurrentStandIn::start().await;
    let follower = leader.start_follower().await;
    let client = client(&follower);

    let error = client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.unwrap_err();
    let Error::NotLeaderException(Endpoint { host, port }) = &error else { panic!("{error:?}") };
    assert_eq!((host.as_str(), *port), ("127.0.0.1", u32::from(leader.addr().port())));

    client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.expect("the retry goes to the leader");
    assert_eq!((leader.event_count(), follower.event_count()), (1, 0));
    assert_eq!(texts(&read_stream(&client, "room-1", &ReadStreamOptions::default()).await.unwrap()), ["1"]);
}

#[tokio::test]
async fn discovery_through_a_follower_finds_the_leader() {
    let leader = KurrentStandIn::start().await;
    let follower = leader.start_follower().await;
    let client = client_for(&follower.discover_url());
    client.append_to_stream("room-1", &expecting(StreamState::Any), said("1")).await.expect("discovery picks the leader");
    assert_eq!((leader.event_count(), follower.event_count()), (1, 0));
}
