//! The projections fold a log held in KurrentDB as they fold one held in PostgreSQL: the same
//! generated history appended to both backends gives read models with the same rows. The
//! KurrentDB side is the test kit's stand-in (an in-process server on KurrentDB's protocol, not
//! KurrentDB). Times and log positions differ by backend (each stamps its own), so the rows are
//! compared without their time and position columns.

use std::collections::BTreeMap;
use std::time::Duration;

use projections::{RunnerOptions, Runners};
use store::{EventStore, ExpectedVersion, KurrentEventStore, KurrentOptions, Position};
use testkit::TestDatabase;
use testkit::history::{HistoryConfig, HistoryGenerator};
use testkit::kurrentdb::KurrentStandIn;

const WAIT: Duration = Duration::from_secs(60);

/// Every read-model table: row count and a digest of its rows without the columns whose values
/// each backend makes its own (times, ranges of time, positions).
async fn rows_without_times(db: &TestDatabase) -> BTreeMap<String, (i64, String)> {
    let client = db.client().await;
    let tables: Vec<String> =
        client.query("SELECT unnest(tables) FROM es_projections ORDER BY 1", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let mut out = BTreeMap::new();
    for table in tables {
        let dropped: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'read' AND table_name = $1 \
                 AND (data_type IN ('timestamp with time zone', 'tstzrange', 'date', 'xid8') \
                      OR column_name ~ '(position|tx_id|log_era)')",
                &[&table],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let without = dropped.iter().map(|c| format!(" - '{c}'")).collect::<String>();
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), md5(coalesce(string_agg((to_jsonb(t){without})::text, E'\\n' ORDER BY (to_jsonb(t){without})::text), '')) \
                     FROM read.{table} t"
                ),
                &[],
            )
            .await
            .unwrap();
        out.insert(table, (row.get(0), row.get(1)));
    }
    out
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

    let (from_pg, from_kurrent) = (rows_without_times(&pg_db).await, rows_without_times(&kurrent_db).await);
    assert!(from_pg.values().filter(|(count, _)| *count > 0).count() >= 8, "the history fills the read models: {from_pg:?}");
    assert_eq!(from_kurrent, from_pg);
}
