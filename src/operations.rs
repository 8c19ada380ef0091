//! `switchboard projections status`, `rebuild`, `log copy`, `log digest`, `admin grant`, `sms`:
//! operating the read models and the log.

use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use store::PgEventStore;

use crate::database::{Database, connect_backend, connect_store};
use crate::settings::Settings;

pub async fn status(settings: &Settings, database: &Database) -> anyhow::Result<()> {
    PgEventStore::migrate(&database.config).await?;
    let client = projections::db::connect(&database.config).await?;
    let reports = projections::status::report(&client, settings.store.backend, &projections::projection::all()).await?;
    println!("{:<14} {:>7} {:>4} {:<9} {:>10} {:>9}  POSITION", "PROJECTION", "VERSION", "GEN", "STATE", "LAG EVENTS", "LAG SECS");
    for r in &reports {
        let version = match r.live_version {
            Some(live) if live != r.version => format!("{live}→{}", r.version),
            _ => r.version.to_string(),
        };
        let generation = r.generation.map_or("-".to_string(), |g| g.to_string());
        println!(
            "{:<14} {:>7} {:>4} {:<9} {:>10} {:>9.1}  {}",
            r.name, version, generation, r.state, r.lag_events, r.lag_seconds, r.position
        );
        if let Some(error) = &r.error {
            println!("  error: {error}");
        }
    }
    Ok(())
}

pub async fn rebuild(settings: &Settings, database: &Database, names: &[String], page: usize) -> anyhow::Result<()> {
    let selected = projections::projection::select(names)?;
    let store = connect_store(settings, &database.config).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} events, {per_sec}, ETA {eta}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("rebuilding {}", selected.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")));
    bar.enable_steady_tick(Duration::from_millis(200));
    let options = projections::BuildOptions { page: page.max(1) };
    let switched = projections::rebuild(&store, &database.config, &selected, &options, |progress| {
        bar.set_length(progress.total.max(progress.processed));
        bar.set_position(progress.processed);
    })
    .await;
    bar.finish_and_clear();
    let switched = switched?;
    for (name, generation) in switched {
        println!("{name}: generation {generation} is live");
    }
    Ok(())
}

/// `switchboard schema [--write [FILE]]`: the GraphQL SDL, printed or written.
pub fn schema(write: Option<&std::path::Path>) -> anyhow::Result<()> {
    let sdl = api::graphql::sdl();
    match write {
        None => print!("{sdl}"),
        Some(path) => {
            std::fs::write(path, &sdl).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `switchboard admin grant <nick> <level>`: sets a level as the system (bypassing the rank
/// rules), e.g. to make the first superuser when sign-up does not.
pub async fn grant(settings: &Settings, database: &Database, nick: &str, level: &str) -> anyhow::Result<()> {
    use domain::{Level, Metadata, Nick, NickReservation, StreamName, User, UserCommand};
    let level = match level.parse::<u8>() {
        Ok(n) => Level::try_from(n).map_err(|e| anyhow::anyhow!("{e}"))?,
        Err(_) => *Level::ALL
            .iter()
            .find(|l| l.name().eq_ignore_ascii_case(level))
            .ok_or_else(|| anyhow::anyhow!("unknown level {level:?}: use 0-5 or guest, member, voice, operator, staff, superuser"))?,
    };
    let nick = Nick::parse(nick).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = connect_store(settings, &database.config).await?;
    let executor = store::CommandExecutor::new(std::sync::Arc::new(store.clone()));
    let (reservation, _) = executor.load::<NickReservation>(&StreamName::nick(&nick.casefold())).await?;
    let user_id = reservation.holder.ok_or_else(|| anyhow::anyhow!("nobody is called {nick}"))?;
    let done = executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::ChangeLevel { to: level, caller_level: Level::Superuser },
            Metadata::system(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if done.events.is_empty() {
        println!("{nick} is already {} ({})", level.as_u8(), level.name());
    } else {
        println!("{nick} is now {} ({}); log position {}", level.as_u8(), level.name(), done.position());
    }
    Ok(())
}

/// `switchboard sms --from … --to … "<text>"`: posts a text to the webhook signed exactly as
/// Twilio signs it (over `api.public_url` + `/sms/twilio`), and prints the answer.
pub async fn send_sms(settings: &Settings, from: &str, to: &str, body: &str, url: Option<&str>) -> anyhow::Result<()> {
    let token = settings
        .api
        .twilio_auth_token
        .as_ref()
        .context("set api.twilio_auth_token (SWITCHBOARD_API__TWILIO_AUTH_TOKEN) to the token the server uses")?;
    let signed_url = format!("{}/sms/twilio", settings.api.public_url.trim_end_matches('/'));
    let post_url = url.map(|u| format!("{}/sms/twilio", u.trim_end_matches('/'))).unwrap_or_else(|| signed_url.clone());
    // A Twilio-shaped SID, unique per call (a repeat of the same SID would be ignored).
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let params = vec![
        ("MessageSid".to_owned(), sid.clone()),
        ("From".to_owned(), from.to_owned()),
        ("To".to_owned(), to.to_owned()),
        ("Body".to_owned(), body.to_owned()),
    ];
    let signature = gateways::sms::signature::expected_signature(token.expose(), &signed_url, &params);
    let response = reqwest::Client::new().post(&post_url).header("X-Twilio-Signature", signature).form(&params).send().await?;
    let status = response.status();
    println!("{status} {}", response.text().await?);
    println!("MessageSid {sid}: replies appear as deliveries (GraphQL `deliveries`) and, with Twilio configured, on the phone");
    anyhow::ensure!(status.is_success(), "the webhook refused the text");
    Ok(())
}

/// `switchboard twilio configure <number>`: makes the Twilio account post the number's incoming
/// texts to this server (`{api.public_url}/sms/twilio`, by POST), which is where signatures are
/// checked. Changes nothing when it already does. Delivery status callbacks need no set-up:
/// every message sent names its own.
pub async fn twilio_configure(settings: &Settings, number: &str) -> anyhow::Result<()> {
    let number = domain::PhoneNumber::parse(number.trim()).map_err(|e| anyhow::anyhow!("{number:?}: {e}"))?;
    let twilio = settings
        .twilio_client()
        .context("set twilio.account_sid and api.twilio_auth_token (SWITCHBOARD_API__TWILIO_AUTH_TOKEN) to the account's")?
        .context("setting up the Twilio client")?;
    let url = api::sms::inbound_url(&settings.api.public_url);
    match twilio.point_number_at(number.as_str(), &url).await.with_context(|| format!("configuring {number} in Twilio"))? {
        gateways::sms::twilio::WebhookChange::Unchanged(n) => {
            println!("{number} ({}) already posts its texts to {url}: nothing changed", n.sid)
        }
        gateways::sms::twilio::WebhookChange::Changed { before, now } => {
            println!("{number} ({}) now posts its texts to {url} (before: {})", now.sid, before.as_deref().unwrap_or("nowhere"))
        }
    }
    println!("bind it to a room (GraphQL bindSmsNumber, or the desk) for its texts to reach one");
    Ok(())
}

/// `switchboard log copy --from … --to …`: copies the log from one backend to the other (both
/// as the settings describe them), resuming where the target stands, with a progress bar; then
/// digests both logs and fails unless they hold the same events.
pub async fn log_copy(
    settings: &Settings,
    database: &Database,
    from: store::Backend,
    to: store::Backend,
    page: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(from != to, "--from and --to name the same backend ({from})");
    let source = connect_backend(settings, &database.config, from).await.with_context(|| format!("opening the {from} log"))?;
    let target = connect_backend(settings, &database.config, to).await.with_context(|| format!("opening the {to} log"))?;
    let total = count_events(&source).await?;
    let bar = progress_bar(total, &format!("copying {from} → {to}"));
    let copied = store::copy::copy_log(&source, &target, page.max(1), |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let copied = copied?;
    println!("copied {} events ({} were there already)", copied.copied, copied.already_there);
    let head = store::EventStore::head(&target).await?;
    target.wait_until_catalogued(head, Duration::from_secs(600)).await.context("waiting for the target's event index")?;
    let (source_digest, target_digest) =
        (digest(&source, &from.to_string(), total, page).await?, digest(&target, &to.to_string(), total, page).await?);
    println!("{from:<9} {:>10} events  sha256 {}", source_digest.events, source_digest.sha256);
    println!("{to:<9} {:>10} events  sha256 {}", target_digest.events, target_digest.sha256);
    anyhow::ensure!(source_digest == target_digest, "the two logs differ: do not switch [store] backend; run the copy again to resume");
    println!("the logs are equal: set [store] backend = \"{to}\", then `switchboard rebuild` to fold the read models from it");
    source.close();
    target.close();
    Ok(())
}

/// `switchboard log digest`: the number of events in the log and their digest (as `log copy`
/// compares them), for the configured backend.
pub async fn log_digest(settings: &Settings, database: &Database, page: usize) -> anyhow::Result<()> {
    let store = connect_store(settings, &database.config).await?;
    let total = count_events(&store).await?;
    let digest = digest(&store, &settings.store.backend.to_string(), total, page).await?;
    println!("{:<9} {:>10} events  sha256 {}", settings.store.backend, digest.events, digest.sha256);
    store.close();
    Ok(())
}

async fn digest(store: &store::AnyEventStore, name: &str, total: u64, page: usize) -> anyhow::Result<store::copy::LogDigest> {
    let bar = progress_bar(total, &format!("digesting the {name} log"));
    let digest = store::copy::digest_log(store, page.max(1), |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    Ok(digest?)
}

/// Events in a log, counted in its catalogue (for the progress bars).
async fn count_events(store: &store::AnyEventStore) -> anyhow::Result<u64> {
    let client = store.pool().get().await?;
    Ok(store::catalogue::event_count(&client, store.backend()).await?)
}

fn progress_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} events, {per_sec}, ETA {eta}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
