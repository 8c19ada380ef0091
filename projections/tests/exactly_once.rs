//! Exactly-once for read models: a batch delivered twice, a runner killed mid-batch, concurrent
//! writers while projecting, a failing handler that must stop (naming the event) rather than skip.

mod support;

use std::sync::Arc;
use std::time::Duration;

use domain::events::*;
use domain::{Actor, Event, Gateway, StreamName};
use projections::worker::{BatchOutcome, Role, Worker};
use projections::writes::Writes;
use projections::{BuildOptions, Projection, RunnerState, db, params};
use store::{Envelope, EventStore, Filter, Position};
use support::*;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// A room with `members` members who each say `messages` things.
async fn conversation(h: &Harness, members: usize, messages: usize) -> Uuid {
    let room = Uuid::new_v4();
    h.append(StreamName::room(room), vec![created(room, "Lab")], Actor::System).await;
    let users: Vec<(Uuid, String)> =
        (0..members).map(|i| (Uuid::new_v4(), format!("user{i}x{}", &room.simple().to_string()[..6]))).collect();
    for (id, n) in &users {
        h.append(StreamName::user(*id), vec![registered(*id, n, Gateway::Irc)], Actor::System).await;
        h.append(StreamName::room(room), vec![joined(room, *id, n, None)], Actor::User(*id)).await;
    }
    for i in 0..messages {
        let (id, n) = &users[i % members];
        h.append(StreamName::room(room), vec![said(room, *id, n, &format!("message {i}"))], Actor::User(*id)).await;
    }
    room
}

async fn install_all(h: &Harness) {
    projections::rebuild(&h.store, &h.db.config, &projections::projection::all(), &BuildOptions::default(), |_| {}).await.unwrap();
}

async fn live_worker(h: &Harness, projection: Arc<dyn Projection>) -> Worker {
    let client = db::connect(&h.db.config).await.unwrap();
    let (generation, _) = db::live_generation(&client, projection.name()).await.unwrap().unwrap();
    Worker::attach(projection, client, generation, Role::Live).await.unwrap()
}

async fn events_for(h: &Harness, projection: &dyn Projection) -> (Vec<store::RecordedEvent>, Position) {
    let batch = h.store.read_all(Position::START, &Filter::event_types(projection.event_types().iter().copied()), 10_000).await.unwrap();
    (batch.events, batch.next)
}

#[tokio::test]
async fn a_batch_delivered_twice_changes_nothing() {
    let h = Harness::new().await;
    install_all(&h).await;
    conversation(&h, 3, 20).await;
    let rooms: Arc<dyn Projection> = Arc::new(projections::models::rooms::Rooms);
    let last_seen: Arc<dyn Projection> = Arc::new(projections::models::last_seen::LastSeen);
    for projection in [rooms, last_seen] {
        let (events, upto) = events_for(&h, projection.as_ref()).await;
        // Two workers at the same checkpoint, as after a crash or with two runners racing.
        let mut first = live_worker(&h, projection.clone()).await;
        let mut second = live_worker(&h, projection.clone()).await;
        assert_eq!(first.apply_recorded(events.clone(), upto).await.unwrap(), BatchOutcome::Applied);
        let once = h.snapshot().await;
        assert_eq!(second.apply_recorded(events.clone(), upto).await.unwrap(), BatchOutcome::Stale);
        assert_eq!(h.snapshot().await, once, "{} changed on a repeated batch", projection.name());
        // The first worker, now past the batch, is handed it again: it drops what it applied.
        first.apply_recorded(events, upto).await.unwrap();
        assert_eq!(h.snapshot().await, once, "{} re-applied a batch behind its checkpoint", projection.name());
        // A fresh worker picks up from the stored checkpoint.
        let resumed = live_worker(&h, projection.clone()).await;
        assert_eq!(resumed.position(), upto);
    }
}

#[tokio::test]
async fn a_runner_killed_mid_batch_leaves_no_partial_write_and_resumes_exactly() {
    let h = Harness::new().await;
    install_all(&h).await;
    conversation(&h, 4, 200).await;
    let before = h.snapshot().await;
    let projection: Arc<dyn Projection> = Arc::new(projections::models::rooms::Rooms);
    let (events, upto) = events_for(&h, projection.as_ref()).await;
    let mut worker = live_worker(&h, projection.clone()).await;
    let pid: i32 = worker.client().query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);

    // Hold a lock the batch needs half-way (the members table), so the kill lands mid-batch:
    // rooms rows are already written in the open transaction when it blocks on members.
    let blocker = h.client().await;
    let (generation, _) = db::live_generation(&blocker, "rooms").await.unwrap().unwrap();
    blocker
        .batch_execute(&format!("BEGIN; LOCK TABLE {}.members IN ACCESS EXCLUSIVE MODE", db::schema_name("rooms", generation)))
        .await
        .unwrap();
    let apply = tokio::spawn(async move { worker.apply_recorded(events, upto).await });
    let killer = h.client().await;
    // Wait until the batch blocks on the lock, then kill its backend. Should the backend end
    // before that (the outcome below then says why), the property under test is the same.
    loop {
        let waiting = killer
            .query_opt("SELECT wait_event_type IS NOT DISTINCT FROM 'Lock' FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap()
            .map(|row| row.get::<_, bool>(0));
        match waiting {
            Some(true) => {
                killer.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
                break;
            }
            Some(false) => tokio::time::sleep(Duration::from_millis(10)).await,
            None => break,
        }
    }
    let outcome = apply.await.unwrap();
    assert!(outcome.as_ref().is_err_and(|e| e.is_transient()), "expected a lost connection, got {outcome:?}");
    blocker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(h.snapshot().await, before, "a killed batch left writes behind");

    // Restart: the runners catch up and the result equals a rebuild from zero.
    let runners = h.start(projections::projection::all());
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    runners.stop().await;
    let live = h.snapshot().await;
    install_all(&h).await;
    assert_eq!(h.snapshot().await, live);
}

#[tokio::test]
async fn concurrent_writers_while_projecting_lose_nothing_and_a_rebuild_agrees() {
    let h = Arc::new(Harness::new().await);
    let runners = h.start(projections::projection::all());
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { conversation(&h, 3, 60).await })
        })
        .collect();
    let mut rooms = Vec::new();
    for w in writers {
        rooms.push(w.await.unwrap());
    }
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let client = h.client().await;
    let messages: i64 = client.query_one("SELECT count(*) FROM read.messages", &[]).await.unwrap().get(0);
    let members: i64 = client.query_one("SELECT count(*) FROM read.members", &[]).await.unwrap().get(0);
    let seen: i64 = client.query_one("SELECT count(*) FROM read.last_seen", &[]).await.unwrap().get(0);
    assert_eq!((messages, members, seen), (8 * 60, 8 * 3, 8 * 3));
    for room in rooms {
        let n: i64 = client.query_one("SELECT count(*) FROM read.messages WHERE room_id = $1", &[&room]).await.unwrap().get(0);
        assert_eq!(n, 60);
    }

    // Rebuild while the live runners keep serving; readers never see an error or an empty table.
    let live = h.snapshot().await;
    let reader = {
        let h = h.clone();
        tokio::spawn(async move {
            let client = h.client().await;
            let mut reads = 0;
            for _ in 0..200 {
                let n: i64 = client.query_one("SELECT count(*) FROM read.messages", &[]).await.expect("read during rebuild").get(0);
                assert_eq!(n, 8 * 60, "a reader saw a partial table during the rebuild");
                reads += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            reads
        })
    };
    let switched =
        projections::rebuild(&h.store, &h.db.config, &projections::projection::all(), &BuildOptions { page: 100 }, |_| {}).await.unwrap();
    assert!(switched.iter().all(|(_, generation)| *generation == 2), "{switched:?}");
    assert_eq!(reader.await.unwrap(), 200);
    assert_eq!(h.snapshot().await, live);

    // The live runners follow the switch-over onto generation 2.
    let room = Uuid::new_v4();
    h.append(StreamName::room(room), vec![created(room, "After")], Actor::System).await;
    runners.wait_for(h.head().await, &[], WAIT).await.unwrap();
    let n: i64 = client.query_one("SELECT count(*) FROM read.rooms WHERE room_id = $1", &[&room]).await.unwrap().get(0);
    assert_eq!(n, 1);
    runners.stop().await;
}

/// A projection that cannot store quote 2 (a CHECK constraint refuses it).
struct Refuses;

impl Projection for Refuses {
    fn name(&self) -> &'static str {
        "refuses"
    }
    fn version(&self) -> i32 {
        1
    }
    fn event_types(&self) -> &'static [&'static str] {
        &["quote.added"]
    }
    fn schema(&self) -> &'static str {
        "CREATE TABLE refused_quotes (quote_id bigint PRIMARY KEY CHECK (quote_id <> 2));"
    }
    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        for e in events {
            if let Event::QuoteAdded(q) = &e.event {
                out.push("INSERT INTO refused_quotes VALUES ($1)", params![q.quote_id as i64]);
            }
        }
    }
}

#[tokio::test]
async fn a_handler_failure_stops_that_projection_naming_the_event_and_the_others_go_on() {
    let h = Harness::new().await;
    let mut positions = Vec::new();
    for id in 1..=3u64 {
        let added = Event::QuoteAdded(QuoteAdded {
            quote_id: id,
            nick: domain::DisplayNick::from(nick("alice")),
            text: domain::QuoteText::parse(&format!("quote number {id}")).unwrap(),
            added_by: Actor::System,
            added_at: chrono::Utc::now(),
        });
        positions.push(h.append(StreamName::quotes(), vec![added], Actor::System).await.position);
    }
    let runners = h.start(vec![Arc::new(Refuses), Arc::new(projections::models::quotes::Quotes)]);
    runners.wait_for(positions[2], &["quotes"], WAIT).await.unwrap();
    let failed = tokio::time::timeout(WAIT, async {
        loop {
            if let Some((_, status)) =
                runners.statuses().into_iter().find(|(n, s)| *n == "refuses" && matches!(s.state, RunnerState::Failed(_)))
            {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the refusing projection never failed");
    let RunnerState::Failed(reason) = failed.state else { unreachable!() };
    assert!(reason.contains(&positions[1].to_string()) && reason.contains("quote.added"), "{reason}");

    // Quote 1 was applied, quote 2 stopped it, nothing after it was skipped over.
    let client = h.client().await;
    let applied: Vec<i64> = client.query("SELECT quote_id FROM read.refused_quotes", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(applied, vec![1]);
    let row = client.query_one("SELECT state, error_position, error FROM es_projections WHERE name = 'refuses'", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert_eq!(row.get::<_, Option<String>>(1), Some(positions[1].to_string()));
    let quotes: i64 = client.query_one("SELECT count(*) FROM read.quotes", &[]).await.unwrap().get(0);
    assert_eq!(quotes, 3);
    assert!(runners.wait_for(positions[2], &["refuses"], Duration::from_secs(1)).await.is_err());
    runners.stop().await;
}

/// Another process (the API, the SMS gateway) waits for a position by reading the live
/// generation's checkpoint. After rebuilds the generation number and the projection's version
/// differ; the wait must follow the generation (it once read the version's checkpoint and
/// timed out after every rebuild).
#[tokio::test]
async fn waiting_for_a_position_follows_the_live_generation_after_rebuilds() {
    let h = Harness::new().await;
    conversation(&h, 3, 2).await;
    let client = db::connect(&h.db.config).await.unwrap();
    // Every rebuild takes the next generation number, so enough of them pass the version,
    // whatever the projection's version is.
    let mut rebuilds = 0;
    let (generation, version) = loop {
        install_all(&h).await;
        rebuilds += 1;
        assert!(rebuilds < 20, "twenty rebuilds and the generation never passed the version");
        let (generation, version) = db::live_generation(&client, "reply_numbers").await.unwrap().unwrap();
        if generation > version {
            break (generation, version);
        }
    };
    assert_ne!(generation, version);
    let head = h.head().await;
    let started = std::time::Instant::now();
    projections::status::wait_for_checkpoints(
        h.store.pool(),
        store::Backend::Postgres,
        head,
        &["reply_numbers", "rooms"],
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "waited {:?}", started.elapsed());
}
