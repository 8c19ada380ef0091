//! [`Ngircd`]: a private ngIRCd per test, on a free loopback port, with a generated configuration
//! in a temporary directory; it can be stopped and started again on the same port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use std::{fmt, io};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::client::IrcTestClient;
use super::{LOOPBACK, MAX_NICK_LENGTH, NGIRCD_ENV, NGIRCD_PACKAGE, OPER_NAME, OPER_PASSWORD, SERVER_NAME, START_TIMEOUT};

/// Finds the ngIRCd binary: `$SWITCHBOARD_NGIRCD`, then `/usr/sbin/ngircd` (Debian),
/// `/usr/local/sbin/ngircd`, then the `PATH`. The error says which package to install.
pub fn ngircd_binary() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(NGIRCD_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("{NGIRCD_ENV}={} does not name a file", path.display())))
        };
    }
    let standard = [PathBuf::from("/usr/sbin/ngircd"), PathBuf::from("/usr/local/sbin/ngircd")];
    let on_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|dir| dir.join("ngircd")).collect::<Vec<_>>());
    standard.into_iter().chain(on_path.unwrap_or_default()).find(|p| p.is_file()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "ngircd, the IRC server the IRC gateway's tests run against, is not installed: install the \
                 Debian package `{NGIRCD_PACKAGE}` (`apt-get install {NGIRCD_PACKAGE}`), run the tests with \
                 scripts/test (which installs it), or set {NGIRCD_ENV} to its path"
            ),
        )
    })
}

/// A private ngIRCd on 127.0.0.1 (see the [module documentation](crate::irc)). Dropping it kills it.
pub struct Ngircd {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Ngircd {
    /// Starts a server on a free port and returns once it accepts connections.
    pub async fn start() -> io::Result<Self> {
        let binary = ngircd_binary()?;
        let dir = tempfile::Builder::new().prefix("switchboard-ngircd-").tempdir()?;
        // Started as root, ngIRCd runs as `nobody`: let it read its configuration (for REHASH).
        #[cfg(unix)]
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        // An empty include directory, so that no system-wide snippet leaks in.
        std::fs::create_dir(dir.path().join("conf.d"))?;
        let mut server = Self { binary, dir, port: 0, child: None };
        let mut attempts = 0;
        loop {
            // The free port may be taken by someone else before ngIRCd binds it: try another.
            server.port = std::net::TcpListener::bind((LOOPBACK, 0))?.local_addr()?.port();
            match server.spawn().await {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempts < 5 => attempts += 1,
                result => return result.map(|()| server),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address to connect to (always the loopback IPv4 address).
    pub fn host(&self) -> &str {
        LOOPBACK
    }

    /// The server's IRC name ([`SERVER_NAME`]).
    pub fn server_name(&self) -> &str {
        SERVER_NAME
    }

    /// Connects a scripted user to this server (see [`IrcTestClient::connect`]).
    pub async fn client(&self, nick: &str) -> io::Result<IrcTestClient> {
        IrcTestClient::connect_to(self.host(), self.port, nick).await
    }

    /// Whether the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server (SIGKILL): clients see their connection drop without a word, as after a
    /// crash or a network cut. Does nothing when it is not running.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts the server again after [`stop`](Self::stop), on the same port and with the same
    /// configuration, and waits until it accepts connections. Does nothing when it is running.
    pub async fn start_again(&mut self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn().await {
                // Should not happen (ngIRCd sets SO_REUSEADDR), unless another process took the port.
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                result => return result,
            }
        }
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again) on the same port.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        self.start_again().await
    }

    /// The server's log (its console output, every run since [`start`](Self::start)).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("ngircd.log")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("ngircd.conf")
    }

    fn config(&self) -> String {
        let include_dir = self.dir.path().join("conf.d");
        format!(
            "\
[Global]
\tName = {SERVER_NAME}
\tInfo = Switchboard test server
\tAdminInfo1 = Switchboard test suite
\tAdminInfo2 = loopback only
\tAdminEMail = nobody@{SERVER_NAME}
\tListen = {LOOPBACK}
\tPorts = {port}
\tMotdPhrase = Switchboard test server
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = {MAX_NICK_LENGTH}
\tMaxPenaltyTime = 0
\tPingTimeout = 120
\tPongTimeout = 20
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tIncludeDir = {include_dir}
\tOperCanUseMode = yes
[Operator]
\tName = {OPER_NAME}
\tPassword = {OPER_PASSWORD}
",
            port = self.port,
            include_dir = include_dir.display(),
        )
    }

    /// Runs ngIRCd on `self.port` and waits until it listens there. A failure to bind the port is
    /// reported as [`io::ErrorKind::AddrInUse`].
    async fn spawn(&mut self) -> io::Result<()> {
        std::fs::write(self.config_path(), self.config())?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let log_start = log.metadata()?.len() as usize;
        let mut child = Command::new(&self.binary)
            .arg("-n")
            .arg("-f")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", self.binary.display())))?;
        // ngIRCd logs "Now listening on [127.0.0.1]:PORT (socket N)." once it listens: checking
        // for it makes sure the port we then connect to is this server's, not someone else's.
        let listening = format!("Now listening on [{LOOPBACK}]:{} (", self.port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let output = read_from(&self.log_path(), log_start);
            if let Some(status) = child.try_wait()? {
                let kind = if output.contains("Address already in use") { io::ErrorKind::AddrInUse } else { io::ErrorKind::Other };
                return Err(io::Error::new(kind, format!("ngircd exited while starting on port {} ({status}):\n{output}", self.port)));
            }
            if output.contains(&listening) && TcpStream::connect((LOOPBACK, self.port)).await.is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("ngircd did not accept connections on port {} within {START_TIMEOUT:?}:\n{output}", self.port),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl fmt::Debug for Ngircd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ngircd").field("port", &self.port).field("dir", &self.dir.path()).finish_non_exhaustive()
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            // Reap it (and free the port) before returning, without needing a runtime.
            for _ in 0..250 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

fn read_from(path: &Path, offset: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default()).into_owned()
}
