//! The one place that wires Switchboard together: the event store, the projection runners, the
//! SMS and IRC gateways and the HTTP API. `switchboard serve`, the binary's tests and the
//! benchmarks all start the application through [`Application::build`].
//!
//! Each long-running part is a named task. A part that fails on something it can recover from
//! (a log follower losing its database connection) is restarted from its checkpoint and the
//! failure is logged with its name; a part that ends on its own or panics stops the whole
//! process, with its name and cause, so nothing dies silently and a service manager can restart
//! the process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::{Id, JoinSet};

use crate::settings::Settings;

/// Which optional parts to start beyond the API and the projections. The IRC bot and the SMS
/// sender also need their settings (`irc.server`; `twilio.account_sid` and
/// `api.twilio_auth_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The SMS processor: acts on inbound texts.
    pub sms: bool,
    /// The SMS bridge: texts what is said in a room from elsewhere to its SMS members.
    pub sms_bridge: bool,
    /// The outbound SMS sender.
    pub sms_sender: bool,
    /// The IRC bot (connection and relay).
    pub irc: bool,
}

impl Parts {
    /// Every part the settings configure: what `switchboard serve` runs.
    pub const ALL: Parts = Parts { sms: true, sms_bridge: true, sms_sender: true, irc: true };
    /// Only the API and the projections (tests that drive gateways themselves).
    pub const API_ONLY: Parts = Parts { sms: false, sms_bridge: false, sms_sender: false, irc: false };
}

/// What the parts are built from. The API gets the store as chosen (its audit log and readiness
/// need more than the trait); the gateways only append and read, so they get the log behind the
/// backend-neutral trait, and the read models.
struct Wiring {
    store: store::AnyEventStore,
    log: store::SharedStore,
    read: projections::ReadModels,
    runners: Arc<projections::Runners>,
}

/// Why a part ended.
type PartOutcome = anyhow::Result<()>;

/// The wired application, its parts running, until [`run_until`](Self::run_until) stops it.
pub struct Application {
    store: store::AnyEventStore,
    runners: Arc<projections::Runners>,
    api: Arc<api::App>,
    irc_bot: Option<gateways::irc::bot::Bot>,
    address: SocketAddr,
    parts: Running,
    shutdown: watch::Sender<bool>,
    shutdown_timeout: Duration,
}

/// The running parts, each known by its name.
struct Running {
    tasks: JoinSet<PartOutcome>,
    names: std::collections::HashMap<Id, &'static str>,
}

impl Running {
    fn spawn(&mut self, name: &'static str, part: impl Future<Output = PartOutcome> + Send + 'static) {
        let handle = self.tasks.spawn(part);
        self.names.insert(handle.id(), name);
        tracing::debug!(part = name, "started");
    }

    /// The next part to end, with its name and why.
    async fn next_ended(&mut self) -> Option<(&'static str, PartOutcome)> {
        let ended = self.tasks.join_next_with_id().await?;
        Some(match ended {
            Ok((id, outcome)) => (self.name(id), outcome),
            Err(e) => {
                let name = self.name(e.id());
                let cause = if e.is_panic() { "panicked" } else { "was cancelled" };
                (name, Err(anyhow::anyhow!("{name} {cause}")))
            }
        })
    }

    fn name(&mut self, id: Id) -> &'static str {
        self.names.remove(&id).unwrap_or("a part")
    }
}

impl Application {
    /// Migrates the database, connects the store `[store] backend` names, binds the HTTP listener and starts every part
    /// the settings turn on. Errors name what could not be set up, with the cause.
    pub async fn build(settings: &Settings, database: store::PgConfig) -> anyhow::Result<Self> {
        Self::build_parts(settings, database, Parts::ALL).await
    }

    /// As [`build`](Self::build), starting only the chosen optional parts.
    pub async fn build_parts(settings: &Settings, database: store::PgConfig, enabled: Parts) -> anyhow::Result<Self> {
        let store = crate::database::connect_store(settings, &database).await?;
        let listener = tokio::net::TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("binding the HTTP listener to {}", settings.server.listen))?;
        let address = listener.local_addr().context("reading the HTTP listener's address")?;
        let metrics_listener = match settings.api.metrics_listen {
            Some(at) => Some(tokio::net::TcpListener::bind(at).await.with_context(|| format!("binding the metrics listener to {at}"))?),
            None => None,
        };

        let twilio = match settings.twilio_client().filter(|_| enabled.sms_sender) {
            Some(client) => Some(client.context("setting up the Twilio client")?),
            None => None,
        };
        let (shutdown, stop) = watch::channel(false);
        let runners =
            Arc::new(projections::Runners::start(store.clone(), database, projections::projection::all(), settings.runner_options()));
        let mut parts = Running { tasks: JoinSet::new(), names: Default::default() };
        let wiring = Wiring {
            store: store.clone(),
            log: Arc::new(store.clone()),
            read: projections::ReadModels::new(store.pool().clone(), store.backend()),
            runners: runners.clone(),
        };
        let started = Self::start_parts(settings, &wiring, enabled, twilio, &stop, &mut parts).await;
        let (api, irc_bot) = match started {
            Ok(started) => started,
            Err(e) => {
                // Nothing is left running behind an error: the spawned parts end with `parts`.
                let _ = shutdown.send(true);
                runners.stop().await;
                store.close();
                return Err(e);
            }
        };
        let mut api_stop = stop.clone();
        let routes = api::router(api.clone()).merge(web::router(api.clone(), settings.web_site()));
        let serving = api::serve(listener, routes, async move {
            let _ = api_stop.wait_for(|stop| *stop).await;
        });
        parts.spawn("the API", async move { serving.await.context("serving HTTP") });
        tracing::info!(%address, "serving the API");
        if let Some(listener) = metrics_listener {
            let mut metrics_stop = stop.clone();
            let serving = api::serve_metrics(listener, api.clone(), async move {
                let _ = metrics_stop.wait_for(|stop| *stop).await;
            });
            parts.spawn("the metrics endpoint", async move { serving.await.context("serving /metrics") });
        }

        Ok(Self {
            store,
            runners,
            api,
            irc_bot,
            address,
            parts,
            shutdown,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
        })
    }

    /// Sets up the API and starts the enabled gateways' parts.
    async fn start_parts(
        settings: &Settings,
        wiring: &Wiring,
        enabled: Parts,
        twilio: Option<gateways::sms::twilio::TwilioClient>,
        stop: &watch::Receiver<bool>,
        parts: &mut Running,
    ) -> anyhow::Result<(Arc<api::App>, Option<gateways::irc::bot::Bot>)> {
        api::metrics::install();
        let phone_codes = settings.phone_code_texter().context("setting up the texting of phone codes")?;
        // The bot is one name everywhere: what `sendToRoom` and the desk record is its IRC nick.
        let api_settings = api::ApiSettings { bot_nick: settings.irc.nick.clone(), ..settings.api.clone() };
        let account = settings.twilio_client().transpose().context("setting up the Twilio client")?;
        let api = api::App::with_twilio(wiring.store.clone(), Some(wiring.runners.clone()), api_settings, account, phone_codes)
            .context("setting up the API")?;
        let restart_delay = Duration::from_millis(settings.server.restart_delay_ms);
        if enabled.sms {
            let processor =
                gateways::sms::processor::SmsProcessor::new(wiring.log.clone(), wiring.read.clone()).with_limits(settings.cost_limits());
            parts.spawn(
                "the SMS processor",
                restarting("the SMS processor", restart_delay, stop.clone(), move |stop| {
                    let processor = processor.clone();
                    async move { processor.run(stop).await }
                }),
            );
        }
        if enabled.sms_bridge {
            let bridge = gateways::sms::bridge::SmsBridge::new(wiring.log.clone(), wiring.read.clone()).with_limits(settings.cost_limits());
            parts.spawn(
                "the SMS bridge",
                restarting("the SMS bridge", restart_delay, stop.clone(), move |stop| {
                    let bridge = bridge.clone();
                    async move { bridge.run(stop).await }
                }),
            );
        }
        match twilio {
            Some(client) => {
                let sender = gateways::sms::outbound::DeliverySender::new(wiring.log.clone(), client, settings.outbound_options());
                parts.spawn(
                    "the SMS sender",
                    restarting("the SMS sender", restart_delay, stop.clone(), move |stop| {
                        let sender = sender.clone();
                        async move { sender.run(stop).await }
                    }),
                );
            }
            None => tracing::info!("outbound SMS is off: set twilio.account_sid and api.twilio_auth_token to send"),
        }
        let irc_bot =
            match settings.irc.bot_settings(&settings.api.public_url).context("checking the IRC settings")?.filter(|_| enabled.irc) {
                Some(irc) => {
                    if let Some(channel) = &settings.irc.demo_channel {
                        gateways::irc::demo::ensure_channel(&wiring.log, &wiring.read, channel)
                            .await
                            .context("binding the demo channel")?;
                    }
                    let bot = gateways::irc::bot::Bot::start(irc, wiring.log.clone(), wiring.read.clone());
                    let connection = gateways::irc::connection::run(bot.clone(), stop.clone());
                    parts.spawn("the IRC connection", async move {
                        connection.await;
                        Ok(())
                    });
                    let relay_store = wiring.log.clone();
                    parts.spawn(
                        "the IRC relay",
                        restarting("the IRC relay", restart_delay, stop.clone(), {
                            let bot = bot.clone();
                            move |stop| gateways::irc::relay::run(bot.clone(), relay_store.clone(), stop)
                        }),
                    );
                    Some(bot)
                }
                None => {
                    tracing::info!("the IRC bot is off: set irc.server to connect");
                    None
                }
            };
        Ok((api, irc_bot))
    }

    /// Where the HTTP API listens (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn store(&self) -> &store::AnyEventStore {
        &self.store
    }

    pub fn runners(&self) -> &Arc<projections::Runners> {
        &self.runners
    }

    pub fn api(&self) -> &Arc<api::App> {
        &self.api
    }

    /// The IRC bot, when it runs (`irc.server` set and the part enabled).
    pub fn irc_bot(&self) -> Option<&gateways::irc::bot::Bot> {
        self.irc_bot.as_ref()
    }

    /// Runs until `signal` completes or a part ends, then stops every part (each within the
    /// shutdown timeout), the projections and the store. A part that ended on its own makes
    /// this an error naming it.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        let outcome = self.parts.run_until(signal, &self.shutdown, self.shutdown_timeout).await;
        self.runners.stop().await;
        self.store.close();
        outcome
    }
}

impl Running {
    /// Waits for `signal` or for the first part to end, then asks every part to stop and waits
    /// for them, at most `timeout`.
    async fn run_until(
        &mut self,
        signal: impl Future<Output = ()>,
        shutdown: &watch::Sender<bool>,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let outcome = tokio::select! {
            _ = signal => {
                tracing::info!("shutting down");
                Ok(())
            }
            ended = self.next_ended() => match ended {
                Some((name, Ok(()))) => Err(anyhow::anyhow!("{name} stopped unexpectedly")),
                Some((name, Err(e))) => Err(e.context(format!("{name} failed"))),
                None => Err(anyhow::anyhow!("no part is running")),
            },
        };
        if let Err(e) = &outcome {
            tracing::error!(error = format!("{e:#}"), "stopping the process");
        }
        let _ = shutdown.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next_ended()).await {
                Ok(Some((_, Ok(())))) => {}
                Ok(Some((name, Err(e)))) => {
                    tracing::warn!(part = name, error = format!("{e:#}"), "part ended with an error while stopping")
                }
                Ok(None) => break,
                Err(_) => {
                    let waiting: Vec<_> = self.names.values().copied().collect();
                    tracing::warn!(parts = ?waiting, ?timeout, "parts did not stop in time; abandoning them");
                    self.tasks.abort_all();
                    while self.next_ended().await.is_some() {}
                    break;
                }
            }
        }
        outcome
    }
}

/// Runs a log follower until shutdown, restarting it after `delay` when it fails: followers keep
/// checkpoints, so a restart resumes where the failed run stopped. Returns when shutdown is
/// asked for, or when the follower ends on its own without it (which stops the process).
async fn restarting<F, Fut, E>(name: &'static str, delay: Duration, mut shutdown: watch::Receiver<bool>, mut run: F) -> PartOutcome
where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    loop {
        match run(shutdown.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => tracing::error!(part = name, error = %e, "failed; restarting from its checkpoint in {delay:?}"),
        }
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> (Running, watch::Sender<bool>, watch::Receiver<bool>) {
        let (shutdown, stop) = watch::channel(false);
        (Running { tasks: JoinSet::new(), names: Default::default() }, shutdown, stop)
    }

    /// A part that runs until it is asked to stop, then records that it stopped.
    async fn until_stopped(mut stop: watch::Receiver<bool>, stopped: Arc<std::sync::atomic::AtomicBool>) -> PartOutcome {
        let _ = stop.wait_for(|s| *s).await;
        stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    #[tokio::test]
    async fn a_part_that_ends_on_its_own_stops_the_others_and_is_named() {
        let (mut parts, shutdown, stop) = running();
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        parts.spawn("the API", until_stopped(stop.clone(), stopped.clone()));
        parts.spawn("the SMS bridge", async { Ok(()) });
        let outcome = parts.run_until(std::future::pending(), &shutdown, Duration::from_secs(5)).await;
        assert_eq!(outcome.unwrap_err().to_string(), "the SMS bridge stopped unexpectedly");
        assert!(stopped.load(std::sync::atomic::Ordering::SeqCst), "the other parts were asked to stop and did");
    }

    #[tokio::test]
    async fn a_failing_part_is_named_with_its_cause() {
        let (mut parts, shutdown, stop) = running();
        parts.spawn("the API", until_stopped(stop.clone(), Default::default()));
        parts.spawn("the IRC relay", async { Err(anyhow::anyhow!("connection refused")) });
        let outcome = parts.run_until(std::future::pending(), &shutdown, Duration::from_secs(5)).await;
        assert_eq!(format!("{:#}", outcome.unwrap_err()), "the IRC relay failed: connection refused");
    }

    #[tokio::test]
    async fn a_panicking_part_is_named() {
        let (mut parts, shutdown, _stop) = running();
        parts.spawn("the SMS processor", async { panic!("a bug") });
        let outcome = parts.run_until(std::future::pending(), &shutdown, Duration::from_secs(5)).await;
        assert_eq!(format!("{:#}", outcome.unwrap_err()), "the SMS processor failed: the SMS processor panicked");
    }

    #[tokio::test]
    async fn the_signal_stops_every_part_and_a_part_that_hangs_is_abandoned_after_the_timeout() {
        let (mut parts, shutdown, stop) = running();
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        parts.spawn("the API", until_stopped(stop.clone(), stopped.clone()));
        parts.spawn("the IRC connection", std::future::pending());
        let started = tokio::time::Instant::now();
        let outcome = parts.run_until(async {}, &shutdown, Duration::from_millis(200)).await;
        assert!(outcome.is_ok(), "a requested shutdown is not an error: {outcome:?}");
        assert!(stopped.load(std::sync::atomic::Ordering::SeqCst));
        assert!(started.elapsed() >= Duration::from_millis(200) && started.elapsed() < Duration::from_secs(5));
        assert!(parts.tasks.is_empty(), "the hanging part was aborted");
    }

    #[tokio::test]
    async fn a_follower_that_fails_is_restarted_until_shutdown() {
        let (shutdown, stop) = watch::channel(false);
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let follower = tokio::spawn(restarting("the SMS sender", Duration::from_millis(10), stop, move |_| {
            let runs = counted.clone();
            async move {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err::<(), _>("lost the database connection")
            }
        }));
        while runs.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.send(true).unwrap();
        assert!(follower.await.unwrap().is_ok());
    }
}
