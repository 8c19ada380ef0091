//! `switchboard-bench rebuild|lag|queries`: measures the projections on a generated, realistic
//! history (see `testkit::history`). Each run ends with one JSON line of results;
//! BENCHMARKS.md has the numbers and how to read them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::events::{MemberJoined, MemberRef, RoomCreated, SmsNumberBound, UserRegistered};
use domain::{Actor, DisplayNick, Event, Gateway, Metadata, Nick, PhoneNumber, RoomName, StreamName};
use futures::StreamExt;
use hdrhistogram::Histogram;
use projections::{AsOf, BuildOptions, ReadModels, RunnerOptions, Runners};
use rand::Rng;
use serde_json::json;
use store::{EventStore, ExpectedVersion, NewEvent, PgEventStore};
use testkit::history::{HistoryConfig, HistoryGenerator};
use uuid::Uuid;

use crate::measure::{latency_ms, message_event, metadata, rate};

/// Appends a generated history of `events` events when the log is empty; returns the log size.
/// Appends are submitted in order without waiting for each (the group committer keeps queue
/// order), so the history keeps the causal order the generator produced.
pub async fn fill_history(store: &PgEventStore, history: &HistoryConfig) -> anyhow::Result<i64> {
    let client = store.pool().get().await?;
    let existing: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    if existing > 0 {
        eprintln!("using the {existing} events already in the log");
        return Ok(existing);
    }
    let started = Instant::now();
    let generator = HistoryGenerator::new(*history);
    let mut appended = futures::stream::iter(generator)
        .map(|append| {
            let store = store.clone();
            async move { store.append(&append.stream, ExpectedVersion::Any, append.events).await }
        })
        .buffered(512);
    let mut n = 0usize;
    while let Some(result) = appended.next().await {
        result.context("appending the generated history")?;
        n += 1;
        if n.is_multiple_of(50_000) {
            eprintln!("filled {n} appends in {:.0?}", started.elapsed());
        }
    }
    let total: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    eprintln!(
        "filled {total} events ({} users, {} rooms) in {:.1?} ({:.0} events/s)",
        history.users,
        history.rooms,
        started.elapsed(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    Ok(total)
}

/// Full rebuild of every projection over the log, with the process's peak resident memory
/// during the rebuild and what the log and the read models occupy on disk afterwards.
pub async fn rebuild(
    store: &PgEventStore,
    db: &store::PgConfig,
    history: &HistoryConfig,
    page: usize,
) -> anyhow::Result<serde_json::Value> {
    let log = fill_history(store, history).await?;
    let all = projections::projection::all();
    let rss_before = reset_peak_rss();
    let started = Instant::now();
    let mut processed = 0;
    projections::rebuild(store, db, &all, &BuildOptions { page }, |p| processed = p.processed).await?;
    let elapsed = started.elapsed();
    let peak_rss = peak_rss_bytes();
    let client = store.pool().get().await?;
    let sizes = client
        .query_one(
            "SELECT pg_database_size(current_database()), \
                    pg_total_relation_size('es_events') + pg_total_relation_size('es_streams'), \
                    (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'proj\\_%' AND c.relkind IN ('r', 'm'))",
            &[],
        )
        .await?;
    let (database, log_bytes, read_models): (i64, i64, i64) = (sizes.get(0), sizes.get(1), sizes.get(2));
    let mib = |bytes: i64| (bytes as f64 / (1 << 20) as f64).round();
    let per_million = |bytes: i64| (bytes as f64 / (1 << 20) as f64 / (log as f64 / 1e6)).round();
    Ok(json!({
        "bench": "rebuild", "log_events": log, "events_applied": processed, "projections": all.len(), "page": page,
        "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
        "events_per_sec": rate(processed as usize, elapsed),
        "rss_mib_at_start": rss_before.map(|b| mib(b as i64)), "peak_rss_mib": peak_rss.map(|b| mib(b as i64)),
        "database_mib": mib(database), "log_mib": mib(log_bytes), "read_models_mib": mib(read_models),
        "database_mib_per_million_events": per_million(database), "log_mib_per_million_events": per_million(log_bytes),
        "read_models_mib_per_million_events": per_million(read_models),
    }))
}

/// Resets the kernel's record of this process's peak resident set to its current size (Linux
/// `clear_refs` 5) and returns that size, so a later [`peak_rss_bytes`] covers what ran since.
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    proc_status_bytes("VmRSS:")
}

/// The peak resident set since the process started or since [`reset_peak_rss`] (`VmHWM`).
fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Projection lag while appending at a steady rate: from an append returning (committed) to
/// every projection having applied it.
pub async fn lag(store: &PgEventStore, db: &store::PgConfig, per_second: usize, seconds: u64) -> anyhow::Result<serde_json::Value> {
    let runners = Arc::new(Runners::start(store.clone(), db.clone(), projections::projection::all(), RunnerOptions::default()));
    // Let the runners install and catch up with whatever is in the log first.
    runners.wait_for(store.head().await?, &[], Duration::from_secs(600)).await?;
    let rooms: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    let histogram = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3)?));
    let tick = Duration::from_millis(10);
    let per_tick = (per_second / 100).max(1);
    let total = per_tick * 100 * seconds as usize;
    let started = Instant::now();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut waits = tokio::task::JoinSet::new();
    let mut sent = 0;
    while sent < total {
        interval.tick().await;
        for _ in 0..per_tick {
            let (store, runners, histogram) = (store.clone(), runners.clone(), histogram.clone());
            let room = rooms[sent % rooms.len()];
            let n = sent;
            waits.spawn(async move {
                let event = NewEvent::from_domain(&message_event(room, n), metadata());
                let appended = store.append(&StreamName::room(room), ExpectedVersion::Any, vec![event]).await?;
                let committed = Instant::now();
                runners.wait_for(appended.position, &[], Duration::from_secs(30)).await?;
                histogram.lock().expect("histogram").record(committed.elapsed().as_micros() as u64)?;
                anyhow::Ok(())
            });
            sent += 1;
        }
    }
    while let Some(done) = waits.join_next().await {
        done??;
    }
    let elapsed = started.elapsed();
    runners.stop().await;
    let h = histogram.lock().expect("histogram");
    Ok(json!({
        "bench": "lag", "target_per_sec": per_second, "achieved_per_sec": rate(total, elapsed), "events": total,
        "lag_ms_p50": latency_ms(&h, 0.5), "lag_ms_p99": latency_ms(&h, 0.99), "lag_ms_max": latency_ms(&h, 1.0),
    }))
}

/// Read-model queries: reply-numbers for a room of `members` SMS members, and as-of lookups of
/// a room's members and bans at random past times over the whole log.
pub async fn queries(store: &PgEventStore, db: &store::PgConfig, members: usize, lookups: usize) -> anyhow::Result<serde_json::Value> {
    let runners = Runners::start(store.clone(), db.clone(), projections::projection::all(), RunnerOptions::default());
    let (room, last) = big_sms_room(store, members).await?;
    // The last append's own position, not `head()`: the gap-free head may still be behind it.
    runners.wait_for(last, &[], Duration::from_secs(600)).await?;
    runners.stop().await;
    let read = ReadModels::new(store.pool().clone(), store::Backend::Postgres);

    let client = store.pool().get().await?;
    let senders: Vec<Uuid> = client
        .query("SELECT user_id FROM read.sms_recipients WHERE room_id = $1 LIMIT 200", &[&room])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    anyhow::ensure!(!senders.is_empty(), "the SMS room's members were not projected");
    let mut reply = Histogram::<u64>::new(3)?;
    let mut recipients = 0;
    for i in 0..lookups {
        let started = Instant::now();
        recipients = read.reply_numbers(room, senders[i % senders.len()]).await?.len();
        reply.record(started.elapsed().as_micros() as u64)?;
    }
    // The form the SMS gateway uses for every message: ids and numbers, no nicks.
    let mut fan_out = Histogram::<u64>::new(3)?;
    for i in 0..lookups {
        let started = Instant::now();
        let found = read.fan_out(room, &domain::MemberKey::User(senders[i % senders.len()])).await?.len();
        fan_out.record(started.elapsed().as_micros() as u64)?;
        anyhow::ensure!(found == recipients, "the fan-out list and reply-numbers disagree");
    }

    let rooms: Vec<Uuid> = client.query("SELECT room_id FROM read.rooms", &[]).await?.iter().map(|r| r.get(0)).collect();
    let span = client.query_one("SELECT min(recorded_at), max(recorded_at), count(*) FROM es_events", &[]).await?;
    let (first, last, log): (DateTime<Utc>, DateTime<Utc>, i64) = (span.get(0), span.get(1), span.get(2));
    let mut as_of = Histogram::<u64>::new(3)?;
    let mut found = 0usize;
    let mut rng = rand::rng();
    for _ in 0..lookups {
        let room = rooms[rng.random_range(0..rooms.len())];
        let offset = rng.random_range(0..=(last - first).num_microseconds().unwrap_or(0).max(0));
        let at = first + chrono::TimeDelta::microseconds(offset);
        let started = Instant::now();
        let members = read.members(room, AsOf::Time(at)).await?;
        let bans = read.bans(room, AsOf::Time(at)).await?;
        as_of.record(started.elapsed().as_micros() as u64)?;
        found += members.len() + bans.len();
    }
    Ok(json!({
        "bench": "queries", "log_events": log, "lookups": lookups,
        "reply_numbers": { "room_members": members, "recipients": recipients, "ms_p50": latency_ms(&reply, 0.5), "ms_p99": latency_ms(&reply, 0.99) },
        "fan_out": { "recipients": recipients, "ms_p50": latency_ms(&fan_out, 0.5), "ms_p99": latency_ms(&fan_out, 0.99) },
        "as_of_members_and_bans": { "rooms": rooms.len(), "rows_found": found, "ms_p50": latency_ms(&as_of, 0.5), "ms_p99": latency_ms(&as_of, 0.99) },
    }))
}

/// A room bound to an SMS number with `members` members who joined by SMS; returns it and the
/// furthest position appended.
async fn big_sms_room(store: &PgEventStore, members: usize) -> anyhow::Result<(Uuid, store::Position)> {
    let room = Uuid::now_v7();
    let system = Metadata::new(Actor::System, Gateway::System);
    let setup = [
        Event::RoomCreated(RoomCreated {
            room_id: room,
            name: RoomName::parse("Big SMS room")?,
            invite_only: false,
            created_by: Actor::System,
        }),
        Event::SmsNumberBound(SmsNumberBound { room_id: room, number: PhoneNumber::parse("+15005550006")?, by: Actor::System }),
    ];
    let setup: Vec<NewEvent> = setup.iter().map(|e| NewEvent::from_domain(e, system.clone())).collect();
    let mut last = store.append(&StreamName::room(room), ExpectedVersion::NoStream, setup).await?.position;
    let tag = &room.simple().to_string()[24..];
    let joins = futures::stream::iter(0..members)
        .map(|i| {
            let store = store.clone();
            async move {
                let user = Uuid::now_v7();
                let nick = Nick::parse(&format!("m{tag}{i}"))?;
                let phone = PhoneNumber::parse(&format!("+1415{:07}", i))?;
                let meta = Metadata::new(Actor::User(user), Gateway::Sms);
                let registered = Event::UserRegistered(UserRegistered { user_id: user, nick: nick.clone(), gateway: Gateway::Sms });
                store
                    .append(&StreamName::user(user), ExpectedVersion::NoStream, vec![NewEvent::from_domain(&registered, meta.clone())])
                    .await?;
                let joined = Event::MemberJoined(MemberJoined {
                    room_id: room,
                    member: MemberRef { user_id: Some(user), nick: DisplayNick::from(nick) },
                    mask: None,
                    phone: Some(phone),
                    gateway: Gateway::Sms,
                    invite_id: None,
                    is_bot: false,
                });
                let appended =
                    store.append(&StreamName::room(room), ExpectedVersion::Any, vec![NewEvent::from_domain(&joined, meta)]).await?;
                anyhow::Ok(appended.position)
            }
        })
        .buffer_unordered(64);
    futures::pin_mut!(joins);
    while let Some(done) = joins.next().await {
        last = last.max(done?);
    }
    Ok((room, last))
}
