//! The projections fold a log held in KurrentDB as they fold one held in PostgreSQL: the same
//! generated history appended to both backends gives read models with the same rows. The
//! KurrentDB side is the test kit's stand-in (an in-process server on KurrentDB's protocol, not
//! KurrentDB). Times and log positions differ by backend (each stamps its own), so the rows are
//! compared without their time and position columns.

use std::collections::BTreeMap;
use std::time::Duration;

use projections::{RunnerOptions, Runners};
use store::{AnyEventStore, EventStore, ExpectedVersion, KurrentEventStore, KurrentOptions, Position};
use testkit::TestDatabase;
use testkit::history::{HistoryConfig, HistoryGenerator};
use testkit::kurrentdb::KurrentStandIn;
use testkit::read_models::{POSITION_AND_TIME_COLUMNS, POSITION_COLUMNS};

const WAIT: Duration = Duration::from_secs(60);

/// Every read-model table: row count and a digest of its rows without the columns `dropped`
/// selects.
async fn rows_without(db: &TestDatabase, dropped: &str) -> BTreeMap<String, (i64, String)> {
    testkit::read_models::table_digests(&db.client().await, dropped).await.unwrap()
}

async fn fold<S: EventStore + Clone>(store: S, db: &TestDatabase, head: Position) {
    let options = RunnerOptions { poll_interval: Duration::from_millis(100), ..Default::default() };
    let runners = Runners::start(store, db.config.clone(), projections::projection::all(), options);
    let deadline = tokio::time::Instant::now() + WAIT;
    while !runners.statuses().iter().all(|(_, status)| status.observed >= head) {
        assert!(tokio::time::Instant::now() < deadline, "projections did not catch up: {:?}", runners.statuses());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_in_kurrentdb_folds_to_the_read_models_it_folds_to_in_postgresql() {
    let (pg_db, kurrent_db) = (TestDatabase::create().await, TestDatabase::create().await);
    let pg = pg_db.store().await;
    let stand_in = KurrentStandIn::start().await;
    let options = KurrentOptions::new(format!("{}&discoveryInterval=10", stand_in.url()));
    let kurrent = KurrentEventStore::connect(options, kurrent_db.store().await.pool().clone()).unwrap();

    let (mut pg_head, mut kurrent_head) = (Position::START, Position::START);
    // One append at a time, so both logs hold the history in the same order.
    for append in HistoryGenerator::new(HistoryConfig::realistic(400, 17)) {
        pg_head = pg.append(&append.stream, ExpectedVersion::Any, append.events.clone()).await.unwrap().position;
        kurrent_head = kurrent.append(&append.stream, ExpectedVersion::Any, append.events).await.unwrap().position;
    }
    fold(pg, &pg_db, pg_head).await;
    fold(kurrent, &kurrent_db, kurrent_head).await;

    let (from_pg, from_kurrent) =
        (rows_without(&pg_db, POSITION_AND_TIME_COLUMNS).await, rows_without(&kurrent_db, POSITION_AND_TIME_COLUMNS).await);
    assert!(from_pg.values().filter(|(count, _)| *count > 0).count() >= 8, "the history fills the read models: {from_pg:?}");
    assert_eq!(from_kurrent, from_pg);
}

/// A log copied from PostgreSQL to KurrentDB (interrupted once, then resumed) and from there to
/// a second PostgreSQL: all three digests are equal, and the projections fold all three to the
/// same read models, times included (the copy keeps each event's recorded time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_copied_to_kurrentdb_and_back_keeps_its_events_and_folds_to_the_same_read_models() {
    let (pg_db, kurrent_db, back_db) = (TestDatabase::create().await, TestDatabase::create().await, TestDatabase::create().await);
    let pg = pg_db.store().await;
    for append in HistoryGenerator::new(HistoryConfig::realistic(1_500, 5)) {
        pg.append(&append.stream, ExpectedVersion::Any, append.events).await.unwrap();
    }
    let (stand_in, url) = KurrentStandIn::for_test().await;
    let kurrent: AnyEventStore =
        KurrentEventStore::connect(KurrentOptions::new(url), kurrent_db.store().await.pool().clone()).unwrap().into();
    let (pg, back): (AnyEventStore, AnyEventStore) = (pg.into(), back_db.store().await.into());
    let source = store::copy::digest_log(&pg, 500, |_| {}).await.unwrap();
    assert!(source.events >= 1_500, "{source:?}");

    // Interrupted once a third is across, wherever the copy then is (maybe inside an append).
    let third = source.events / 3;
    let reached = tokio::sync::Notify::new();
    let interrupted = tokio::select! {
        copied = store::copy::copy_log(&pg, &kurrent, 100, |n| if n >= third { reached.notify_one() }) => panic!("not interrupted: {copied:?}"),
        _ = reached.notified() => true,
    };
    assert!(interrupted);
    let resumed = store::copy::copy_log(&pg, &kurrent, 100, |_| {}).await.unwrap();
    assert!(resumed.already_there >= third, "{resumed:?}");
    assert_eq!(resumed.already_there + resumed.copied, source.events, "nothing copied twice, nothing left out");
    assert_eq!(stand_in.event_count() as u64, source.events, "KurrentDB holds each event once");
    assert_eq!(store::copy::digest_log(&kurrent, 500, |_| {}).await.unwrap(), source);

    let copied_back = store::copy::copy_log(&kurrent, &back, 1_000, |_| {}).await.unwrap();
    assert_eq!(copied_back, store::copy::Copied { already_there: 0, copied: source.events });
    assert_eq!(store::copy::digest_log(&back, 500, |_| {}).await.unwrap(), source);
    let again = store::copy::copy_log(&kurrent, &back, 1_000, |_| {}).await.unwrap();
    assert_eq!(again.copied, 0, "a finished copy run again copies nothing");
    // A target holding an event the source does not have holds another log.
    let other_db = TestDatabase::create().await;
    let other = other_db.store().await;
    let stray = HistoryGenerator::new(HistoryConfig::realistic(1, 99)).next().unwrap();
    other.append(&stray.stream, ExpectedVersion::Any, stray.events).await.unwrap();
    let refused = store::copy::copy_log(&back, &other.into(), 1_000, |_| {}).await;
    assert!(matches!(refused, Err(store::copy::CopyError::TargetHoldsAnotherLog(_))), "{refused:?}");

    let heads = (pg.head().await.unwrap(), kurrent.head().await.unwrap(), back.head().await.unwrap());
    kurrent.wait_until_catalogued(heads.1, WAIT).await.unwrap();
    fold(pg, &pg_db, heads.0).await;
    fold(kurrent, &kurrent_db, heads.1).await;
    fold(back, &back_db, heads.2).await;
    let (from_pg, from_kurrent, from_back) = (
        rows_without(&pg_db, POSITION_COLUMNS).await,
        rows_without(&kurrent_db, POSITION_COLUMNS).await,
        rows_without(&back_db, POSITION_COLUMNS).await,
    );
    assert!(from_pg.values().filter(|(count, _)| *count > 0).count() >= 8, "the history fills the read models: {from_pg:?}");
    assert_eq!(from_kurrent, from_pg);
    assert_eq!(from_back, from_pg);
}
