//! Where the database comes from (the configured URL, or the embedded private cluster), and
//! the event store on it that the settings chose ([`connect_store`]).

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

/// Migrates the database and connects the event store `[store] backend` names: PostgreSQL's own
/// log, or KurrentDB with the database beside it for the read models and the event index.
pub async fn connect_store(settings: &Settings, database: &PgConfig) -> anyhow::Result<store::AnyEventStore> {
    connect_backend(settings, database, settings.store.backend).await
}

/// As [`connect_store`], for the named backend whatever `[store] backend` says (`log copy`
/// opens both).
pub async fn connect_backend(settings: &Settings, database: &PgConfig, backend: store::Backend) -> anyhow::Result<store::AnyEventStore> {
    store::PgEventStore::migrate(database).await.context("migrating the database")?;
    match backend {
        store::Backend::Postgres => {
            let store =
                store::PgEventStore::connect(database.clone(), settings.store_options()).await.context("connecting the event store")?;
            Ok(store.into())
        }
        store::Backend::KurrentDb => connect_kurrentdb(settings, database).await,
    }
}

#[cfg(feature = "kurrentdb")]
async fn connect_kurrentdb(settings: &Settings, database: &PgConfig) -> anyhow::Result<store::AnyEventStore> {
    let kurrent = &settings.store.kurrentdb;
    let url = kurrent.url.as_ref().context("store.backend is kurrentdb: set store.kurrentdb.url to the cluster's connection string")?;
    let pool = store::postgres::connect_pool(database, &settings.store_options()).await.context("connecting to the database")?;
    let options = store::KurrentOptions {
        url: url.expose().to_owned(),
        deadline: std::time::Duration::from_millis(kurrent.deadline_ms.max(1)),
        page: kurrent.page.max(1),
    };
    // The connection string may carry a password: the error names the setting, not the value.
    let store = store::KurrentEventStore::connect(options, pool).context("store.kurrentdb.url")?;
    tracing::info!("the log is in KurrentDB");
    Ok(store.into())
}

#[cfg(not(feature = "kurrentdb"))]
async fn connect_kurrentdb(_: &Settings, _: &PgConfig) -> anyhow::Result<store::AnyEventStore> {
    anyhow::bail!("store.backend is kurrentdb, but this build has no KurrentDB backend (cargo feature `kurrentdb`)")
}
