//! `switchboard doctor`: checks a configuration against the things it names before anyone
//! relies on it — the database (reachable, migrated), the event store the settings chose, the
//! IRC server (reachable; the TLS handshake when `irc.tls`), the Twilio account (credentials
//! accepted, by a read-only call), each room number's webhook (Twilio posts its texts to the
//! URL that signatures are checked against, `{api.public_url}/sms/twilio`) and the mail
//! transport. Every check has its own deadline, so a server that hangs is reported as such and
//! the others still run. Nothing is changed anywhere.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gateways::sms::twilio::TwilioClient;

use crate::database::Database;
use crate::settings::Settings;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but probably not as meant (mail only logged, a public URL Twilio cannot reach).
    Warning,
    Failed,
    /// Not configured, so not checked.
    Skipped,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Failed => "FAILED",
            Verdict::Skipped => "skipped",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub item: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl Check {
    fn new(item: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self { item, verdict, detail: detail.into() }
    }
}

/// The whole report: one line per check and a last line with the verdict.
pub fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.item.len()).max().unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        out.push_str(&format!("{:width$}  {:7}  {}\n", check.item, check.verdict.to_string(), check.detail));
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Failed).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warning).count();
    out.push_str(&match (failed, warned) {
        (0, 0) => "verdict: ready to serve\n".to_owned(),
        (0, w) => format!("verdict: ready to serve, with {w} warning{}\n", plural(w)),
        (f, _) => format!("verdict: not ready: {f} check{} failed\n", plural(f)),
    });
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Runs every check (each within `deadline`).
pub async fn run(settings: &Settings, database: &Database, deadline: Duration) -> Vec<Check> {
    let mut checks = vec![check_database(database, deadline).await];
    let migrated = checks[0].verdict == Verdict::Ok;
    checks.push(if migrated {
        check_event_store(settings, database, deadline).await
    } else {
        Check::new("event store", Verdict::Skipped, "needs a migrated database")
    });
    checks.push(check_irc(settings, deadline).await);
    let twilio = match settings.twilio_client() {
        None => None,
        Some(Ok(client)) => Some(client),
        Some(Err(e)) => {
            checks.push(Check::new("twilio", Verdict::Failed, format!("the Twilio client cannot be set up: {e}")));
            None
        }
    };
    match &twilio {
        Some(client) => checks.push(check_twilio(client, deadline).await),
        None if settings.twilio.account_sid.is_some() != settings.api.twilio_auth_token.is_some() => checks.push(Check::new(
            "twilio",
            Verdict::Failed,
            "twilio.account_sid and api.twilio_auth_token are needed together (only one is set)",
        )),
        None => checks.push(Check::new("twilio", Verdict::Skipped, "SMS is off: twilio.account_sid and api.twilio_auth_token are not set")),
    }
    let twilio_ok = checks.last().is_some_and(|c| c.item == "twilio" && c.verdict == Verdict::Ok);
    checks.extend(check_webhooks(settings, database, twilio.as_ref().filter(|_| twilio_ok && migrated), deadline).await);
    checks.push(check_mail(settings, deadline).await);
    checks
}

/// `what` within `deadline`, or an error saying it did not answer.
async fn within<T>(deadline: Duration, what: &str, work: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(format!("{what} did not answer within {} s", deadline.as_secs_f64())),
    }
}

fn describe_database(database: &Database) -> String {
    if database.embedded.is_some() {
        return "the embedded PostgreSQL".to_owned();
    }
    let config = database.config.settings();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
            tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
        })
        .collect();
    format!("{} database {}", hosts.join(","), config.get_dbname().unwrap_or("(default)"))
}

async fn check_database(database: &Database, deadline: Duration) -> Check {
    let at = describe_database(database);
    let state = within(deadline, "the database", async {
        store::PgEventStore::migration_state(&database.config).await.map_err(|e| error_chain(&e))
    })
    .await;
    match state {
        Err(e) => Check::new("database", Verdict::Failed, format!("{at}: {e}")),
        Ok(state) if state.applied == 0 => Check::new(
            "database",
            Verdict::Failed,
            format!("{at}: not migrated ({} migrations to apply): run `switchboard migrate`", state.pending.len()),
        ),
        Ok(state) if !state.pending.is_empty() => Check::new(
            "database",
            Verdict::Failed,
            format!(
                "{at}: {} of {} migrations not applied ({}): run `switchboard migrate`",
                state.pending.len(),
                state.pending.len() + state.applied - state.unknown.len(),
                state.pending.join(", ")
            ),
        ),
        Ok(state) if !state.unknown.is_empty() => Check::new(
            "database",
            Verdict::Failed,
            format!("{at}: migrated by a newer Switchboard ({} unknown here): run that version", state.unknown.join(", ")),
        ),
        Ok(state) => Check::new("database", Verdict::Ok, format!("{at}, {} migrations applied", state.applied)),
    }
}

async fn check_event_store(settings: &Settings, database: &Database, deadline: Duration) -> Check {
    let backend = settings.store.backend;
    let head = within(deadline, "the event store", async {
        let store = crate::database::connect_backend(settings, &database.config, backend).await.map_err(|e| format!("{e:#}"))?;
        let head = store::EventStore::head(&store).await.map_err(|e| error_chain(&e));
        store.close();
        head
    })
    .await;
    match head {
        Ok(head) => Check::new("event store", Verdict::Ok, format!("{backend}: the log's head is at {head}")),
        Err(e) => Check::new("event store", Verdict::Failed, format!("{backend}: {e}")),
    }
}

async fn check_irc(settings: &Settings, deadline: Duration) -> Check {
    let irc = &settings.irc;
    let Some(server) = &irc.server else {
        return Check::new("irc", Verdict::Skipped, "IRC is off: irc.server is not set");
    };
    if let Err(e) = irc.bot_settings(&settings.api.public_url) {
        return Check::new("irc", Verdict::Failed, e.to_string());
    }
    let address = format!("{server}:{}", irc.port);
    let reached = async {
        let stream = within(deadline, &address, async {
            tokio::net::TcpStream::connect((server.as_str(), irc.port)).await.map_err(|e| format!("cannot connect to {address}: {e}"))
        })
        .await?;
        if irc.tls {
            // A plain-text server waits for a line and never answers the TLS hello.
            match tokio::time::timeout(deadline, tls_handshake(server, stream)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("{address} answers, but the TLS handshake failed: {e}")),
                Err(_) => {
                    return Err(format!(
                        "{address} answers, but the TLS handshake failed: no TLS answer within {} s (is it a plain-text port?)",
                        deadline.as_secs_f64()
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    match reached {
        Ok(()) if irc.tls => Check::new("irc", Verdict::Ok, format!("{address} answers; TLS handshake and certificate accepted")),
        Ok(()) => Check::new("irc", Verdict::Ok, format!("{address} answers (plain text: irc.tls is off)")),
        Err(e) => Check::new("irc", Verdict::Failed, e),
    }
}

/// A TLS handshake that trusts what the bot trusts (the system's roots and the web's).
async fn tls_handshake(server: &str, stream: tokio::net::TcpStream) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(server.to_owned()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream).await.map(|_| ()).map_err(|e| e.to_string())
}

async fn check_twilio(client: &TwilioClient, deadline: Duration) -> Check {
    match within(deadline, "Twilio", async { client.account().await.map_err(|e| e.to_string()) }).await {
        Ok(account) => {
            let name = account.friendly_name.unwrap_or_else(|| account.sid.clone());
            match account.status.as_deref() {
                Some("active") | None => Check::new("twilio", Verdict::Ok, format!("credentials accepted: account {name:?} is active")),
                Some(status) => Check::new("twilio", Verdict::Failed, format!("credentials accepted, but account {name:?} is {status}")),
            }
        }
        Err(e) => Check::new("twilio", Verdict::Failed, format!("credentials not accepted: {e}")),
    }
}

/// One line per bound room number (or one saying why there are none to check).
async fn check_webhooks(settings: &Settings, database: &Database, twilio: Option<&TwilioClient>, deadline: Duration) -> Vec<Check> {
    let expected = api::sms::inbound_url(&settings.api.public_url);
    let Some(twilio) = twilio else {
        return vec![Check::new("webhooks", Verdict::Skipped, "needs the database and the Twilio account")];
    };
    let mut checks = Vec::new();
    if let Some(host) = loopback_host(&settings.api.public_url) {
        checks.push(Check::new(
            "public url",
            Verdict::Warning,
            format!("api.public_url names {host}: Twilio cannot reach this machine there; set the address people and Twilio use"),
        ));
    }
    let numbers = within(deadline, "the rooms read model", async {
        let pool = store::postgres::connect_pool(&database.config, &settings.store_options()).await.map_err(|e| error_chain(&e))?;
        let read = projections::ReadModels::new(pool, store::Backend::Postgres);
        let rooms = read.rooms(None).await.map_err(|e| error_chain(&e))?;
        Ok(rooms.into_iter().filter_map(|r| r.sms_number.map(|n| (r.name, n))).collect::<Vec<_>>())
    })
    .await;
    let numbers = match numbers {
        Ok(numbers) => numbers,
        Err(e) => {
            checks.push(Check::new("webhooks", Verdict::Skipped, format!("the rooms read model cannot be read (is it built?): {e}")));
            return checks;
        }
    };
    if numbers.is_empty() {
        checks.push(Check::new("webhooks", Verdict::Skipped, "no room is bound to an SMS number"));
    }
    for (room, number) in numbers {
        let found = within(deadline, "Twilio", async { twilio.incoming_number(&number).await.map_err(|e| e.to_string()) }).await;
        checks.push(match found {
            Ok(Some(n)) if n.posts_to(&expected) => {
                Check::new("webhook", Verdict::Ok, format!("{number} (room {room}): Twilio posts its texts to {expected}"))
            }
            Ok(Some(n)) => Check::new(
                "webhook",
                Verdict::Failed,
                format!(
                    "{number} (room {room}): Twilio posts its texts to {} by {}, but signatures are checked against {expected} \
                     (POST): run `switchboard twilio configure {number}`, or correct api.public_url",
                    n.sms_url.as_deref().unwrap_or("nowhere"),
                    n.sms_method.as_deref().unwrap_or("POST"),
                ),
            ),
            Ok(None) => Check::new("webhook", Verdict::Failed, format!("{number} (room {room}) is not a number of this Twilio account")),
            Err(e) => Check::new("webhook", Verdict::Failed, format!("{number} (room {room}): {e}")),
        });
    }
    checks
}

/// The host of `url` when it is a loopback name or address.
fn loopback_host(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']);
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback.then(|| host.to_owned())
}

async fn check_mail(settings: &Settings, deadline: Duration) -> Check {
    use api::mail::MailSettings;
    match &settings.api.mail {
        MailSettings::Log => Check::new("mail", Verdict::Warning, "log transport: verification and reset emails are only logged, not sent"),
        MailSettings::Print => {
            Check::new("mail", Verdict::Warning, "print transport (development): emails, with their links, are written to the log")
        }
        MailSettings::File { dir } => match api::mail::Mailer::new(&settings.api.mail) {
            Ok(_) => match tempfile_in(dir) {
                Ok(()) => Check::new("mail", Verdict::Ok, format!("file transport: emails are written to {}", dir.display())),
                Err(e) => Check::new("mail", Verdict::Failed, format!("file transport: cannot write to {}: {e}", dir.display())),
            },
            Err(e) => Check::new("mail", Verdict::Failed, error_chain(&e)),
        },
        MailSettings::Smtp { .. } => {
            let mailer = match api::mail::Mailer::new(&settings.api.mail) {
                Ok(mailer) => mailer,
                Err(e) => return Check::new("mail", Verdict::Failed, error_chain(&e)),
            };
            match within(deadline, "the SMTP relay", async { mailer.test_connection().await }).await {
                Ok(()) => Check::new("mail", Verdict::Ok, "SMTP relay answers and accepts the connection"),
                Err(e) => Check::new("mail", Verdict::Failed, format!("SMTP relay: {e}")),
            }
        }
    }
}

/// Creates and removes a file in `dir`.
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".switchboard-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// An error with its causes, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_public_urls_are_recognised_and_others_are_not() {
        assert_eq!(loopback_host("http://127.0.0.1:8080").as_deref(), Some("127.0.0.1"));
        assert_eq!(loopback_host("http://localhost/x").as_deref(), Some("localhost"));
        assert_eq!(loopback_host("http://[::1]:8080/").as_deref(), Some("::1"));
        assert_eq!(loopback_host("https://user@127.0.0.2"), Some("127.0.0.2".to_owned()));
        assert_eq!(loopback_host("https://chat.example.org"), None);
        assert_eq!(loopback_host("https://10.0.0.1:8443"), None);
    }

    #[test]
    fn the_verdict_counts_failures_before_warnings() {
        let ok = Check::new("a", Verdict::Ok, "fine");
        let warned = Check::new("b", Verdict::Warning, "hmm");
        let failed = Check::new("c", Verdict::Failed, "broken");
        assert!(render(std::slice::from_ref(&ok)).ends_with("verdict: ready to serve\n"));
        assert!(render(&[ok.clone(), warned.clone()]).ends_with("verdict: ready to serve, with 1 warning\n"));
        let report = render(&[ok, warned, failed.clone(), failed]);
        assert!(report.ends_with("verdict: not ready: 2 checks failed\n"), "{report}");
        assert!(report.contains("c  FAILED   broken"), "{report}");
    }
}
