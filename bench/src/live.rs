//! `switchboard-bench live`: the web app's live log (`/live/stream`, server-sent events) under
//! load, beside the raw PostgreSQL insert baseline of the same run.
//!
//! The application runs as `serve` wires it (API, pages and every projection, on a loopback
//! port); one client follows the unfiltered stream over real HTTP with a superuser's session
//! cookie, as the browser's `EventSource` does. Three phases:
//! 1. **Baseline**: raw INSERTs (`raw-insert`, `writers` clients, one row each) of `flood`
//!    events into a table shaped like `es_events`.
//! 2. **Paced**: appends at `rate` events/s for `seconds` (10 rooms, one event per append, as
//!    chat lines arrive); latency from issuing an append to receiving its SSE event.
//! 3. **Flood**: `writers` writers append `flood` events as fast as the store takes them; the
//!    rate at which the stream delivers them, against the baseline's insert rate.
//!
//! Every event must arrive exactly once and in log order, or the run fails.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use domain::StreamName;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use store::{EventStore, ExpectedVersion, NewEvent, PgEventStore, Position};
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;
use uuid::Uuid;

use crate::measure::{latency_ms, message_event, metadata, rate};

/// Follows `/live/stream` and notes when each benchmark message (by its number) arrives.
struct Receiver {
    /// When message `n` arrived, by `n`.
    arrived: Vec<Option<Instant>>,
    received: usize,
    /// Positions must only grow.
    last: Option<Position>,
}

/// The number in a benchmark message's summary (`<benchmarker> message 12: …`).
fn message_number(data: &str) -> Option<usize> {
    let marker = "\"summary\":\"<benchmarker> message ";
    let start = data.find(marker)? + marker.len();
    let digits = data[start..].find(|c: char| !c.is_ascii_digit())?;
    data[start..start + digits].parse().ok()
}

impl Receiver {
    /// One SSE block: checks its position and notes its arrival.
    fn take(&mut self, block: &str, at: Instant) -> anyhow::Result<()> {
        let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name));
        let (Some(id), Some(data)) = (field("id: "), field("data: ")) else { return Ok(()) };
        let position: Position = id.parse().context("an SSE id that is not a position")?;
        anyhow::ensure!(self.last.is_none_or(|last| position > last), "position {position} came after {:?}", self.last);
        self.last = Some(position);
        let n = message_number(data).with_context(|| format!("an event that is not the benchmark's: {data}"))?;
        let slot = self.arrived.get_mut(n).with_context(|| format!("message {n} was never appended"))?;
        anyhow::ensure!(slot.is_none(), "message {n} arrived twice");
        *slot = Some(at);
        self.received += 1;
        Ok(())
    }
}

/// Reads the stream until `expected` messages have arrived (or nothing comes for 30 s).
async fn follow(mut response: reqwest::Response, receiver: Arc<Mutex<Receiver>>, expected: usize) -> anyhow::Result<()> {
    let mut buffer = String::new();
    loop {
        if receiver.lock().expect("receiver").received >= expected {
            return Ok(());
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .context("the stream stalled for 30 s")??
            .context("the stream ended")?;
        let at = Instant::now();
        buffer.push_str(std::str::from_utf8(&chunk)?);
        let mut receiver = receiver.lock().expect("receiver");
        while let Some(end) = buffer.find("\n\n") {
            receiver.take(&buffer[..end], at)?;
            buffer.drain(..end + 2);
        }
    }
}

pub struct LiveLoad {
    pub rate: usize,
    pub seconds: u64,
    pub flood: usize,
    pub writers: usize,
}

pub async fn live(settings: &Settings, store: &PgEventStore, db: &store::PgConfig, load: LiveLoad) -> anyhow::Result<Value> {
    let baseline = crate::event_store::raw_insert(db, load.flood, load.writers, 1).await?;
    eprintln!("raw insert baseline: {baseline}");

    let mut settings = settings.clone();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.api.first_user_superuser = false;
    let application = Application::build_parts(&settings, db.clone(), Parts::API_ONLY).await?;
    let (app, address) = (application.api().clone(), application.address());
    application.runners().wait_for(store.head().await?, &[], Duration::from_secs(1800)).await.context("projections catching up")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let token = crate::graphql::admin_token(&http, &format!("http://{address}/graphql"), &app).await?;

    let paced_total = (load.rate / 100).max(1) * 100 * load.seconds as usize;
    let total = paced_total + load.flood;
    let issued: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let receiver = Arc::new(Mutex::new(Receiver { arrived: vec![None; total], received: 0, last: None }));
    let start = store.head().await?;
    let response = http
        .get(format!("http://{address}/live/stream?after={start}"))
        .header("cookie", format!("sb_session={token}"))
        .send()
        .await?
        .error_for_status()
        .context("opening /live/stream")?;
    let reading = tokio::spawn(follow(response, receiver.clone(), total));

    // Paced: `rate` events/s in ticks of 10 ms.
    let rooms: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    let per_tick = (load.rate / 100).max(1);
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut appends = tokio::task::JoinSet::new();
    let paced_started = Instant::now();
    let mut n = 0;
    while n < paced_total {
        interval.tick().await;
        for _ in 0..per_tick {
            let room = rooms[n % rooms.len()];
            let event = NewEvent::from_domain(&message_event(room, n), metadata());
            let (store, issued) = (store.clone(), issued.clone());
            issued.lock().expect("issued")[n] = Some(Instant::now());
            appends.spawn(async move { store.append(&StreamName::room(room), ExpectedVersion::Any, vec![event]).await });
            n += 1;
        }
    }
    while let Some(done) = appends.join_next().await {
        done??;
    }
    let paced_appended = paced_started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.lock().expect("receiver").received < paced_total {
        anyhow::ensure!(Instant::now() < deadline && !reading.is_finished(), "the paced phase's events did not all arrive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (paced_latency, paced_last) = {
        let (issued, receiver) = (issued.lock().expect("issued"), receiver.lock().expect("receiver"));
        let mut latency = Histogram::<u64>::new(3)?;
        let mut last = paced_started;
        for (sent, arrived) in issued[..paced_total].iter().zip(&receiver.arrived[..paced_total]) {
            let (sent, arrived) = (sent.expect("issued"), arrived.expect("arrived"));
            latency.record(arrived.duration_since(sent).as_micros() as u64)?;
            last = last.max(arrived);
        }
        (latency, last)
    };
    eprintln!("paced: p50 {} ms, p99 {} ms", latency_ms(&paced_latency, 0.5), latency_ms(&paced_latency, 0.99));

    // Flood: `writers` writers, each to its own stream, as fast as the store takes them.
    let per_writer = load.flood.div_ceil(load.writers);
    let prepared: Vec<(Uuid, Vec<(usize, NewEvent)>)> = (0..load.writers)
        .map(|w| {
            let room = Uuid::now_v7();
            let events = (w * per_writer..((w + 1) * per_writer).min(load.flood))
                .map(|i| (paced_total + i, NewEvent::from_domain(&message_event(room, paced_total + i), metadata())))
                .collect();
            (room, events)
        })
        .collect();
    let flood_started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for (room, events) in prepared {
        let (store, issued) = (store.clone(), issued.clone());
        writers.spawn(async move {
            let stream = StreamName::room(room);
            for (n, event) in events {
                issued.lock().expect("issued")[n] = Some(Instant::now());
                store.append(&stream, ExpectedVersion::Any, vec![event]).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    let flood_appended = flood_started.elapsed();
    reading.await.context("the stream reader")??;
    let (flood_latency, flood_last, received) = {
        let (issued, receiver) = (issued.lock().expect("issued"), receiver.lock().expect("receiver"));
        anyhow::ensure!(receiver.received == total, "{} of {total} events arrived", receiver.received);
        let mut latency = Histogram::<u64>::new(3)?;
        let mut last = flood_started;
        for (sent, arrived) in issued[paced_total..].iter().zip(&receiver.arrived[paced_total..]) {
            let (sent, arrived) = (sent.expect("issued"), arrived.expect("arrived"));
            latency.record(arrived.duration_since(sent).as_micros() as u64)?;
            last = last.max(arrived);
        }
        (latency, last, receiver.received)
    };
    let _ = stop.send(());
    server.await??;

    let raw_rate = baseline["events_per_s"].as_f64().unwrap_or(0.0);
    let delivered = rate(load.flood, flood_last.duration_since(flood_started));
    Ok(json!({
        "bench": "live",
        "raw_insert": { "events": baseline["events"], "clients": load.writers, "events_per_s": raw_rate },
        "paced": {
            "target_per_s": load.rate, "events": paced_total,
            "appended_per_s": rate(paced_total, paced_appended),
            "delivered_per_s": rate(paced_total, paced_last.duration_since(paced_started)),
            "latency_ms_p50": latency_ms(&paced_latency, 0.5), "latency_ms_p99": latency_ms(&paced_latency, 0.99),
            "latency_ms_max": latency_ms(&paced_latency, 1.0),
        },
        "flood": {
            "events": load.flood, "writers": load.writers,
            "appended_per_s": rate(load.flood, flood_appended),
            "delivered_per_s": delivered,
            "ratio_to_raw_insert": if raw_rate > 0.0 { (delivered / raw_rate * 100.0).round() / 100.0 } else { 0.0 },
            "latency_ms_p50": latency_ms(&flood_latency, 0.5), "latency_ms_p99": latency_ms(&flood_latency, 0.99),
        },
        // Each once, positions rising (`Receiver::take` fails the run otherwise).
        "received_once_in_order": received,
        "at": chrono::Utc::now().to_rfc3339(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_benchmark_message_is_known_by_its_number() {
        let data = r#"{"position":"pg.1.2.3","summary":"<benchmarker> message 1234: the quick brown fox","payload":"{}"}"#;
        assert_eq!(message_number(data), Some(1234));
        assert_eq!(message_number(r#"{"summary":"<bob> message 1: hi"}"#), None);
    }
}
