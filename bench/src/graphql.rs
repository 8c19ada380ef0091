//! `switchboard-bench graphql`: the API over real HTTP on a loaded log (a generated history,
//! 1,000,000 events by default). Each request is measured alone (one client: latency) and
//! under load (`clients` concurrent clients: requests/s):
//! (a) an audit page of 50 events filtered by actor and time,
//! (b) a room's members and bans as of a past time (any room; the largest room; the largest
//!     room's first page of 100 members without its bans),
//! (c) a page of 50 messages of a room's history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use domain::{Level, Metadata, StreamName, User, UserCommand};
use hdrhistogram::Histogram;
use rand::Rng;
use serde_json::{Value, json};
use store::{EventStore, PgEventStore};
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;

use crate::measure::latency_ms;
use crate::read_models::fill_history;
use testkit::history::HistoryConfig;

struct Target {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Target {
    async fn post(&self, query: &str, variables: Value) -> anyhow::Result<()> {
        let response: Value = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        if let Some(errors) = response.get("errors") {
            anyhow::bail!("GraphQL errors: {errors}");
        }
        Ok(())
    }
}

/// Builds the variables of one request of a kind (random each time, so caches do not flatter).
type Variables = Arc<dyn Fn(&mut rand::rngs::ThreadRng) -> Value + Send + Sync>;

pub async fn graphql(
    settings: &Settings,
    store: &PgEventStore,
    db: &store::PgConfig,
    history: &HistoryConfig,
    requests: usize,
    clients: usize,
) -> anyhow::Result<Value> {
    let log = fill_history(store, history).await?;
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
    let url = format!("http://{address}/graphql");
    let token = admin_token(&http, &url, &app).await?;
    let target = Arc::new(Target { http, url, token });

    // Request targets drawn from the loaded history.
    let client = store.pool().get().await?;
    let actors: Vec<String> = client
        .query("SELECT actor FROM es_events WHERE actor LIKE 'user:%' GROUP BY actor ORDER BY count(*) DESC LIMIT 200", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (first, last): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        client.query_one("SELECT min(recorded_at), max(recorded_at) FROM es_events", &[]).await.map(|r| (r.get(0), r.get(1)))?;
    // Every room of the generated history, drawn uniformly (the synthetic 10,000-member rooms
    // `switchboard-bench queries` adds are left out: they are measured there); the largest one separately.
    let rooms: Vec<uuid::Uuid> = client
        .query(
            "SELECT m.room_id FROM read.memberships m JOIN read.rooms r USING (room_id) WHERE r.name <> 'Big SMS room' \
             GROUP BY m.room_id ORDER BY count(*) DESC",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let busy_rooms: Vec<uuid::Uuid> = client
        .query("SELECT room_id FROM read.messages GROUP BY room_id ORDER BY count(*) DESC LIMIT 20", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    anyhow::ensure!(!actors.is_empty() && !rooms.is_empty() && !busy_rooms.is_empty(), "the history has no users, rooms or messages");
    let span = (last - first).num_milliseconds().max(1);
    let random_time = move |rng: &mut rand::rngs::ThreadRng| first + chrono::TimeDelta::milliseconds(rng.random_range(0..span));

    let audit: Variables = Arc::new({
        let actors = actors.clone();
        move |rng| {
            let from = random_time(rng);
            json!({ "f": { "actor": actors[rng.random_range(0..actors.len())], "from": from, "to": from + chrono::TimeDelta::milliseconds(span / 4) } })
        }
    });
    let as_of: Variables = Arc::new({
        let rooms = rooms.clone();
        move |rng| json!({ "r": rooms[rng.random_range(0..rooms.len())], "at": { "time": random_time(rng) } })
    });
    let largest: Variables = Arc::new({
        let room = rooms[0];
        move |rng| json!({ "r": room, "at": { "time": random_time(rng) } })
    });
    let history: Variables = Arc::new({
        let rooms = busy_rooms.clone();
        move |rng| json!({ "r": rooms[rng.random_range(0..rooms.len())], "from": random_time(rng) })
    });
    let kinds: Vec<(&str, &str, Variables)> = vec![
        (
            "audit_by_actor_and_time",
            "query($f: EventFilter) { events(filter: $f, first: 50) { edges { cursor node { type stream actor recordedAt payload } } pageInfo { hasNextPage } } }",
            audit,
        ),
        (
            "members_and_bans_as_of",
            "query($r: UUID!, $at: AsOf) { room(id: $r, asOf: $at) { members { nick since } bans { id until } } }",
            as_of,
        ),
        (
            "members_and_bans_as_of_largest_room",
            "query($r: UUID!, $at: AsOf) { room(id: $r, asOf: $at) { members { nick since } bans { id until } } }",
            largest.clone(),
        ),
        (
            "members_page_as_of_largest_room",
            "query($r: UUID!, $at: AsOf) { room(id: $r, asOf: $at) { members(first: 100) { nick since cursor } } }",
            largest.clone(),
        ),
        (
            "message_history_page",
            "query($r: UUID!, $from: DateTime) { messages(room: $r, from: $from, first: 50) { edges { cursor node { body authorNick postedAt } } } }",
            history,
        ),
    ];

    let mut results = serde_json::Map::new();
    for (name, query, variables) in kinds {
        // Warm-up: connections, prepared statements, buffer cache.
        for _ in 0..20 {
            let vars = variables(&mut rand::rng());
            target.post(query, vars).await?;
        }
        let mut latency = Histogram::<u64>::new(3)?;
        for _ in 0..requests {
            let vars = variables(&mut rand::rng());
            let started = Instant::now();
            target.post(query, vars).await?;
            latency.record(started.elapsed().as_micros() as u64)?;
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (target, variables) = (target.clone(), variables.clone());
            let each = requests.div_ceil(clients);
            tasks.push(tokio::spawn(async move {
                for _ in 0..each {
                    let vars = variables(&mut rand::rng());
                    target.post(query, vars).await?;
                }
                anyhow::Ok(each)
            }));
        }
        let mut done = 0;
        for task in tasks {
            done += task.await??;
        }
        let loaded = started.elapsed();
        results.insert(
            name.to_owned(),
            json!({
                "p50_ms": latency_ms(&latency, 0.5), "p99_ms": latency_ms(&latency, 0.99), "max_ms": latency_ms(&latency, 1.0),
                "requests_per_sec_1_client": (requests as f64 / (latency.mean() * latency.len() as f64 / 1e6)).round(),
                "requests_per_sec_loaded": (done as f64 / loaded.as_secs_f64()).round(),
            }),
        );
        eprintln!("{name}: {}", results[name]);
    }
    let _ = stop.send(());
    server.await??;
    Ok(json!({ "bench": "graphql", "log_events": log, "requests": requests, "clients": clients, "results": results }))
}

/// Signs up a benchmark admin (or reuses it), makes it superuser as the system, logs in.
pub(crate) async fn admin_token(http: &reqwest::Client, url: &str, app: &api::App) -> anyhow::Result<String> {
    let password = "benchmark password, not secret";
    let sign_up = json!({ "query": "mutation($p: String!) { signUp(input: {username: \"benchadmin\", email: \"bench@example.org\", password: $p}) { userId } }", "variables": { "p": password } });
    let response: Value = http.post(url).json(&sign_up).send().await?.json().await?;
    let user_id: uuid::Uuid = match response["data"]["signUp"]["userId"].as_str() {
        Some(id) => id.parse()?,
        // Already there from an earlier run: the id is derived from the username.
        None => {
            let (account, _) = app.executor.load::<domain::AccountName>(&StreamName::account("benchadmin")).await?;
            account.holder.context("benchadmin exists but holds no account")?
        }
    };
    app.executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::ChangeLevel { to: Level::Superuser, caller_level: Level::Superuser },
            Metadata::system(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let log_in = json!({ "query": "mutation($p: String!) { logIn(username: \"benchadmin\", password: $p) { token } }", "variables": { "p": password } });
    let response: Value = http.post(url).json(&log_in).send().await?.json().await?;
    response["data"]["logIn"]["token"].as_str().map(str::to_owned).with_context(|| format!("logging in: {response}"))
}
