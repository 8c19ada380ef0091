//! `switchboard-bench append|read-all|raw-insert|raw-read|command`: measures the event store
//! against raw PostgreSQL on the same server and table shape, and a command on a long stream.
//! Each run ends with one JSON line of results. Numbers and how to read them: BENCHMARKS.md.

use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use domain::{Event, EventCodec, StreamName};
use hdrhistogram::Histogram;
use serde_json::json;
use store::{AnyEventStore, EventStore, ExpectedVersion, Filter, NewEvent, PgEventStore, Position};
use switchboard::database::Database;
use switchboard::settings::Settings;
use testkit::history::HistoryConfig;
use testkit::kurrentdb::KurrentStandIn;
use uuid::Uuid;

use crate::measure::{latency_ms, message_event, metadata, rate};

/// The store `append` and `read-all` measure: the configured backend, or the log in a KurrentDB
/// stand-in started here (kept running while the returned handle lives).
pub(crate) async fn open(
    settings: &Settings,
    database: &Database,
    stand_in: bool,
) -> anyhow::Result<(AnyEventStore, Option<KurrentStandIn>)> {
    if !stand_in {
        return Ok((switchboard::database::connect_store(settings, &database.config).await?, None));
    }
    let (server, url) = KurrentStandIn::for_test().await;
    let mut settings = settings.clone();
    settings.store.backend = store::Backend::KurrentDb;
    settings.store.kurrentdb.url = Some(switchboard::settings::Secret::new(url));
    // A fresh log: the event index of an earlier run names events this stand-in does not hold.
    let client = connect(&database.config).await?;
    client.batch_execute("TRUNCATE kurrent_event_index, kurrent_index_progress").await?;
    Ok((switchboard::database::connect_store(&settings, &database.config).await?, Some(server)))
}

/// What the results call the log measured: the stand-in is not KurrentDB, and is never
/// reported as it.
pub(crate) fn backend_label(store: &AnyEventStore, stand_in: &Option<KurrentStandIn>) -> &'static str {
    match (store.backend(), stand_in) {
        (store::Backend::KurrentDb, Some(_)) => "kurrentdb-stand-in",
        (backend, _) => backend.name(),
    }
}

pub(crate) async fn append(
    store: &AnyEventStore,
    backend: &str,
    events: usize,
    writers: usize,
    batch: usize,
) -> anyhow::Result<serde_json::Value> {
    let appends_per_writer = events.div_ceil(writers * batch);
    let run = Uuid::now_v7();
    // The domain events exist before the clock starts (the raw baseline, too, inserts a payload
    // built beforehand): what is timed is the store's work, from validating and serialising
    // each event to the commit.
    let prepared: Vec<Vec<Vec<NewEvent>>> = (0..writers)
        .map(|_| {
            let room = Uuid::now_v7();
            (0..appends_per_writer)
                .map(|a| (0..batch).map(|i| NewEvent::from_domain(&message_event(room, a * batch + i), metadata())).collect())
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, appends) in prepared.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = StreamName::parse(&format!("room-bench{run}w{w}")).expect("valid stream");
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let mut version = None;
            for batch_events in appends {
                let t = Instant::now();
                // Each append checks its expected version, as a command would.
                let result = store.append(&stream, ExpectedVersion::from_seen(version), batch_events).await?;
                histogram.record(t.elapsed().as_micros() as u64).ok();
                version = result.stream_version;
            }
            Ok::<_, store::StoreError>(histogram)
        }));
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    for task in tasks {
        histogram.add(task.await??)?;
    }
    let elapsed = started.elapsed();
    let total = appends_per_writer * writers * batch;
    Ok(json!({
        "bench": "append", "backend": backend, "events": total, "writers": writers, "batch": batch,
        "committers": match store { AnyEventStore::Postgres(pg) => Some(pg.options().committers), _ => None },
        "seconds": elapsed.as_secs_f64(), "events_per_s": rate(total, elapsed),
        "appends_per_s": rate(total / batch, elapsed),
        "append_p50_ms": latency_ms(&histogram, 0.5), "append_p99_ms": latency_ms(&histogram, 0.99),
    }))
}

pub(crate) async fn room_command(store: PgEventStore, history: usize, commands: usize) -> anyhow::Result<serde_json::Value> {
    use domain::values::{Level, RoomName, Topic};
    use domain::{Room, RoomCommand};
    use store::CommandExecutor;
    let store = std::sync::Arc::new(store);
    let room_id = Uuid::now_v7();
    let stream = StreamName::room(room_id);
    let setup = CommandExecutor::new(store.clone());
    let create = RoomCommand::Create { room_id, name: RoomName::parse("bench")?, invite_only: false, caller_level: Level::Superuser };
    setup.execute::<Room>(&stream, &create, metadata()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("writing a history of {history} messages…");
    for chunk in (0..history).collect::<Vec<_>>().chunks(1_000) {
        let events = chunk.iter().map(|n| NewEvent::from_domain(&message_event(room_id, *n), metadata())).collect();
        store.append(&stream, ExpectedVersion::Any, events).await?;
    }
    let topic =
        |n: usize| RoomCommand::SetTopic { topic: Topic::parse(&format!("topic {n}")).expect("a topic"), caller_level: Level::Superuser };
    let timed = |mut h: Histogram<u64>, t: Instant| {
        h.record(t.elapsed().as_micros() as u64).ok();
        h
    };
    let mut fresh = Histogram::<u64>::new(3)?;
    for n in 0..commands {
        let t = Instant::now();
        CommandExecutor::new(store.clone()).execute::<Room>(&stream, &topic(n), metadata()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        fresh = timed(fresh, t);
    }
    let kept_executor = CommandExecutor::new(store.clone());
    kept_executor.execute::<Room>(&stream, &topic(0), metadata()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut kept = Histogram::<u64>::new(3)?;
    for n in 0..commands {
        // Someone else talks in between, as in a live room: the kept room has to catch up.
        store.append(&stream, ExpectedVersion::Any, vec![NewEvent::from_domain(&message_event(room_id, n), metadata())]).await?;
        let t = Instant::now();
        kept_executor.execute::<Room>(&stream, &topic(n), metadata()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        kept = timed(kept, t);
    }
    // The same with an idempotency key per command (the SMS gateway's commands): the kept room,
    // and a lookup of the key's event ids instead of a read of the whole stream.
    let mut keyed = Histogram::<u64>::new(3)?;
    for n in 0..commands {
        store.append(&stream, ExpectedVersion::Any, vec![NewEvent::from_domain(&message_event(room_id, n), metadata())]).await?;
        let t = Instant::now();
        kept_executor
            .execute_idempotent::<Room>(&stream, &topic(commands + n), metadata(), Uuid::now_v7())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        keyed = timed(keyed, t);
    }
    Ok(json!({
        "bench": "command", "history": history, "commands": commands,
        "whole_stream_ms_p50": latency_ms(&fresh, 0.5), "whole_stream_ms_p99": latency_ms(&fresh, 0.99),
        "kept_ms_p50": latency_ms(&kept, 0.5), "kept_ms_p99": latency_ms(&kept, 0.99),
        "kept_idempotent_ms_p50": latency_ms(&keyed, 0.5), "kept_idempotent_ms_p99": latency_ms(&keyed, 0.99),
    }))
}

/// Fills the log up to `events` events (so read benchmarks have something to read).
async fn fill(store: &AnyEventStore, events: usize) -> anyhow::Result<()> {
    let client = store.pool().get().await?;
    let have = store::catalogue::event_count(&client, store.backend()).await?;
    let missing = events.saturating_sub(have as usize);
    if missing > 0 {
        eprintln!("filling the log with {missing} events…");
        append(store, "fill", missing, 2, 1_000).await?;
    }
    Ok(())
}

pub(crate) async fn read_all(store: &AnyEventStore, backend: &str, events: usize, page: usize) -> anyhow::Result<serde_json::Value> {
    fill(store, events).await?;
    // One page after the other: read, then decode.
    let started = Instant::now();
    let mut after = Position::START;
    let mut read = 0;
    let mut bytes = 0usize;
    while read < events {
        let batch = store.read_all(after, &Filter::all(), page.min(events - read)).await?;
        if batch.events.is_empty() {
            break;
        }
        after = batch.next;
        for recorded in batch.events {
            let envelope = recorded.decode::<Event>()?;
            bytes += std::mem::size_of_val(&envelope.event);
            read += 1;
        }
    }
    let serial = started.elapsed();
    anyhow::ensure!(bytes > 0 && read == events, "read {read} of {events} events");

    // As rebuilds and subscriptions consume the log: the next page is read while this one is
    // decoded (a reader task one page ahead).
    let started = Instant::now();
    let (pages, mut feed) = tokio::sync::mpsc::channel(1);
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut after, mut read) = (Position::START, 0);
            while read < events {
                let batch = store.read_all(after, &Filter::all(), page.min(events - read)).await?;
                if batch.events.is_empty() {
                    break;
                }
                after = batch.next;
                read += batch.events.len();
                if pages.send(batch.events).await.is_err() {
                    break;
                }
            }
            Ok::<_, store::StoreError>(())
        })
    };
    let mut decoded = 0;
    while let Some(batch) = feed.recv().await {
        for recorded in batch {
            let envelope = recorded.decode::<Event>()?;
            bytes += std::mem::size_of_val(&envelope.event);
            decoded += 1;
        }
    }
    reader.await??;
    let ahead = started.elapsed();
    anyhow::ensure!(bytes > 0 && decoded == events, "read {decoded} of {events} events with read-ahead");
    Ok(json!({
        "bench": "read-all", "backend": backend, "events": read, "page": page,
        "seconds": serial.as_secs_f64(), "events_per_s": rate(read, serial),
        "read_ahead_seconds": ahead.as_secs_f64(), "read_ahead_events_per_s": rate(decoded, ahead),
    }))
}

async fn connect(config: &store::PgConfig) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config.connect().await.context("connecting")?;
    tokio::spawn(connection);
    Ok(client)
}

pub(crate) async fn raw_insert(config: &store::PgConfig, events: usize, clients: usize, rows: usize) -> anyhow::Result<serde_json::Value> {
    raw_insert_into(config, events, clients, rows, false).await
}

/// Raw INSERTs into `bench_raw_events`; with `copy_log`, that table also holds a copy of every
/// row of es_events, so that on a long log the baseline's indexes are as large as the store's.
/// The copy is made once and kept for the next run (`DROP TABLE bench_raw_events` removes it);
/// each run deletes the rows earlier runs inserted.
pub(crate) async fn raw_insert_into(
    config: &store::PgConfig,
    events: usize,
    clients: usize,
    rows: usize,
    copy_log: bool,
) -> anyhow::Result<serde_json::Value> {
    let admin = connect(config).await?;
    // Same columns, defaults, generated columns and indexes as es_events (foreign key aside).
    let mut copied = 0;
    if copy_log {
        admin.batch_execute("CREATE TABLE IF NOT EXISTS bench_raw_events (LIKE es_events INCLUDING ALL)").await?;
        let removed = admin.execute("DELETE FROM bench_raw_events WHERE stream_id LIKE 'room-raw%'", &[]).await?;
        copied = admin.query_one("SELECT count(*) FROM bench_raw_events", &[]).await?.get::<_, i64>(0) as u64;
        if copied == 0 {
            let started = Instant::now();
            copied = admin
                .execute(
                    "INSERT INTO bench_raw_events (log_era, tx_id, global_position, stream_id, category, stream_version, event_id, \
                       event_type, schema_version, payload, metadata, recorded_at) OVERRIDING SYSTEM VALUE \
                     SELECT log_era, tx_id, global_position, stream_id, category, stream_version, event_id, \
                       event_type, schema_version, payload, metadata, recorded_at FROM es_events",
                    &[],
                )
                .await?;
            let next: i64 = admin.query_one("SELECT coalesce(max(global_position), 0) + 1 FROM bench_raw_events", &[]).await?.get(0);
            admin.batch_execute(&format!("ALTER TABLE bench_raw_events ALTER COLUMN global_position RESTART WITH {next}")).await?;
            eprintln!("copied the log's {copied} rows into the baseline table in {:.1?}", started.elapsed());
        }
        if removed > 0 || copied > 0 {
            admin.batch_execute("VACUUM ANALYZE bench_raw_events").await?;
            admin.batch_execute("CHECKPOINT").await?;
        }
    } else {
        admin.batch_execute("DROP TABLE IF EXISTS bench_raw_events; CREATE TABLE bench_raw_events (LIKE es_events INCLUDING ALL);").await?;
    }
    let per_client = events.div_ceil(clients * rows);
    let payload = message_event(Uuid::now_v7(), 0).encode();
    let meta = serde_json::to_value(metadata())?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = connect(config).await?;
        let (payload, meta) = (payload.clone(), meta.clone());
        // Every row of a multi-row INSERT carries its own documents, as real rows do (one shared
        // parameter would let PostgreSQL parse one JSON document for the whole batch).
        let payloads: Vec<serde_json::Value> = (0..rows).map(|n| message_event(Uuid::now_v7(), n).encode()).collect();
        let metas: Vec<serde_json::Value> = (0..rows).map(|_| meta.clone()).collect();
        tasks.push(tokio::spawn(async move {
            let stream = format!("room-raw{c}");
            let single = client
                .prepare(
                    "INSERT INTO bench_raw_events (log_era, stream_id, category, stream_version, event_id, event_type, schema_version, payload, metadata) \
                     VALUES (1, $1, 'room', $2, $3, 'room.message_posted', 1, $4, $5)",
                )
                .await?;
            let multi = client
                .prepare(
                    "INSERT INTO bench_raw_events (log_era, stream_id, category, stream_version, event_id, event_type, schema_version, payload, metadata) \
                     SELECT 1, $1, 'room', v, id, 'room.message_posted', 1, p, m FROM unnest($2::bigint[], $3::uuid[], $4::jsonb[], $5::jsonb[]) AS t(v, id, p, m)",
                )
                .await?;
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let mut version = 0i64;
            for _ in 0..per_client {
                let t = Instant::now();
                if rows == 1 {
                    client.execute(&single, &[&stream, &version, &Uuid::now_v7(), &payload, &meta]).await?;
                    version += 1;
                } else {
                    let versions: Vec<i64> = (version..version + rows as i64).collect();
                    let ids: Vec<Uuid> = (0..rows).map(|_| Uuid::now_v7()).collect();
                    client.execute(&multi, &[&stream, &versions, &ids, &payloads, &metas]).await?;
                    version += rows as i64;
                }
                histogram.record(t.elapsed().as_micros() as u64).ok();
            }
            Ok::<_, tokio_postgres::Error>(histogram)
        }));
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    for task in tasks {
        histogram.add(task.await??)?;
    }
    let elapsed = started.elapsed();
    let total = per_client * clients * rows;
    if !copy_log {
        admin.batch_execute("DROP TABLE bench_raw_events").await?;
    }
    Ok(json!({
        "bench": "raw-insert", "events": total, "clients": clients, "rows_per_insert": rows, "rows_already_in_table": copied,
        "seconds": elapsed.as_secs_f64(), "events_per_s": rate(total, elapsed),
        "insert_p50_ms": latency_ms(&histogram, 0.5), "insert_p99_ms": latency_ms(&histogram, 0.99),
        "at": Utc::now().to_rfc3339(),
    }))
}

pub(crate) async fn raw_read(config: &store::PgConfig, events: usize, page: usize) -> anyhow::Result<serde_json::Value> {
    let client = connect(config).await?;
    let have: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    anyhow::ensure!(
        have as usize >= events,
        "the log holds {have} events; run `switchboard-bench read-all --events {events}` first to fill it"
    );
    // Columns qualified with `e.` (a habit from `tx_id::text`, which keeps the output name
    // `tx_id`: an unqualified ORDER BY would then sort by that text instead of the index).
    // The transaction id is taken in its binary form, as the store does.
    let statement = client.prepare(
            "SELECT e.log_era, e.tx_id, e.global_position, e.stream_id, e.stream_version, e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at \
             FROM es_events e WHERE (e.log_era, e.tx_id, e.global_position) > ($1, $2::text::xid8, $3) \
             ORDER BY e.log_era, e.tx_id, e.global_position LIMIT $4",
    ).await?;
    let started = Instant::now();
    let (mut era, mut tx, mut pos) = (0i16, "0".to_owned(), 0i64);
    let mut read = 0;
    let mut bytes = 0usize;
    while read < events {
        let rows = client.query(&statement, &[&era, &tx, &pos, &((page.min(events - read)) as i64)]).await?;
        let Some(last) = rows.last() else { break };
        era = last.get(0);
        tx = last.get::<_, RawXid8>(1).0.to_string();
        pos = last.get(2);
        for row in &rows {
            // Take every column out as a Rust value; the payload as it arrives (jsonb bytes).
            let stream: &str = row.get(3);
            let payload: RawBytes = row.get(8);
            let metadata: RawBytes = row.get(9);
            let _: (i64, Uuid, &str, i16, chrono::DateTime<Utc>) = (row.get(4), row.get(5), row.get(6), row.get(7), row.get(10));
            bytes += stream.len() + payload.0 + metadata.0;
            read += 1;
        }
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(bytes > 0 && read == events, "read {read} of {events} events");
    Ok(json!({ "bench": "raw-read", "events": read, "page": page, "seconds": elapsed.as_secs_f64(), "events_per_s": rate(read, elapsed) }))
}

/// An xid8 column in its binary form (eight bytes, big-endian).
struct RawXid8(u64);

impl<'a> tokio_postgres::types::FromSql<'a> for RawXid8 {
    fn from_sql(_: &tokio_postgres::types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawXid8(u64::from_be_bytes(raw.try_into()?)))
    }
    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::XID8
    }
}

/// A jsonb column taken as its wire bytes (length only): the cheapest possible read.
struct RawBytes(usize);

impl<'a> tokio_postgres::types::FromSql<'a> for RawBytes {
    fn from_sql(_: &tokio_postgres::types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(raw.len()))
    }
    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::JSONB
    }
}

/// `log copy` PostgreSQL → KurrentDB stand-in over a generated history, and the digest of each
/// log; the raw keyset read of the same rows is the baseline (what reading the source alone
/// costs at least).
pub(crate) async fn log_copy(
    settings: &Settings,
    database: &Database,
    events: usize,
    seed: u64,
    page: usize,
) -> anyhow::Result<serde_json::Value> {
    let pg = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
    let total = crate::read_models::fill_history(&pg, &HistoryConfig::realistic(events, seed)).await? as usize;
    let source: AnyEventStore = pg.clone().into();
    let (target, stand_in) = open(settings, database, true).await?;
    let raw = raw_read(&database.config, total, page).await?;

    let started = Instant::now();
    let copied = store::copy::copy_log(&source, &target, page, |_| {}).await?;
    let copy = started.elapsed();
    anyhow::ensure!(copied.copied as usize == total, "copied {} of {total} events", copied.copied);
    let started = Instant::now();
    let from = store::copy::digest_log(&source, page, |_| {}).await?;
    let digest_pg = started.elapsed();
    let started = Instant::now();
    let to = store::copy::digest_log(&target, page, |_| {}).await?;
    let digest_kurrent = started.elapsed();
    anyhow::ensure!(from == to, "the digests differ: {from:?} {to:?}");

    // And back into a fresh PostgreSQL log, whose read models must equal the original's.
    let back_config = fresh_database(&database.config, "copied_back").await?;
    let back = PgEventStore::connect(back_config.clone(), settings.store_options()).await?;
    let back_any: AnyEventStore = back.clone().into();
    let started = Instant::now();
    let copied_back = store::copy::copy_log(&target, &back_any, page, |_| {}).await?;
    let copy_back = started.elapsed();
    anyhow::ensure!(copied_back.copied as usize == total, "copied back {} of {total} events", copied_back.copied);
    let returned = store::copy::digest_log(&back_any, page, |_| {}).await?;
    anyhow::ensure!(returned == from, "the digest after the round trip differs: {returned:?} {from:?}");
    let all = projections::projection::all();
    let options = projections::BuildOptions { page: 5_000 };
    projections::rebuild(&pg, &database.config, &all, &options, |_| {}).await?;
    let started = Instant::now();
    projections::rebuild(&back, &back_config, &all, &options, |_| {}).await?;
    let rebuild_back = started.elapsed();
    let original = testkit::read_models::table_digests(&connect(&database.config).await?, testkit::read_models::POSITION_COLUMNS).await?;
    let after = testkit::read_models::table_digests(&connect(&back_config).await?, testkit::read_models::POSITION_COLUMNS).await?;
    anyhow::ensure!(original == after, "the read models differ after the round trip:\n{original:?}\n{after:?}");
    back.close();

    let raw_rate = raw["events_per_s"].as_f64().unwrap_or(0.0);
    let ratio = |r: f64| if raw_rate > 0.0 { r / raw_rate } else { 0.0 };
    let (copy_rate, pg_rate, kurrent_rate) = (rate(total, copy), rate(total, digest_pg), rate(total, digest_kurrent));
    let back_rate = rate(total, copy_back);
    Ok(json!({
        "bench": "log-copy", "target": backend_label(&target, &stand_in), "events": total, "page": page,
        "copy_seconds": copy.as_secs_f64(), "copy_events_per_s": copy_rate, "copy_vs_raw_read": ratio(copy_rate),
        "copy_back_seconds": copy_back.as_secs_f64(), "copy_back_events_per_s": back_rate,
        "digest_postgres_events_per_s": pg_rate, "digest_postgres_vs_raw_read": ratio(pg_rate),
        "digest_target_events_per_s": kurrent_rate, "digest_target_vs_raw_read": ratio(kurrent_rate),
        "raw_read_events_per_s": raw_rate, "digest": from.sha256,
        "read_models_equal_after_round_trip": true,
        "read_model_tables": original.len(), "read_model_rows": original.values().map(|(rows, _)| rows).sum::<i64>(),
        "rebuild_after_round_trip_seconds": rebuild_back.as_secs_f64(),
    }))
}

/// A new, migrated database beside the one `config` names (dropped first if a run left it).
async fn fresh_database(config: &store::PgConfig, suffix: &str) -> anyhow::Result<store::PgConfig> {
    let name = format!("{}_{suffix}", config.get_dbname().unwrap_or("postgres"));
    let admin = connect(config).await?;
    // Separate statements: neither may run inside the implicit transaction of a multi-statement query.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
    admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
    let mut fresh = config.clone();
    fresh.dbname(&name);
    PgEventStore::migrate(&fresh).await?;
    Ok(fresh)
}
