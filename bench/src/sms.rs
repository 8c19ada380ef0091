//! `switchboard-bench fanout`: the SMS path end to end over real HTTP — signed webhooks into
//! the API, the processor and the delivery sender following the log, and a local server in
//! place of Twilio that accepts every message at once (rate limit off).
//!
//! (a) One text to a room of `members` members: time from the webhook to all `members - 1`
//!     Twilio requests received, and deliveries/s.
//! (b) Webhook latency at a steady `rate` inbound texts/s into a two-member room.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use domain::{Level, Metadata, PhoneNumber, Room, RoomCommand, RoomName, StreamName};
use hdrhistogram::Histogram;
use serde_json::json;
use store::PgEventStore;
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;
use uuid::Uuid;

use crate::measure::latency_ms;

const TOKEN: &str = "bench-auth-token";

/// Counts what "Twilio" received.
async fn accepting_twilio() -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{account}/Messages.json",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({ "sid": format!("SM{}", Uuid::new_v4().simple()), "status": "queued" })),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, received))
}

struct Webhook {
    http: reqwest::Client,
    url: String,
    signed_url: String,
    room_number: String,
    sid: AtomicUsize,
}

impl Webhook {
    async fn text(&self, from: &str, body: &str) -> anyhow::Result<Duration> {
        let sid = format!("SM{:032x}", self.sid.fetch_add(1, Ordering::Relaxed) as u128 + (Uuid::new_v4().as_u128() >> 64 << 64));
        let params = vec![
            ("MessageSid".to_owned(), sid),
            ("From".to_owned(), from.to_owned()),
            ("To".to_owned(), self.room_number.clone()),
            ("Body".to_owned(), body.to_owned()),
        ];
        let signature = gateways::sms::signature::expected_signature(TOKEN, &self.signed_url, &params);
        let started = Instant::now();
        let response = self.http.post(&self.url).header("X-Twilio-Signature", signature).form(&params).send().await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(response.status().is_success(), "webhook answered {}", response.status());
        Ok(elapsed)
    }
}

async fn wait_until(received: &AtomicUsize, count: usize, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while received.load(Ordering::Relaxed) < count {
        anyhow::ensure!(started.elapsed() < timeout, "only {} of {count} messages reached Twilio", received.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(started.elapsed())
}

async fn create_room(app: &api::App, name: &str, number: &str) -> anyhow::Result<()> {
    let room_id = Uuid::now_v7();
    let stream = StreamName::room(room_id);
    let create = RoomCommand::Create { room_id, name: RoomName::parse(name)?, invite_only: false, caller_level: Level::Superuser };
    app.executor.execute::<Room>(&stream, &create, Metadata::system()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let bind = RoomCommand::BindSmsNumber { number: PhoneNumber::parse(number)?, caller_level: Level::Superuser };
    let done = app.executor.execute::<Room>(&stream, &bind, Metadata::system()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    projections::status::wait_for_checkpoints(app.store.pool(), app.store.backend(), done.position(), &["rooms"], Duration::from_secs(30))
        .await?;
    Ok(())
}

/// What the fan-out benchmark offers.
pub struct FanoutLoad {
    pub members: usize,
    pub rate: usize,
    pub seconds: u64,
    /// Also run the SMS bridge (IRC talk to phones), as `serve` does; it reads every message
    /// posted and acts on none here (they all came by SMS).
    pub with_bridge: bool,
}

pub async fn fanout(
    settings: &Settings,
    store: &PgEventStore,
    db: &store::PgConfig,
    load: FanoutLoad,
) -> anyhow::Result<serde_json::Value> {
    let FanoutLoad { members, rate, seconds, with_bridge } = load;
    let client = store.pool().get().await?;
    let existing: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    anyhow::ensure!(existing == 0, "switchboard-bench fanout needs an empty database (this one has {existing} events)");
    drop(client);

    // The server as `serve` wires it, Twilio replaced by a local server accepting at once, no
    // per-number rate limit, and no IRC.
    let (twilio_url, received) = accepting_twilio().await?;
    let mut settings = settings.clone();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.api.twilio_auth_token = Some(api::Hidden::new(TOKEN));
    settings.twilio.account_sid = Some("AC0123456789abcdef0123456789abcdef".into());
    settings.twilio.base_url = twilio_url;
    settings.twilio.messages_per_second = 0.0;
    settings.twilio.concurrency = 64;
    let parts = Parts { sms: true, sms_sender: true, sms_bridge: with_bridge, irc: false };
    let application = Application::build_parts(&settings, db.clone(), parts).await?;
    let (app, address) = (application.api().clone(), application.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));

    let big = "+15550100000";
    let small = "+15550200000";
    create_room(&app, "Big room", big).await?;
    create_room(&app, "Small room", small).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let webhook = |number: &str| Webhook {
        http: http.clone(),
        url: format!("http://{address}/sms/twilio"),
        signed_url: format!("{}/sms/twilio", app.settings.public_url),
        room_number: number.to_owned(),
        sid: AtomicUsize::new(0),
    };
    let big_room = Arc::new(webhook(big));
    let phone = |i: usize| format!("+1555{i:07}");

    // Members join by SMS (each gets a welcome text).
    let started = Instant::now();
    let joins = futures::stream::iter((0..members).map(|i| {
        let hook = big_room.clone();
        async move { hook.text(&phone(i), &format!("#join m{i}")).await }
    }));
    let results: Vec<anyhow::Result<Duration>> = futures::StreamExt::collect(futures::StreamExt::buffer_unordered(joins, 16)).await;
    results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    wait_until(&received, members, Duration::from_secs(600)).await.context("welcome texts")?;
    eprintln!("{members} members joined by SMS in {:.1?}", started.elapsed());

    // (a) One text fanned out to everyone else.
    let before = received.load(Ordering::Relaxed);
    let started = Instant::now();
    big_room.text(&phone(0), "hello, everyone").await?;
    wait_until(&received, before + members - 1, Duration::from_secs(120)).await?;
    let fanout = started.elapsed();
    eprintln!("fan-out of one text to {} recipients: {:.0?}", members - 1, fanout);

    // (b) Webhook latency at a steady rate into a two-member room.
    let small_room = Arc::new(webhook(small));
    small_room.text("+15559000001", "#join alpha").await?;
    small_room.text("+15559000002", "#join beta").await?;
    let mut latency = Histogram::<u64>::new(3)?;
    let total = rate * seconds as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(tokio::time::Instant::from_std(started + interval * i as u32)).await;
        let hook = small_room.clone();
        let from = if i % 2 == 0 { "+15559000001" } else { "+15559000002" };
        tasks.push(tokio::spawn(async move { hook.text(from, &format!("message {i}")).await }));
    }
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok(elapsed) => latency.record(elapsed.as_micros() as u64)?,
            Err(_) => failed += 1,
        }
    }
    let inbound: i64 = store
        .pool()
        .get()
        .await?
        .query_one("SELECT count(*) FROM es_events WHERE event_type = 'sms.inbound_received' AND payload ->> 'body' LIKE 'message %'", &[])
        .await?
        .get(0);
    let _ = stop.send(());
    server.await??;
    Ok(json!({
        "bench": "fanout", "members": members, "with_bridge": with_bridge,
        "fanout_recipients": members - 1, "fanout_ms": fanout.as_millis(),
        "deliveries_per_sec": ((members - 1) as f64 / fanout.as_secs_f64()).round(),
        "webhook_rate_per_sec": rate, "webhook_requests": total, "webhook_failed": failed, "inbound_recorded": inbound,
        "webhook_p50_ms": latency_ms(&latency, 0.5), "webhook_p99_ms": latency_ms(&latency, 0.99), "webhook_max_ms": latency_ms(&latency, 1.0),
    }))
}

/// What the SMS throughput benchmark offers.
pub struct ThroughputLoad {
    /// Members of the room, each joined by SMS; every text goes to the other `members - 1`.
    pub members: usize,
    /// Texts in the burst, from the members in turn.
    pub texts: usize,
    /// Webhook requests in flight at once.
    pub concurrency: usize,
    /// Raw single-row INSERTs of the baseline, run in the same sitting.
    pub raw_rows: usize,
}

/// `switchboard-bench sms-throughput`: how fast the SMS processor turns a burst of texts into
/// posts and fan-out deliveries in one room, beside a raw PostgreSQL INSERT baseline measured
/// in the same run. The sender runs with the default per-number pacing (so "processed" means
/// posted and every delivery queued, not yet sent).
pub async fn throughput(
    settings: &Settings,
    store: &PgEventStore,
    db: &store::PgConfig,
    load: ThroughputLoad,
) -> anyhow::Result<serde_json::Value> {
    let ThroughputLoad { members, texts, concurrency, raw_rows } = load;
    let client = store.pool().get().await?;
    let existing: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    anyhow::ensure!(existing == 0, "switchboard-bench sms-throughput needs an empty database (this one has {existing} events)");
    drop(client);

    // The baseline first, in the same sitting: one client, one row per transaction, the shape
    // of es_events; then alone again at the end (the two bracket the SMS run).
    let raw_before = crate::event_store::raw_insert(db, raw_rows, 1, 1).await?;

    let (twilio_url, _received) = accepting_twilio().await?;
    let mut settings = settings.clone();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.api.twilio_auth_token = Some(api::Hidden::new(TOKEN));
    settings.twilio.account_sid = Some("AC0123456789abcdef0123456789abcdef".into());
    settings.twilio.base_url = twilio_url;
    let parts = Parts { sms: true, sms_sender: true, sms_bridge: false, irc: false };
    let application = Application::build_parts(&settings, db.clone(), parts).await?;
    let (app, address) = (application.api().clone(), application.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));

    let number = "+15550300000";
    create_room(&app, "Busy room", number).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency.max(16)).build()?;
    let hook = Arc::new(Webhook {
        http,
        url: format!("http://{address}/sms/twilio"),
        signed_url: format!("{}/sms/twilio", app.settings.public_url),
        room_number: number.to_owned(),
        sid: AtomicUsize::new(0),
    });
    let phone = |i: usize| format!("+1555{:07}", 300_000 + i);
    for i in 0..members {
        hook.text(&phone(i), &format!("#join t{i}")).await?;
    }
    processed(store, Duration::from_secs(60)).await.context("the joins")?;

    let started = Instant::now();
    let burst = futures::stream::iter((0..texts).map(|i| {
        let hook = hook.clone();
        let from = phone(i % members);
        async move { hook.text(&from, &format!("burst {i}: the quick brown fox jumps over the lazy dog")).await }
    }));
    let results: Vec<anyhow::Result<Duration>> =
        futures::StreamExt::collect(futures::StreamExt::buffer_unordered(burst, concurrency)).await;
    let accepted_in = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(failed == 0, "{failed} webhooks failed");
    processed(store, Duration::from_secs(600)).await.context("the burst")?;
    let processed_in = started.elapsed();

    let client = store.pool().get().await?;
    let queued: i64 = client
        .query_one("SELECT count(*) FROM es_events WHERE event_type = 'delivery.queued' AND payload ->> 'body' LIKE '[t%] burst %'", &[])
        .await?
        .get(0);
    let distinct: i64 = client
        .query_one(
            "SELECT count(DISTINCT (payload ->> 'to', payload ->> 'body')) FROM es_events \
             WHERE event_type = 'delivery.queued' AND payload ->> 'body' LIKE '[t%] burst %'",
            &[],
        )
        .await?
        .get(0);
    drop(client);
    let _ = stop.send(());
    server.await??;
    let expected = texts * (members - 1);
    anyhow::ensure!(
        queued as usize == expected && distinct == queued,
        "{queued} deliveries queued ({distinct} distinct), expected {expected}"
    );
    let raw_after = crate::event_store::raw_insert(db, raw_rows, 1, 1).await?;

    let texts_per_s = crate::measure::rate(texts, processed_in);
    let raw_per_s = |r: &serde_json::Value| r["events_per_s"].as_f64().unwrap_or(f64::NAN);
    let (raw_lo, raw_hi) = (raw_per_s(&raw_before).min(raw_per_s(&raw_after)), raw_per_s(&raw_before).max(raw_per_s(&raw_after)));
    Ok(json!({
        "bench": "sms-throughput", "members": members, "texts": texts, "webhook_concurrency": concurrency,
        "accepted_per_s": crate::measure::rate(texts, accepted_in),
        "processed_per_s": texts_per_s, "processed_seconds": processed_in.as_secs_f64(),
        "deliveries_queued": queued,
        "raw_insert_per_s_before": raw_per_s(&raw_before), "raw_insert_per_s_after": raw_per_s(&raw_after),
        "ratio_to_raw": format!("{:.3}-{:.3}", texts_per_s / raw_hi, texts_per_s / raw_lo),
        "at": chrono::Utc::now().to_rfc3339(),
    }))
}

/// Waits until the SMS processor's checkpoint has passed every inbound text recorded so far.
async fn processed(store: &PgEventStore, timeout: Duration) -> anyhow::Result<()> {
    use store::EventStore as _;
    let client = store.pool().get().await?;
    let row = client
        .query_one(
            "SELECT log_era, tx_id::text, global_position FROM es_events WHERE event_type = 'sms.inbound_received' \
             ORDER BY log_era DESC, tx_id DESC, global_position DESC LIMIT 1",
            &[],
        )
        .await?;
    let last = store::Position::from_pg_parts(row.get(0), row.get::<_, &str>(1).parse()?, row.get(2));
    drop(client);
    let started = Instant::now();
    while store.load_checkpoint(gateways::sms::processor::SUBSCRIBER).await? < last {
        anyhow::ensure!(started.elapsed() < timeout, "the SMS processor did not get through the texts in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
