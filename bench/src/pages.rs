//! `switchboard-bench pages`: the web pages over real HTTP on a loaded log (a generated history,
//! 1,000,000 events by default), as a signed-in superuser's browser asks for them (the session
//! cookie, every page rendered in full): (a) a room's page (members now, the newest 50
//! messages), (b) the history page of a room (the conversation in a one-hour window, the room
//! as of now), (c) the charts page (messages per day and hour, per room, top talkers over the
//! last 7 days, every room), (d) the as-of view (the room's members, bans and mutes at a random
//! past time). Each is measured alone, one request at a time (latency). The raw PostgreSQL
//! insert baseline of `raw-insert` runs first on the same cluster, so the run carries its own
//! yardstick.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::Rng;
use serde_json::{Value, json};
use store::{EventStore, PgEventStore};
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;

use crate::measure::latency_ms;
use crate::read_models::fill_history;
use testkit::history::HistoryConfig;

/// Builds the path of one request of a kind (random each time, so caches do not flatter).
type PathOf = Box<dyn Fn(&mut rand::rngs::ThreadRng) -> String + Send + Sync>;

fn picker(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub async fn pages(
    settings: &Settings,
    store: &PgEventStore,
    db: &store::PgConfig,
    history: &HistoryConfig,
    requests: usize,
) -> anyhow::Result<Value> {
    let log = fill_history(store, history).await?;
    let raw_baseline = crate::event_store::raw_insert(db, 20_000, 8, 1).await?;
    eprintln!("raw baseline: {raw_baseline}");
    let mut settings = settings.clone();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.api.first_user_superuser = false;
    let application = Application::build_parts(&settings, db.clone(), Parts::API_ONLY).await?;
    let (app, address) = (application.api().clone(), application.address());
    let caught_up = Instant::now();
    application.runners().wait_for(store.head().await?, &[], Duration::from_secs(1800)).await.context("projections catching up")?;
    eprintln!("projections caught up in {:.1?}", caught_up.elapsed());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
    let token = crate::graphql::admin_token(&http, &format!("{base}/graphql"), &app).await?;
    let cookie = format!("{}={token}", web::session::SESSION_COOKIE);

    let client = store.pool().get().await?;
    let (first, last): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        client.query_one("SELECT min(posted_at), max(posted_at) FROM read.messages", &[]).await.map(|r| (r.get(0), r.get(1)))?;
    // The generated history's rooms (not the synthetic 10,000-member room `queries` adds), the
    // busiest first.
    let rooms: Vec<uuid::Uuid> = client
        .query(
            "SELECT m.room_id FROM read.messages m JOIN read.rooms r USING (room_id) WHERE r.name <> 'Big SMS room' \
             GROUP BY m.room_id ORDER BY count(*) DESC",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    anyhow::ensure!(!rooms.is_empty(), "the history has no messages");
    let span = (last - first).num_seconds().max(1);
    let random_time = move |rng: &mut rand::rngs::ThreadRng| first + chrono::TimeDelta::seconds(rng.random_range(0..=span));
    let rooms = std::sync::Arc::new(rooms);
    // Cloned into each kind's closure (it shares the room list).
    let random_room = move |rng: &mut rand::rngs::ThreadRng| rooms[rng.random_range(0..rooms.len())];
    let (room_for_history, room_for_as_of) = (random_room.clone(), random_room.clone());

    let kinds: Vec<(&str, PathOf)> = vec![
        ("room_page", Box::new(move |rng| format!("/rooms/{}", random_room(rng)))),
        (
            "history_page_one_hour",
            Box::new(move |rng| {
                let from = random_time(rng);
                let to = from + chrono::TimeDelta::hours(1);
                format!("/history/rooms/{}?from={}&to={}", room_for_history(rng), picker(from), picker(to))
            }),
        ),
        ("charts_page_every_room_7_days", Box::new(|_| "/history/charts?days=7".to_owned())),
        ("as_of_view", Box::new(move |rng| format!("/history/rooms/{}?at={}", room_for_as_of(rng), picker(random_time(rng))))),
    ];

    let mut results = serde_json::Map::new();
    for (name, path_of) in kinds {
        let get = |path: String| {
            let (http, cookie, url) = (http.clone(), cookie.clone(), format!("{base}{path}"));
            async move {
                let response = http.get(&url).header(reqwest::header::COOKIE, cookie).send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                anyhow::ensure!(status.is_success(), "GET {url}: {status}");
                anyhow::Ok(body.len())
            }
        };
        // Warm-up: connections, prepared statements, buffer cache.
        for _ in 0..20 {
            get(path_of(&mut rand::rng())).await?;
        }
        let mut latency = Histogram::<u64>::new(3)?;
        let mut bytes = 0;
        for _ in 0..requests {
            let path = path_of(&mut rand::rng());
            let started = Instant::now();
            bytes += get(path).await?;
            latency.record(started.elapsed().as_micros() as u64)?;
        }
        results.insert(
            name.to_owned(),
            json!({
                "p50_ms": latency_ms(&latency, 0.5), "p99_ms": latency_ms(&latency, 0.99), "max_ms": latency_ms(&latency, 1.0),
                "mean_kb": (bytes as f64 / requests as f64 / 1024.0).round(),
            }),
        );
        eprintln!("{name}: {}", results[name]);
    }
    let _ = stop.send(());
    server.await??;
    Ok(json!({ "bench": "pages", "log_events": log, "requests": requests, "results": results, "raw_insert_baseline": raw_baseline }))
}
