//! A fresh, migrated PostgreSQL database per test ([`TestDatabase`]).
//!
//! The PostgreSQL server comes from `SWITCHBOARD_TEST_DATABASE_URL` (or `DATABASE_URL`);
//! `scripts/test` starts a private one and sets it. Each test gets its own database, cloned from
//! a template that is migrated once per migration set (cloning is much faster than migrating).

use std::str::FromStr;

use tokio_postgres::NoTls;

use store::postgres::{PgConfig, PgEventStore, PgStoreOptions};

/// A database that exists for one test and is dropped afterwards.
pub struct TestDatabase {
    /// As a test cluster is reached: `sslmode` as the URL says (`prefer` unless set).
    pub config: PgConfig,
    pub name: String,
    admin: tokio_postgres::Config,
}

fn admin_config() -> tokio_postgres::Config {
    let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL").or_else(|_| std::env::var("DATABASE_URL")).expect(
        "integration tests need PostgreSQL: run them with `scripts/test`, or set \
             SWITCHBOARD_TEST_DATABASE_URL to a server where the user may create databases",
    );
    tokio_postgres::Config::from_str(&url).expect("SWITCHBOARD_TEST_DATABASE_URL is not a valid PostgreSQL URL")
}

/// Fingerprint of the embedded migrations: a template is reused only for the same set.
fn migrations_fingerprint() -> String {
    let runner = store::postgres::embedded_runner();
    let mut hasher = std::hash::DefaultHasher::new();
    for m in runner.get_migrations() {
        std::hash::Hash::hash(&(m.version(), m.name(), m.checksum()), &mut hasher);
    }
    format!("{:016x}", std::hash::Hasher::finish(&hasher))
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin = admin_config();
        let (client, conn) = admin.connect(NoTls).await.expect("cannot connect to the test PostgreSQL server");
        tokio::spawn(conn);
        let template = format!("sb_template_{}", migrations_fingerprint());
        // Test processes run in parallel (nextest): one of them builds the template.
        client.execute("SELECT pg_advisory_lock(727274)", &[]).await.unwrap();
        let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template]).await.unwrap().is_some();
        if !exists {
            client.batch_execute(&format!("CREATE DATABASE {template}")).await.unwrap();
            let mut config = admin.clone();
            config.dbname(&template);
            PgEventStore::migrate(&config.into()).await.expect("migrations failed on the test template");
        }
        let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
        let created = client.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await;
        client.execute("SELECT pg_advisory_unlock(727274)", &[]).await.unwrap();
        created.expect("cannot create the test database");
        let mut config = admin.clone();
        config.dbname(&name);
        Self { config: config.into(), name, admin }
    }

    /// This database as a PostgreSQL URL, for a child process (`DATABASE_URL`). Test databases
    /// are reached over TCP without a password.
    pub fn url(&self) -> String {
        let host = match &self.config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("test databases are reached over TCP, got {other:?}"),
        };
        format!("postgres://{}@{}:{}/{}", self.config.get_user().unwrap_or("postgres"), host, self.config.get_ports()[0], self.name)
    }

    /// A store on this database with default options.
    pub async fn store(&self) -> PgEventStore {
        self.store_with(PgStoreOptions::default()).await
    }

    pub async fn store_with(&self, options: PgStoreOptions) -> PgEventStore {
        PgEventStore::connect(self.config.clone(), options).await.expect("cannot connect the store")
    }

    /// A plain client on the test database (for assertions and fault injection).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = self.config.connect().await.unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping needs a connection; do it on a thread of its own so it works from inside
        // (and outside) an async runtime. Best effort: scripts/test throws the cluster away.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                let (client, conn) = admin.connect(NoTls).await.ok()?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
            })
        })
        .join();
    }
}
