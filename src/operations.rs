//! `switchboard projections status` and `switchboard rebuild`: operating the read models.

use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use store::PgEventStore;

use crate::database::Database;
use crate::settings::Settings;

pub async fn status(database: &Database) -> anyhow::Result<()> {
    PgEventStore::migrate(&database.config).await?;
    let client = projections::db::connect(&database.config).await?;
    let reports = projections::status::report(&client, &projections::projection::all()).await?;
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
    PgEventStore::migrate(&database.config).await?;
    let selected = projections::projection::select(names)?;
    let store = PgEventStore::connect(database.config.clone(), settings.store_options()).await.context("connecting the event store")?;
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
