//! The connection task, kept thin: connect (TLS, server password and SASL PLAIN optional),
//! join the bound channels with their keys, forward every line to the bot, and when the
//! connection ends, tell the bot (sessions end) and reconnect with exponential backoff and
//! jitter. Nick fallback on 433 is the `irc` crate's; so is the outgoing flood control
//! (`burst_messages` per `burst_window`). CTCP is answered by the bot (bounded replies).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use irc::client::prelude::{Client, Command, Config, Response};
use irc::proto::CapSubCommand;
use tokio::sync::watch;
use tokio::time::Instant;

use super::bot::Bot;
use super::input::translate;
use super::settings::IrcSettings;

/// A connection that lasted this long was healthy: the next failure starts the backoff afresh.
const HEALTHY: Duration = Duration::from_secs(60);
/// On shutdown, how long the connection waits for the relay to finish the run in hand (its
/// lines written, the server's answer read), then for the server to close after QUIT, then for
/// the room workers to append what was heard. Together within `server.shutdown_timeout_secs`'
/// default of 10 s.
const RELAY_DRAIN: Duration = Duration::from_secs(4);
const QUIT_DRAIN: Duration = Duration::from_secs(2);
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Irc(#[from] irc::error::Error),
    #[error("the server closed the connection")]
    Closed,
}

/// Runs the bot's connection until `shutdown` turns true, reconnecting as needed.
pub async fn run(bot: Bot, mut shutdown: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let outcome = connect_once(&bot, &mut shutdown).await;
        bot.disconnected();
        match outcome {
            Ok(()) => {
                if tokio::time::timeout(SETTLE, bot.settle()).await.is_err() {
                    tracing::warn!("lines heard on IRC were still being recorded at shutdown");
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, server = %bot.settings().server, "IRC connection lost"),
        }
        if started.elapsed() >= HEALTHY {
            failures = 0;
        }
        let delay = backoff(bot.settings(), failures);
        failures = failures.saturating_add(1);
        tracing::info!(delay_ms = delay.as_millis() as u64, "reconnecting to IRC");
        metrics::counter!("switchboard_irc_reconnects_total").increment(1);
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Exponential backoff with "equal jitter": half the step fixed, half random, so a fleet of
/// bots (or a bot and its restarted server) do not retry in lockstep.
pub fn backoff(settings: &IrcSettings, failures: u32) -> Duration {
    let step = settings.reconnect_min.saturating_mul(1u32 << failures.min(16)).min(settings.reconnect_max);
    let half = step / 2;
    half + half.mul_f64(rand::random::<f64>())
}

fn config(settings: &IrcSettings, channels: &[projections::queries::BoundChannel]) -> Config {
    Config {
        nickname: Some(settings.nick.clone()),
        alt_nicks: settings.alt_nicks(),
        username: Some("switchboard".into()),
        realname: Some("Switchboard bot".into()),
        server: Some(settings.server.clone()),
        port: Some(settings.port),
        use_tls: Some(settings.tls),
        password: if settings.sasl.is_some() { None } else { settings.server_password.as_ref().map(|p| p.expose().to_owned()) },
        channels: channels.iter().map(|c| c.channel.clone()).collect(),
        channel_keys: channels.iter().filter_map(|c| Some((c.channel.clone(), c.key.clone()?))).collect::<HashMap<_, _>>(),
        ping_time: Some(60),
        ping_timeout: Some(30),
        burst_window_length: Some(settings.burst_window.as_secs().max(1) as u32),
        max_messages_in_burst: Some(settings.burst_messages),
        ..Config::default()
    }
}

async fn connect_once(bot: &Bot, shutdown: &mut watch::Receiver<bool>) -> Result<(), ConnectionError> {
    let settings = bot.settings().clone();
    let channels = match bot.load_channels().await {
        Ok(channels) => channels,
        Err(e) => {
            tracing::error!(error = %e, "bound channels not readable; connecting without them");
            Vec::new()
        }
    };
    let mut client = Client::from_config(config(&settings, &channels)).await?;
    match &settings.sasl {
        Some(_) => {
            // SASL PLAIN (IRCv3): ask for the capability before registering; the exchange
            // finishes below, and CAP END lets registration complete.
            client.send(Command::Raw("CAP".into(), vec!["REQ".into(), "sasl".into()]))?;
            if let Some(password) = &settings.server_password {
                client.send(Command::PASS(password.expose().to_owned()))?;
            }
            client.send(Command::NICK(settings.nick.clone()))?;
            client.send(Command::USER("switchboard".into(), "0".into(), "Switchboard bot".into()))?;
        }
        None => client.identify()?,
    }
    let mut stream = client.stream()?;
    bot.connected(client.sender(), &settings.nick);
    tracing::info!(server = %settings.server, port = settings.port, channels = channels.len(), "connected to IRC");
    loop {
        let next = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => None,
            next = stream.next() => Some(next),
        };
        let Some(next) = next else {
            drain(bot, &client, &mut stream).await;
            return Ok(());
        };
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ConnectionError::Closed),
        };
        if let Some((account, password)) = &settings.sasl {
            sasl_step(&client, &message.command, account, password.expose())?;
        }
        handle(bot, &message).await;
    }
}

/// One line from the server: a PONG answers [`Outbox::written`], the rest goes to the bot.
///
/// [`Outbox::written`]: super::outbox::Outbox::written
async fn handle(bot: &Bot, message: &irc::proto::Message) {
    if let Command::PONG(server, token) = &message.command {
        bot.outbox().pong(token.as_deref().unwrap_or(server));
    }
    if let Some(input) = translate(message) {
        bot.dispatch(input).await;
    }
}

/// An orderly stop: the connection keeps reading (so the relay's lines are confirmed and what
/// people say meanwhile is recorded) until the relay has finished the run in hand, then says
/// QUIT and reads on until the server closes the link, each step bounded.
async fn drain(bot: &Bot, client: &Client, stream: &mut irc::client::ClientStream) {
    let mut relays = bot.relay_running();
    let relays_done = async move {
        let _ = relays.wait_for(|running| *running == 0).await;
    };
    if !read_until(bot, stream, relays_done, RELAY_DRAIN).await {
        tracing::warn!("the relay had not finished at shutdown; what it had not written is relayed after the restart");
    }
    let _ = client.send_quit("Switchboard is shutting down");
    read_until(bot, stream, std::future::pending::<()>(), QUIT_DRAIN).await;
}

/// Reads and handles the server's lines until `done` resolves (`true`), the link ends or
/// `within` passes (`false`).
async fn read_until(bot: &Bot, stream: &mut irc::client::ClientStream, done: impl Future<Output = ()>, within: Duration) -> bool {
    let deadline = tokio::time::sleep(within);
    tokio::pin!(done, deadline);
    loop {
        tokio::select! {
            _ = &mut done => return true,
            _ = &mut deadline => return false,
            next = stream.next() => match next {
                Some(Ok(message)) => handle(bot, &message).await,
                _ => return false,
            },
        }
    }
}

fn sasl_step(client: &Client, command: &Command, account: &str, password: &str) -> Result<(), irc::error::Error> {
    match command {
        Command::CAP(_, CapSubCommand::ACK, _, _) => client.send(Command::AUTHENTICATE("PLAIN".into())),
        Command::CAP(_, CapSubCommand::NAK, _, _) => {
            tracing::error!("the server refused SASL; continuing without it");
            client.send(Command::Raw("CAP".into(), vec!["END".into()]))
        }
        Command::AUTHENTICATE(challenge) if challenge == "+" => {
            let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{account}\0{account}\0{password}"));
            client.send(Command::AUTHENTICATE(credentials))
        }
        Command::Response(Response::RPL_SASLSUCCESS, _) => client.send(Command::Raw("CAP".into(), vec!["END".into()])),
        Command::Response(Response::ERR_SASLFAIL | Response::ERR_SASLTOOLONG | Response::ERR_SASLABORT, _) => {
            tracing::error!("SASL authentication failed; check irc.sasl_account and irc.sasl_password");
            client.send(Command::Raw("CAP".into(), vec!["END".into()]))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_bounds_with_jitter() {
        let settings =
            IrcSettings { reconnect_min: Duration::from_secs(1), reconnect_max: Duration::from_secs(60), ..IrcSettings::default() };
        for failures in 0..40 {
            let step = Duration::from_secs(1u64 << failures.min(16)).min(Duration::from_secs(60));
            let delay = backoff(&settings, failures);
            assert!(delay >= step / 2 && delay <= step, "{failures}: {delay:?} within [{:?}, {step:?}]", step / 2);
        }
    }
}
