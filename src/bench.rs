//! `switchboard bench …`: measures the event store against raw PostgreSQL on the same server
//! and table shape. Each run ends with one JSON line of results. Numbers and how to read them:
//! BENCHMARKS.md.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;
use domain::events::{MessageKind, MessagePosted};
use domain::{Actor, Event, EventCodec, Gateway, Metadata, StreamName};
use hdrhistogram::Histogram;
use serde_json::json;
use store::{EventStore, ExpectedVersion, Filter, NewEvent, PgEventStore, Position};
use tokio_postgres::NoTls;
use uuid::Uuid;

use switchboard::database::Database;
use switchboard::settings::Settings;

#[derive(Subcommand, Clone, Debug)]
pub enum BenchCommand {
    /// Concurrent appends through the store (group commit, expected-version checks).
    Append {
        /// Events to append in total.
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Concurrent writers, each appending to its own stream.
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Events per append.
        #[arg(long, default_value_t = 1)]
        batch: usize,
    },
    /// Reads the global log from the start, decoding every event into its domain type.
    ReadAll {
        /// Events to read (the log is filled up to this many first).
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Events per page.
        #[arg(long, default_value_t = 1_000)]
        page: usize,
    },
    /// Baseline: raw INSERTs into a table shaped like es_events (same columns and indexes).
    RawInsert {
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Rows per INSERT (one INSERT per transaction).
        #[arg(long, default_value_t = 1)]
        rows: usize,
    },
    /// Full rebuild of every projection over a generated realistic history (filled when the
    /// log is empty; otherwise the existing log is used).
    Rebuild {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Events read and applied per transaction.
        #[arg(long, default_value_t = 5_000)]
        page: usize,
    },
    /// Projection lag (append committed → applied by every projection) at a steady append rate.
    Lag {
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// The GraphQL API over HTTP on a loaded log: audit page by actor and time, members and
    /// bans as of a past time, a message history page (latency with one client, requests/s
    /// with several).
    Graphql {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Requests of each kind (per phase).
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Concurrent clients in the loaded phase.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// The SMS path over HTTP on an empty database: one text fanned out to a room of
    /// `members` (Twilio replaced by a local server accepting at once), then webhook latency
    /// at a steady rate.
    Fanout {
        #[arg(long, default_value_t = 1_000)]
        members: usize,
        /// Inbound texts per second in the latency phase.
        #[arg(long, default_value_t = 200)]
        rate: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The IRC path on an empty database: a private ngircd, the bot, `clients` scripted users in
    /// one channel; throughput, PRIVMSG-to-last-seen latency at a steady rate, `.seen` round trips.
    Irc {
        #[arg(long, default_value_t = 20)]
        clients: usize,
        /// Messages in the throughput phase (split between the clients).
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Lines per second the clients offer together in the throughput phase (0: unpaced).
        #[arg(long, default_value_t = 5_000)]
        offered: usize,
        /// Messages per second in the latency phase.
        #[arg(long, default_value_t = 200)]
        rate: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Read-model queries: reply-numbers of a big SMS room, as-of lookups at random past times.
    Queries {
        /// Members of the SMS room.
        #[arg(long, default_value_t = 10_000)]
        members: usize,
        /// Queries of each kind.
        #[arg(long, default_value_t = 1_000)]
        lookups: usize,
    },
    /// A moderation-style command (a topic change) on a room with a long history: with a fresh
    /// executor each time (the whole stream read, as before aggregates were kept), with one
    /// executor that keeps the room between commands, and the same with an idempotency key per
    /// command (as the SMS gateway runs them).
    Command {
        /// Messages in the room's history.
        #[arg(long, default_value_t = 100_000)]
        history: usize,
        /// Commands timed in each mode.
        #[arg(long, default_value_t = 100)]
        commands: usize,
    },
    /// Baseline: raw keyset reads of es_events rows (no watermark, no decoding).
    RawRead {
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        #[arg(long, default_value_t = 1_000)]
        page: usize,
    },
}

pub async fn run(command: BenchCommand, settings: &Settings, database: &Database) -> anyhow::Result<()> {
    PgEventStore::migrate(&database.config).await?;
    let result = match command {
        BenchCommand::Append { events, writers, batch } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            append(&store, events, writers.max(1), batch.max(1)).await?
        }
        BenchCommand::ReadAll { events, page } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            read_all(&store, events, page).await?
        }
        BenchCommand::RawInsert { events, clients, rows } => raw_insert(&database.config, events, clients.max(1), rows.max(1)).await?,
        BenchCommand::RawRead { events, page } => raw_read(&database.config, events, page).await?,
        BenchCommand::Command { history, commands } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            room_command(store, history, commands.max(1)).await?
        }
        BenchCommand::Rebuild { events, seed, page } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            crate::bench_projections::rebuild(&store, &database.config, events, seed, page.max(1)).await?
        }
        BenchCommand::Lag { rate, seconds } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            crate::bench_projections::lag(&store, &database.config, rate.max(1), seconds.max(1)).await?
        }
        BenchCommand::Graphql { events, seed, requests, clients } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            crate::bench_graphql::graphql(&store, &database.config, events, seed, requests.max(1), clients.max(1)).await?
        }
        BenchCommand::Fanout { members, rate, seconds } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            crate::bench_sms::fanout(&store, &database.config, members.max(2), rate.max(1), seconds.max(1)).await?
        }
        BenchCommand::Irc { clients, messages, offered, rate, seconds } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            crate::bench_irc::irc(&store, &database.config, clients.max(2), messages.max(1), offered, rate.max(1), seconds.max(1)).await?
        }
        BenchCommand::Queries { members, lookups } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            crate::bench_projections::queries(&store, &database.config, members.max(2), lookups.max(1)).await?
        }
    };
    println!("{result}");
    Ok(())
}

/// A realistic event: a chat line of typical length.
pub(crate) fn message_event(room: Uuid, n: usize) -> Event {
    Event::MessagePosted(MessagePosted {
        room_id: room,
        message_id: Uuid::now_v7(),
        author_id: Some(room),
        author_nick: "benchmarker".parse().expect("valid nick"),
        body: format!("message {n}: the quick brown fox jumps over the lazy dog, again and again").parse().expect("valid body"),
        kind: MessageKind::Say,
        gateway: Gateway::Irc,
    })
}

pub(crate) fn metadata() -> Metadata {
    Metadata::new(Actor::System, Gateway::System)
}

pub(crate) fn rate(events: usize, elapsed: Duration) -> f64 {
    (events as f64 / elapsed.as_secs_f64()).round()
}

pub(crate) fn latency_ms(h: &Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 1_000.0 * 100.0).round() / 100.0
}

async fn append(store: &PgEventStore, events: usize, writers: usize, batch: usize) -> anyhow::Result<serde_json::Value> {
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
        "bench": "append", "events": total, "writers": writers, "batch": batch,
        "committers": store.options().committers,
        "seconds": elapsed.as_secs_f64(), "events_per_s": rate(total, elapsed),
        "appends_per_s": rate(total / batch, elapsed),
        "append_p50_ms": latency_ms(&histogram, 0.5), "append_p99_ms": latency_ms(&histogram, 0.99),
    }))
}

async fn room_command(store: PgEventStore, history: usize, commands: usize) -> anyhow::Result<serde_json::Value> {
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
async fn fill(store: &PgEventStore, events: usize) -> anyhow::Result<()> {
    let client = store.pool().get().await?;
    let have: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    let missing = events.saturating_sub(have as usize);
    if missing > 0 {
        eprintln!("filling the log with {missing} events…");
        append(store, missing, 2, 1_000).await?;
    }
    Ok(())
}

async fn read_all(store: &PgEventStore, events: usize, page: usize) -> anyhow::Result<serde_json::Value> {
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
        "bench": "read-all", "events": read, "page": page,
        "seconds": serial.as_secs_f64(), "events_per_s": rate(read, serial),
        "read_ahead_seconds": ahead.as_secs_f64(), "read_ahead_events_per_s": rate(decoded, ahead),
    }))
}

async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(NoTls).await.context("connecting")?;
    tokio::spawn(connection);
    Ok(client)
}

async fn raw_insert(config: &tokio_postgres::Config, events: usize, clients: usize, rows: usize) -> anyhow::Result<serde_json::Value> {
    let admin = connect(config).await?;
    // Same columns, defaults, generated columns and indexes as es_events (foreign key aside).
    admin.batch_execute("DROP TABLE IF EXISTS bench_raw_events; CREATE TABLE bench_raw_events (LIKE es_events INCLUDING ALL);").await?;
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
    admin.batch_execute("DROP TABLE bench_raw_events").await?;
    Ok(json!({
        "bench": "raw-insert", "events": total, "clients": clients, "rows_per_insert": rows,
        "seconds": elapsed.as_secs_f64(), "events_per_s": rate(total, elapsed),
        "insert_p50_ms": latency_ms(&histogram, 0.5), "insert_p99_ms": latency_ms(&histogram, 0.99),
        "at": Utc::now().to_rfc3339(),
    }))
}

async fn raw_read(config: &tokio_postgres::Config, events: usize, page: usize) -> anyhow::Result<serde_json::Value> {
    let client = connect(config).await?;
    let have: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    anyhow::ensure!(have as usize >= events, "the log holds {have} events; run `bench read-all --events {events}` first to fill it");
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
