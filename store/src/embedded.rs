//! The embedded default: a private PostgreSQL cluster under Switchboard's data directory,
//! started from the server binaries installed on the machine and stopped on shutdown.
//!
//! It listens on a Unix socket only (no TCP port), in a directory only the cluster's owner can
//! enter, so nothing else on the machine can reach it. PostgreSQL refuses to run as root; when
//! Switchboard runs as root the cluster runs as the `postgres` system user.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// Name of the database and role inside the private cluster.
pub const DATABASE: &str = "switchboard";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in /usr/lib/postgresql/*/bin \
         or on PATH. Install them (Debian/Ubuntu: `apt-get install postgresql`), or set database.url \
         (or DATABASE_URL) to use an existing server."
    )]
    BinariesNotFound,
    #[error(
        "running as root, but there is no `postgres` system user to own the cluster; install the `postgresql` package or run as an ordinary user"
    )]
    NoUnprivilegedUser,
    #[error("{step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("data directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the private cluster started but does not accept connections: {0}")]
    Connect(String),
}

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<String>,
    /// False when the cluster was already running (another Switchboard process owns it):
    /// we must not stop it on our way out.
    started_here: bool,
}

/// Finds the directory holding `initdb` and `pg_ctl`: the newest /usr/lib/postgresql/N/bin,
/// else PATH.
pub fn find_binaries() -> Result<PathBuf, EmbeddedError> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .ok_or(EmbeddedError::BinariesNotFound)
}

fn is_root() -> bool {
    // /proc/self/status carries the effective uid (third field of `Uid:`); no libc needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name)).then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
    })
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, starts it (or joins the one already running in
    /// that directory) and makes sure the `switchboard` database exists.
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_binaries()?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| EmbeddedError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(io(data_dir))?;
        let cluster_dir = data_dir.join("postgresql");
        let socket_dir = data_dir.join("run");
        std::fs::create_dir_all(&socket_dir).map_err(io(&socket_dir))?;
        let run_as = if is_root() {
            let (uid, gid) = user_ids("postgres").ok_or(EmbeddedError::NoUnprivilegedUser)?;
            for dir in [&data_dir, &socket_dir] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(io(dir))?;
            }
            Some("postgres".to_owned())
        } else {
            None
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&socket_dir))?;

        let mut this = Self { bin_dir, cluster_dir, socket_dir, run_as, started_here: false };
        if !this.cluster_dir.join("PG_VERSION").exists() {
            tracing::info!(dir = %this.cluster_dir.display(), "initialising the private PostgreSQL cluster");
            let cluster = this.cluster_dir.display().to_string();
            this.run("initdb", &["-D", &cluster, "-U", DATABASE, "--auth=trust", "-E", "UTF8", "--locale=C"]).await?;
        }
        if this.run("pg_ctl", &["status", "-D", &this.cluster_dir.display().to_string()]).await.is_ok() {
            tracing::info!("joining the private PostgreSQL cluster that is already running");
        } else {
            let options =
                format!("-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=100", this.socket_dir.display());
            let cluster = this.cluster_dir.display().to_string();
            let log = data_dir.join("postgresql.log").display().to_string();
            this.run("pg_ctl", &["start", "-w", "-t", "60", "-D", &cluster, "-l", &log, "-o", &options]).await?;
            this.started_here = true;
            tracing::info!(socket = %this.socket_dir.display(), "private PostgreSQL cluster started");
        }
        this.ensure_database().await?;
        Ok(this)
    }

    /// Connection settings for the `switchboard` database over the private socket.
    pub fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config.host_path(&self.socket_dir).port(5432).user(DATABASE).dbname(DATABASE).application_name("switchboard");
        config
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let mut admin = self.config();
        admin.dbname("postgres");
        let mut last = String::new();
        for _ in 0..50 {
            match admin.connect(tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    let exists = client
                        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
                        .await
                        .map_err(|e| EmbeddedError::Connect(e.to_string()))?
                        .is_some();
                    if !exists {
                        client
                            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                            .await
                            .map_err(|e| EmbeddedError::Connect(e.to_string()))?;
                    }
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(EmbeddedError::Connect(last))
    }

    /// Stops the cluster if this process started it (fast shutdown: sessions are ended,
    /// committed work is durable).
    pub async fn stop(self) -> Result<(), EmbeddedError> {
        if self.started_here {
            let cluster = self.cluster_dir.display().to_string();
            self.run("pg_ctl", &["stop", "-m", "fast", "-w", "-D", &cluster]).await?;
            tracing::info!("private PostgreSQL cluster stopped");
        }
        Ok(())
    }

    async fn run(&self, program: &'static str, args: &[&str]) -> Result<(), EmbeddedError> {
        let binary = self.bin_dir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        // The cluster's working directory must be readable by its owner.
        command.args(args).current_dir("/");
        let output = command.output().await.map_err(|e| EmbeddedError::Command { step: program, detail: e.to_string() })?;
        if output.status.success() {
            Ok(())
        } else {
            let detail = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            Err(EmbeddedError::Command { step: program, detail: if detail.is_empty() { output.status.to_string() } else { detail } })
        }
    }
}
