//! The `switchboard` command line: loads settings, starts tracing, opens the database
//! (configured or embedded), and runs the chosen command. `serve` runs the
//! [`Application`](switchboard::Application) until Ctrl-C / SIGTERM or until one of its parts
//! stops, which it names with the cause.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use switchboard::database::Database;
use switchboard::logging::init_tracing;
use switchboard::operations;
use switchboard::settings::Settings;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Event-sourced chat backend: IRC and SMS rooms, CQRS read models, GraphQL")]
struct Cli {
    /// Settings file (default: ./switchboard.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API until Ctrl-C / SIGTERM.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the projections (read models).
    Projections {
        #[command(subcommand)]
        which: ProjectionsCommand,
    },
    /// Rebuild projections from the start of the log, side by side with the live ones, and
    /// switch readers over when caught up (no downtime). All projections when none is named.
    Rebuild {
        /// Projection names (see `switchboard projections status`).
        names: Vec<String>,
        /// Events read and applied per transaction.
        #[arg(long, default_value_t = 5_000)]
        page: usize,
    },
    /// Print the GraphQL schema (SDL); with `--write`, rewrite `schema.graphql`.
    Schema {
        /// Rewrite this file instead of printing.
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "schema.graphql")]
        write: Option<PathBuf>,
    },
    /// Send a text to the SMS webhook as Twilio would (signed with api.twilio_auth_token): try
    /// the SMS side without a phone.
    Sms {
        /// The sender's number (E.164).
        #[arg(long)]
        from: String,
        /// The room's Twilio number (E.164).
        #[arg(long)]
        to: String,
        /// The text, e.g. "#join alice".
        body: String,
        /// The server to post to (default: api.public_url).
        #[arg(long)]
        url: Option<String>,
    },
    /// The log itself: move it between backends, digest it.
    Log {
        #[command(subcommand)]
        which: LogCommand,
    },
    /// Check the configuration before serving: the database (reachable, migrated), the event
    /// store, the IRC server (TLS handshake when configured), the Twilio account and each room
    /// number's webhook, the mail transport. Exits 1 when a check fails; changes nothing.
    Doctor {
        /// Seconds each check may take.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Set up the Twilio account for this server.
    Twilio {
        #[command(subcommand)]
        which: TwilioCommand,
    },
    /// Administration that must work before anyone can log in.
    Admin {
        #[command(subcommand)]
        which: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set a user's level (0-5 or guest/member/voice/operator/staff/superuser), as the system.
    Grant {
        /// The user's nick.
        nick: String,
        level: String,
    },
}

#[derive(Subcommand)]
enum TwilioCommand {
    /// Make the account's number post its incoming texts to this server
    /// (`{api.public_url}/sms/twilio`); nothing changes when it already does.
    Configure {
        /// The number (E.164), e.g. +15550100.
        number: String,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Copy every event from one backend to the other (as the settings describe both), in log
    /// order with ids, versions and times; resumes where the target stands; then compares the
    /// two logs' digests. Stop writing to the source for the last run.
    Copy {
        /// The backend to read: postgres or kurrentdb.
        #[arg(long)]
        from: store::Backend,
        /// The backend to write: postgres or kurrentdb.
        #[arg(long)]
        to: store::Backend,
        /// Events read and written per batch.
        #[arg(long, default_value_t = 1_000)]
        page: usize,
    },
    /// Count the events of the configured backend's log and print their digest (as `log copy`
    /// compares them).
    Digest {
        /// Events read per batch.
        #[arg(long, default_value_t = 1_000)]
        page: usize,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projection's version, state, position and lag (events and seconds).
    Status,
}

/// Reading the log allocates and frees many small strings per event (ids, nicks, texts);
/// mimalloc makes that churn much cheaper than the system allocator (BENCHMARKS.md, "Event
/// store: reading the global log").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Schema { write } = &cli.command {
        return operations::schema(write.as_deref());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    init_tracing(&settings);
    if let Command::Sms { from, to, body, url } = &cli.command {
        return operations::send_sms(&settings, from, to, body, url.as_deref()).await;
    }
    if let Command::Twilio { which: TwilioCommand::Configure { number } } = &cli.command {
        return operations::twilio_configure(&settings, number).await;
    }

    let database = Database::open(&settings).await?;
    let outcome = match cli.command {
        Command::Migrate => migrate(&database).await,
        Command::Serve => serve(&settings, &database).await,
        Command::Projections { which: ProjectionsCommand::Status } => operations::status(&settings, &database).await,
        Command::Rebuild { names, page } => operations::rebuild(&settings, &database, &names, page).await,
        Command::Log { which: LogCommand::Copy { from, to, page } } => operations::log_copy(&settings, &database, from, to, page).await,
        Command::Log { which: LogCommand::Digest { page } } => operations::log_digest(&settings, &database, page).await,
        Command::Admin { which: AdminCommand::Grant { nick, level } } => operations::grant(&settings, &database, &nick, &level).await,
        Command::Schema { .. } => unreachable!("handled before settings are loaded"),
        Command::Doctor { timeout } => {
            let checks = switchboard::doctor::run(&settings, &database, std::time::Duration::from_secs(timeout.max(1))).await;
            print!("{}", switchboard::doctor::render(&checks));
            database.close().await;
            std::process::exit(if checks.iter().any(|c| c.verdict == switchboard::doctor::Verdict::Failed) { 1 } else { 0 });
        }
        Command::Sms { .. } | Command::Twilio { .. } => unreachable!("handled before the database is opened"),
    };
    database.close().await;
    outcome
}

async fn migrate(database: &Database) -> anyhow::Result<()> {
    store::PgEventStore::migrate(&database.config).await.context("migrating the database")?;
    tracing::info!("database migrated");
    Ok(())
}

async fn serve(settings: &Settings, database: &Database) -> anyhow::Result<()> {
    let application = switchboard::Application::build(settings, database.config.clone()).await?;
    application.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
