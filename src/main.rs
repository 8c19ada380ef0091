//! The `switchboard` binary: loads settings, starts tracing, opens the database (configured or
//! embedded), and runs the chosen command. `serve` spawns each long-running part as a task with
//! a shared shutdown signal and reports which one stopped and why.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

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
enum ProjectionsCommand {
    /// Each projection's version, state, position and lag (events and seconds).
    Status,
}

/// Reading the log allocates and frees many small strings per event (ids, nicks, texts). With
/// the system allocator, malloc and free took about a tenth of a read-all's CPU, with mimalloc
/// about a thirtieth; read-all runs 3-5 % faster (BENCHMARKS.md, Reading).
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

    let database = Database::open(&settings).await?;
    let outcome = match cli.command {
        Command::Migrate => migrate(&database).await,
        Command::Serve => serve(&settings, &database).await,
        Command::Projections { which: ProjectionsCommand::Status } => operations::status(&database).await,
        Command::Rebuild { names, page } => operations::rebuild(&settings, &database, &names, page).await,
        Command::Admin { which: AdminCommand::Grant { nick, level } } => operations::grant(&settings, &database, &nick, &level).await,
        Command::Schema { .. } => unreachable!("handled before settings are loaded"),
        Command::Sms { .. } => unreachable!("handled before the database is opened"),
    };
    database.close().await;
    outcome
}

/// Runs a log follower until shutdown, restarting it after a pause when it fails: followers keep
/// checkpoints, so a restart resumes where the failed run stopped.
fn supervise<F, Fut, E>(name: &'static str, mut shutdown: watch::Receiver<bool>, mut run: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        loop {
            match run(shutdown.clone()).await {
                Ok(()) => return,
                Err(e) => tracing::error!(error = %e, "{name} stopped; restarting from its checkpoint in 2 s"),
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
        }
    })
}

async fn migrate(database: &Database) -> anyhow::Result<()> {
    store::PgEventStore::migrate(&database.config).await.context("migrating the database")?;
    tracing::info!("database migrated");
    Ok(())
}

async fn serve(settings: &Settings, database: &Database) -> anyhow::Result<()> {
    migrate(database).await?;
    let store =
        store::PgEventStore::connect(database.config.clone(), settings.store_options()).await.context("connecting the event store")?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener =
        tokio::net::TcpListener::bind(settings.server.listen).await.with_context(|| format!("binding {}", settings.server.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving the API");
    let mut api_shutdown = shutdown_rx.clone();
    let runners = std::sync::Arc::new(projections::Runners::start(
        store.clone(),
        database.config.clone(),
        projections::projection::all(),
        projections::RunnerOptions::default(),
    ));
    // Acts on recorded inbound texts; restarted after a pause if it fails (its checkpoint makes
    // that safe).
    let processor = gateways::sms::processor::SmsProcessor::new(store.clone());
    let sms = supervise("the SMS processor", shutdown_rx.clone(), move |stop| {
        let processor = processor.clone();
        async move { processor.run(stop).await }
    });
    // Texts what is said in bridged rooms from elsewhere (IRC, the bot) to their SMS members.
    let bridge = gateways::sms::bridge::SmsBridge::new(store.clone());
    let bridge = supervise("the SMS bridge", shutdown_rx.clone(), move |stop| {
        let bridge = bridge.clone();
        async move { bridge.run(stop).await }
    });
    let outbound = match (&settings.twilio.account_sid, &settings.api.twilio_auth_token) {
        (Some(account_sid), Some(token)) => {
            let client = gateways::sms::twilio::TwilioClient::new(gateways::sms::twilio::TwilioConfig {
                base_url: settings.twilio.base_url.clone(),
                account_sid: account_sid.clone(),
                auth_token: token.expose().to_owned(),
                status_callback: Some(format!("{}/sms/twilio/status", settings.api.public_url.trim_end_matches('/'))),
                timeout: std::time::Duration::from_secs(10),
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let options = gateways::sms::outbound::OutboundOptions {
                concurrency: settings.twilio.concurrency.max(1),
                per_number_per_second: Some(settings.twilio.messages_per_second).filter(|r| *r > 0.0),
                ..Default::default()
            };
            let sender = gateways::sms::outbound::DeliverySender::new(store.clone(), client, options);
            Some(supervise("the SMS sender", shutdown_rx.clone(), move |stop| {
                let sender = sender.clone();
                async move { sender.run(stop).await }
            }))
        }
        _ => {
            tracing::info!("outbound SMS is off: set twilio.account_sid and api.twilio_auth_token to send");
            None
        }
    };
    let irc = match settings.irc.bot_settings(&settings.api.public_url) {
        Some(irc_settings) => {
            if let Some(channel) = &settings.irc.demo_channel {
                gateways::irc::demo::ensure_channel(&store, channel).await.context("binding the demo channel")?;
            }
            let bot = gateways::irc::bot::Bot::start(irc_settings, store.clone(), projections::ReadModels::new(store.pool().clone()));
            let connection = tokio::spawn(gateways::irc::connection::run(bot.clone(), shutdown_rx.clone()));
            let relay_store = store.clone();
            let relay = supervise("the IRC relay", shutdown_rx.clone(), move |stop| {
                gateways::irc::relay::run(bot.clone(), relay_store.clone(), stop)
            });
            Some((connection, relay))
        }
        None => {
            tracing::info!("the IRC bot is off: set irc.server to connect");
            None
        }
    };
    api::metrics::install();
    let closing = store.clone();
    let app = api::App::new(store, Some(runners.clone()), settings.api.clone()).map_err(|e| anyhow::anyhow!(e.message()))?;
    let mut api = tokio::spawn(api::serve(listener, app, async move {
        let _ = api_shutdown.wait_for(|stop| *stop).await;
    }));

    let outcome = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
            match tokio::time::timeout(std::time::Duration::from_secs(10), &mut api).await {
                Ok(stopped) => task_outcome("the API", stopped),
                Err(_) => Err(anyhow::anyhow!("the API did not stop within 10 s")),
            }
        }
        stopped = &mut api => {
            let _ = shutdown_tx.send(true);
            task_outcome("the API", stopped).and(Err(anyhow::anyhow!("the API stopped unexpectedly")))
        }
    };
    let _ = sms.await;
    let _ = bridge.await;
    if let Some((connection, relay)) = irc {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), connection).await;
        let _ = relay.await;
    }
    if let Some(outbound) = outbound {
        let _ = outbound.await;
    }
    runners.stop().await;
    closing.close();
    outcome
}

/// Names the task that stopped and why.
fn task_outcome<E>(name: &str, stopped: Result<Result<(), E>, tokio::task::JoinError>) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match stopped {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!("{name} stopped with an error"))),
        Err(e) => Err(anyhow::Error::new(e).context(format!("{name} task panicked"))),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
