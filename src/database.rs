//! Where the database comes from: the configured URL, or the embedded private cluster.

use std::str::FromStr;

use anyhow::Context as _;
use store::embedded::EmbeddedPostgres;

use crate::settings::Settings;

/// The database in use, and the embedded cluster to stop on the way out (if we started one).
pub struct Database {
    pub config: tokio_postgres::Config,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.database.url {
            Some(url) => {
                // The URL may hold a password: report the problem without echoing the URL.
                let config = tokio_postgres::Config::from_str(url.expose())
                    .map_err(|_| anyhow::anyhow!("database.url is not a valid PostgreSQL URL"))?;
                tracing::info!(hosts = ?config.get_hosts().len(), dbname = ?config.get_dbname(), "using the configured PostgreSQL server");
                Ok(Self { config, embedded: None })
            }
            None => {
                let embedded = EmbeddedPostgres::start(&settings.database.data_dir)
                    .await
                    .with_context(|| format!("starting the embedded PostgreSQL under {}", settings.database.data_dir.display()))?;
                Ok(Self { config: embedded.config(), embedded: Some(embedded) })
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
