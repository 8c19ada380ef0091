//! Where the database comes from: the configured URL, or the embedded private cluster.

use anyhow::Context as _;
use store::PgConfig;
use store::embedded::EmbeddedPostgres;

use crate::settings::Settings;

/// The database in use, and the embedded cluster to stop on the way out (if we started one).
pub struct Database {
    pub config: PgConfig,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.database.url {
            Some(url) => {
                // The URL may hold a password: the errors do not echo it.
                let config = PgConfig::from_url(url.expose(), settings.database.ssl_root_cert.as_deref()).context("database.url")?;
                tracing::info!(
                    hosts = ?config.get_hosts().len(),
                    dbname = ?config.get_dbname(),
                    sslmode = config.tls_mode().as_str(),
                    "using the configured PostgreSQL server"
                );
                Ok(Self { config, embedded: None })
            }
            None => {
                let embedded = EmbeddedPostgres::start(&settings.database.data_dir)
                    .await
                    .with_context(|| format!("starting the embedded PostgreSQL under {}", settings.database.data_dir.display()))?;
                Ok(Self { config: embedded.config().into(), embedded: Some(embedded) })
            }
        }
    }

    pub async fn close(self) {
        if let Some(embedded) = self.embedded
            && let Err(e) = embedded.stop().await
        {
            tracing::error!(error = %e, "could not stop the embedded PostgreSQL");
        }
    }
}
