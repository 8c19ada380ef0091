//! `switchboard-bench`: Switchboard's benchmarks, a binary of their own so that nothing they need
//! (histograms, the history generator, the private ngIRCd) is linked into `switchboard`. It reads
//! the same settings as the server (`--config`, `SWITCHBOARD_*`, `DATABASE_URL`; with no
//! database configured, the embedded private cluster under `database.data_dir`), runs one
//! benchmark and prints one JSON line of results. BENCHMARKS.md has the commands, the numbers
//! and how to read them. It must never be a dependency of anything.

mod event_store;
mod graphql;
mod irc;
mod live;
mod measure;
mod pages;
mod read_models;
mod sms;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use store::PgEventStore;
use switchboard::database::Database;
use switchboard::settings::Settings;

#[derive(Parser)]
#[command(
    name = "switchboard-bench",
    version,
    about = "Measure Switchboard's event store, projections, API, live log, SMS and IRC paths (see BENCHMARKS.md)"
)]
struct Cli {
    /// Settings file (default: ./switchboard.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Clone, Debug)]
enum BenchCommand {
    /// Concurrent appends through the store (group commit, expected-version checks), on the
    /// backend `[store] backend` names, or `--kurrentdb-stand-in`.
    Append {
        /// Put the log in the test kit's KurrentDB stand-in, started here (not KurrentDB: its
        /// figures are the backend's own cost over a loopback gRPC server, not KurrentDB's).
        #[arg(long)]
        kurrentdb_stand_in: bool,
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
    /// Reads the global log from the start, decoding every event into its domain type (on
    /// the configured backend, or `--kurrentdb-stand-in`).
    ReadAll {
        /// As for `append`.
        #[arg(long)]
        kurrentdb_stand_in: bool,
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
        /// Copy every row of es_events into the baseline table first, so that its indexes are
        /// as large as the log's (for comparisons on a long log).
        #[arg(long)]
        copy_log: bool,
    },
    /// Full rebuild of every projection over a generated realistic history (filled when the
    /// log is empty; otherwise the existing log is used).
    Rebuild {
        #[command(flatten)]
        history: HistoryArgs,
        /// Events read and applied per transaction.
        #[arg(long, default_value_t = 5_000)]
        page: usize,
    },
    /// `log copy` from PostgreSQL into the test kit's KurrentDB stand-in (started here; not
    /// KurrentDB) over a generated realistic history, both logs digested, beside raw keyset
    /// reads of the same rows; then copied back into a fresh database (`<db>_copied_back`),
    /// and the read models rebuilt from both PostgreSQL logs compared.
    LogCopy {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Events read and written per batch.
        #[arg(long, default_value_t = 1_000)]
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
        #[command(flatten)]
        history: HistoryArgs,
        /// Requests of each kind (per phase).
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Concurrent clients in the loaded phase.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// The web pages over HTTP on a loaded log, as a signed-in superuser's browser: a room's
    /// page, the history page, the charts page, the as-of view (latency, one request at a
    /// time), beside the raw PostgreSQL insert baseline of the same run.
    Pages {
        #[command(flatten)]
        history: HistoryArgs,
        /// Requests of each kind.
        #[arg(long, default_value_t = 1_000)]
        requests: usize,
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
        /// Also run the SMS bridge, as `switchboard serve` does (it follows every message).
        #[arg(long)]
        with_bridge: bool,
    },
    /// SMS processor throughput on an empty database: `members` join one room by SMS, then a
    /// burst of `texts` texts over HTTP; texts/s processed (posted, every delivery queued)
    /// beside raw single-row INSERTs/s measured in the same run.
    SmsThroughput {
        #[arg(long, default_value_t = 10)]
        members: usize,
        #[arg(long, default_value_t = 5_000)]
        texts: usize,
        /// Webhook requests in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Rows of each raw INSERT baseline run.
        #[arg(long, default_value_t = 5_000)]
        raw_rows: usize,
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
    /// executor each time (the whole stream read per command), with one
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
    /// The web app's live log (`/live/stream`, server-sent events) followed over HTTP: latency
    /// from append to receipt at a steady rate, then the delivery rate under a flood of appends,
    /// beside a raw INSERT baseline of the same run.
    Live {
        /// Appended events per second in the paced phase.
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Events in the flood phase (and in the raw INSERT baseline).
        #[arg(long, default_value_t = 20_000)]
        flood: usize,
        /// Concurrent writers in the flood phase (and clients of the baseline).
        #[arg(long, default_value_t = 8)]
        writers: usize,
    },
    /// Baseline: raw keyset reads of es_events rows (no watermark, no decoding).
    RawRead {
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        #[arg(long, default_value_t = 1_000)]
        page: usize,
    },
}

/// The generated history a benchmark runs on, when the log is empty (see `testkit::history`).
#[derive(clap::Args, Clone, Debug)]
struct HistoryArgs {
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Registered users (default: one per 200 events, 10 to 5,000).
    #[arg(long)]
    users: Option<usize>,
    /// Rooms (default: one per 25 users, 3 to 50); half of them are also on SMS, and the
    /// largest holds about 0.39 × users members when there are 100.
    #[arg(long)]
    rooms: Option<usize>,
}

impl HistoryArgs {
    fn config(&self) -> testkit::history::HistoryConfig {
        testkit::history::HistoryConfig::populated(self.events, self.seed, self.users, self.rooms)
    }
}

/// The same allocator as the `switchboard` binary, so that what is measured is what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    switchboard::logging::init_tracing(&settings);
    let database = Database::open(&settings).await?;
    let outcome = run(cli.command, &settings, &database).await;
    database.close().await;
    outcome
}

async fn run(command: BenchCommand, settings: &Settings, database: &Database) -> anyhow::Result<()> {
    PgEventStore::migrate(&database.config).await?;
    let result = match command {
        BenchCommand::Append { kurrentdb_stand_in, events, writers, batch } => {
            let (store, stand_in) = event_store::open(settings, database, kurrentdb_stand_in).await?;
            event_store::append(&store, event_store::backend_label(&store, &stand_in), events, writers.max(1), batch.max(1)).await?
        }
        BenchCommand::ReadAll { kurrentdb_stand_in, events, page } => {
            let (store, stand_in) = event_store::open(settings, database, kurrentdb_stand_in).await?;
            event_store::read_all(&store, event_store::backend_label(&store, &stand_in), events, page).await?
        }
        BenchCommand::RawInsert { events, clients, rows, copy_log } => {
            event_store::raw_insert_into(&database.config, events, clients.max(1), rows.max(1), copy_log).await?
        }
        BenchCommand::RawRead { events, page } => event_store::raw_read(&database.config, events, page).await?,
        BenchCommand::Command { history, commands } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            event_store::room_command(store, history, commands.max(1)).await?
        }
        BenchCommand::Rebuild { history, page } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            read_models::rebuild(&store, &database.config, &history.config(), page.max(1)).await?
        }
        BenchCommand::LogCopy { events, seed, page } => event_store::log_copy(settings, database, events, seed, page.max(1)).await?,
        BenchCommand::Lag { rate, seconds } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            read_models::lag(&store, &database.config, rate.max(1), seconds.max(1)).await?
        }
        BenchCommand::Graphql { history, requests, clients } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            graphql::graphql(settings, &store, &database.config, &history.config(), requests.max(1), clients.max(1)).await?
        }
        BenchCommand::Pages { history, requests } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            pages::pages(settings, &store, &database.config, &history.config(), requests.max(1)).await?
        }
        BenchCommand::Fanout { members, rate, seconds, with_bridge } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            let load = sms::FanoutLoad { members: members.max(2), rate: rate.max(1), seconds: seconds.max(1), with_bridge };
            sms::fanout(settings, &store, &database.config, load).await?
        }
        BenchCommand::SmsThroughput { members, texts, concurrency, raw_rows } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            let load = sms::ThroughputLoad {
                members: members.max(2),
                texts: texts.max(1),
                concurrency: concurrency.max(1),
                raw_rows: raw_rows.max(1),
            };
            sms::throughput(settings, &store, &database.config, load).await?
        }
        BenchCommand::Irc { clients, messages, offered, rate, seconds } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            let load =
                irc::IrcLoad { clients: clients.max(2), messages: messages.max(1), offered, rate: rate.max(1), seconds: seconds.max(1) };
            irc::irc(settings, &store, &database.config, load).await?
        }
        BenchCommand::Live { rate, seconds, flood, writers } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            let load = live::LiveLoad { rate: rate.max(100), seconds: seconds.max(1), flood: flood.max(1), writers: writers.max(1) };
            live::live(settings, &store, &database.config, load).await?
        }
        BenchCommand::Queries { members, lookups } => {
            let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await?;
            read_models::queries(&store, &database.config, members.max(2), lookups.max(1)).await?
        }
    };
    println!("{result}");
    Ok(())
}
