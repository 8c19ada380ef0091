//! `switchboard-bench irc`: the IRC path end to end — a private ngircd on loopback, the bot
//! connected to it, `clients` scripted IRC users talking in one bound channel, projections
//! running — on an empty database.
//!
//! (a) Throughput: the clients send `messages` in all, paced together at `offered` lines/s (0:
//!     as fast as the sockets take them); the figure is messages recorded as events per second,
//!     and that none was lost. An unpaced flood far above what the bot can record eventually
//!     overflows the IRC server's send queue towards the bot, and the server drops the bot: real
//!     networks throttle clients long before that.
//! (b) Latency at a steady `rate` messages/s: from the PRIVMSG leaving a client to the message
//!     being visible in the last-seen read model (a watcher polls it every 2 ms).
//! (c) `.seen` round trips: from sending `.seen <nick>` to the bot's answer arriving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use domain::StreamName;
use hdrhistogram::Histogram;
use store::PgEventStore;
use switchboard::app::{Application, Parts};
use switchboard::settings::Settings;
use testkit::irc::{IrcTestClient, Ngircd};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::measure::latency_ms;

const CHANNEL: &str = "#bench";
const BOT: &str = "benchbot";

async fn recorded(store: &PgEventStore, room_id: Uuid, prefix: &str) -> anyhow::Result<i64> {
    let client = store.pool().get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM es_events WHERE stream_id = $1 AND event_type = 'room.message_posted' AND payload ->> 'body' LIKE $2",
            &[&StreamName::room(room_id).as_str(), &format!("{prefix}%")],
        )
        .await?;
    Ok(row.get(0))
}

/// What the IRC benchmark offers: see the module's (a), (b) and (c).
pub struct IrcLoad {
    pub clients: usize,
    pub messages: usize,
    pub offered: usize,
    pub rate: usize,
    pub seconds: u64,
}

pub async fn irc(settings: &Settings, store: &PgEventStore, db: &store::PgConfig, load: IrcLoad) -> anyhow::Result<serde_json::Value> {
    let IrcLoad { clients, messages, offered, rate, seconds } = load;
    let client = store.pool().get().await?;
    let existing: i64 = client.query_one("SELECT count(*) FROM es_events", &[]).await?.get(0);
    anyhow::ensure!(existing == 0, "switchboard-bench irc needs an empty database (this one has {existing} events)");
    drop(client);

    // The server as `serve` wires it, connected to a private ngircd, without the SMS side. The
    // channel is bound the way `serve` binds its demo channel: before the bot connects, so it
    // joins at once.
    let ircd = Ngircd::start().await.context("starting ngircd (apt-get install ngircd)")?;
    let mut settings = settings.clone();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.irc.server = Some("127.0.0.1".into());
    settings.irc.port = ircd.port();
    settings.irc.nick = BOT.into();
    settings.irc.burst_messages = 1_000;
    settings.irc.burst_window_seconds = 1;
    settings.irc.demo_channel = Some(CHANNEL.into());
    let application = Application::build_parts(&settings, db.clone(), Parts { irc: true, ..Parts::API_ONLY }).await?;
    let bot = application.irc_bot().context("the IRC bot did not start")?.clone();
    let room_id = gateways::irc::demo::room_of(&domain::IrcChannel::parse(CHANNEL)?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    while !bot.has_joined(CHANNEL) {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the bot did not join {CHANNEL}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut talkers = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut client = IrcTestClient::connect(ircd.port(), &format!("talker{i}")).await?;
        client.join(CHANNEL).await?;
        talkers.push(client);
    }
    eprintln!("{clients} clients on {CHANNEL}");

    // (a) Throughput.
    let per_client = messages.div_ceil(clients);
    let total = per_client * clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    // Each client sends at offered/clients lines per second, all starting together.
    let per_client_interval = (offered > 0).then(|| Duration::from_secs_f64(clients as f64 / offered as f64));
    let start = tokio::time::Instant::now();
    for (i, mut client) in talkers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                if let Some(interval) = per_client_interval {
                    tokio::time::sleep_until(start + interval * n as u32).await;
                }
                client.privmsg(CHANNEL, &format!("burst {i} {n}: the quick brown fox jumps over the lazy dog")).await?;
            }
            anyhow::Ok(client)
        }));
    }
    let mut talkers = Vec::new();
    for task in tasks {
        talkers.push(task.await??);
    }
    let sent = started.elapsed();
    loop {
        let count = recorded(store, room_id, "burst ").await? as usize;
        if count >= total {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "only {count} of {total} messages recorded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let lost = total as i64 - recorded(store, room_id, "burst ").await?;
    eprintln!("throughput: {total} messages sent in {sent:.2?}, all recorded after {elapsed:.2?}");

    // (b) Latency to last-seen at a steady rate.
    let sent_at: Arc<Mutex<HashMap<(usize, usize), Instant>>> = Arc::default();
    let mut lag = Histogram::<u64>::new(3)?;
    let watcher = {
        let (store, sent_at) = (store.clone(), sent_at.clone());
        tokio::spawn(async move {
            let client = store.pool().get().await?;
            let query = client.prepare("SELECT nick, detail FROM read.last_seen WHERE room_id = $1 AND nick LIKE 'talker%'").await?;
            let mut seen: HashMap<usize, usize> = HashMap::new();
            let mut latencies = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(seconds + 30);
            while Instant::now() < deadline {
                for row in client.query(&query, &[&room_id]).await? {
                    let (nick, detail): (String, Option<String>) = (row.get(0), row.get(1));
                    let (Some(i), Some(n)) = (
                        nick.strip_prefix("talker").and_then(|i| i.parse::<usize>().ok()),
                        detail
                            .as_deref()
                            .and_then(|d| d.strip_prefix("steady "))
                            .and_then(|d| d.split(' ').next())
                            .and_then(|n| n.parse().ok()),
                    ) else {
                        continue;
                    };
                    let from = seen.get(&i).map_or(0, |last| last + 1);
                    if n + 1 > from {
                        let now = Instant::now();
                        let sent = sent_at.lock().await;
                        // Everything up to n is visible now (last-seen keeps the latest line).
                        for m in from..=n {
                            if let Some(at) = sent.get(&(i, m)) {
                                latencies.push(now.duration_since(*at));
                            }
                        }
                        seen.insert(i, n);
                    }
                }
                if seen.values().map(|n| n + 1).sum::<usize>() >= rate * seconds as usize {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(latencies)
        })
    };
    let total_steady = rate * seconds as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut counters = vec![0usize; talkers.len()];
    for k in 0..total_steady {
        tokio::time::sleep_until(tokio::time::Instant::from_std(started + interval * k as u32)).await;
        let i = k % talkers.len();
        let n = counters[i];
        counters[i] += 1;
        sent_at.lock().await.insert((i, n), Instant::now());
        talkers[i].privmsg(CHANNEL, &format!("steady {n} from talker {i}")).await?;
    }
    for latency in watcher.await?? {
        lag.record(latency.as_micros() as u64)?;
    }
    eprintln!("latency to last-seen at {rate}/s: {} samples", lag.len());

    // (c) `.seen` round trips.
    let mut seen_latency = Histogram::<u64>::new(3)?;
    let asker = &mut talkers[0];
    for k in 0..200 {
        let started = Instant::now();
        asker.privmsg(CHANNEL, &format!(".seen talker{}", 1 + k % (clients - 1).max(1))).await?;
        asker
            .expect(Duration::from_secs(10), |line| line.nick() == Some(BOT) && line.params.last().is_some_and(|t| t.contains("last seen")))
            .await?;
        seen_latency.record(started.elapsed().as_micros() as u64)?;
    }
    let _ = stop.send(());
    server.await??;
    drop(ircd);

    Ok(serde_json::json!({
        "bench": "irc",
        "clients": clients,
        "messages": total,
        "offered_per_s": offered,
        "send_seconds": (sent.as_secs_f64() * 100.0).round() / 100.0,
        "messages_per_s": crate::measure::rate(total, elapsed),
        "lost": lost,
        "steady_rate": rate,
        "steady_samples": lag.len(),
        "last_seen_p50_ms": latency_ms(&lag, 0.5),
        "last_seen_p99_ms": latency_ms(&lag, 0.99),
        "last_seen_max_ms": latency_ms(&lag, 1.0),
        "seen_p50_ms": latency_ms(&seen_latency, 0.5),
        "seen_p99_ms": latency_ms(&seen_latency, 0.99),
    }))
}
