//! Where the PostgreSQL server is and how to reach it: [`PgConfig`], the connection settings
//! together with the TLS they need. `DATABASE_URL` may cross a network, so every connection
//! Switchboard opens (the store's pool, its NOTIFY listener, the migrations, each projection's
//! own connection) goes through [`PgConfig::connect`] or [`PgConfig::tls`].
//!
//! `sslmode` in the URL means what it means to libpq:
//!
//! | `sslmode` | encrypted | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | not checked |
//! | `require` | always | not checked; with a root certificate given, its chain is |
//! | `verify-ca` | always | chains to the root certificate |
//! | `verify-full` | always | chains to the root certificate and names the host |
//!
//! The root certificate is the PEM file `database.ssl_root_cert` (or `sslrootcert` in the URL);
//! without one, `verify-ca` and `verify-full` trust the Mozilla roots (`webpki-roots`).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a connection is encrypted and what of the server's certificate is checked (`sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for TlsMode {
    type Err = PgConfigError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => return Err(PgConfigError::UnknownSslMode(other.to_owned())),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PgConfigError {
    /// The URL is not one (deliberately without the URL: it may hold a password).
    #[error("the database URL is not a valid PostgreSQL URL ({0})")]
    InvalidUrl(String),
    #[error("sslmode={0:?} is not one of disable, prefer, require, verify-ca, verify-full")]
    UnknownSslMode(String),
    #[error("the database root certificate {path}: {reason}")]
    RootCertificate { path: PathBuf, reason: String },
}

/// PostgreSQL connection settings and the TLS connector that goes with them. Dereferences to
/// the [`tokio_postgres::Config`] for everything else (host, database name, options …).
#[derive(Clone)]
pub struct PgConfig {
    config: tokio_postgres::Config,
    mode: TlsMode,
    tls: MakeRustlsConnect,
}

/// A connection opened by [`PgConfig::connect`], to be spawned.
pub type PgConnection =
    tokio_postgres::Connection<tokio_postgres::Socket, <MakeRustlsConnect as MakeTlsConnect<tokio_postgres::Socket>>::Stream>;

impl PgConfig {
    /// From a `postgres://` URL, with `sslmode` (libpq's values) and `sslrootcert` read here.
    /// `root_cert` (the setting) wins over the URL's `sslrootcert`.
    pub fn from_url(url: &str, root_cert: Option<&Path>) -> Result<Self, PgConfigError> {
        let (url, mode, url_root) = split_tls_parameters(url)?;
        let config = tokio_postgres::Config::from_str(&url).map_err(|e| PgConfigError::InvalidUrl(e.to_string()))?;
        let root = root_cert.map(Path::to_path_buf).or(url_root);
        Self::with_tls(config, mode.unwrap_or(TlsMode::Prefer), root.as_deref())
    }

    /// `config` reached with `mode`, checking certificates against the PEM file `root_cert`
    /// (every certificate in it is trusted).
    pub fn with_tls(mut config: tokio_postgres::Config, mode: TlsMode, root_cert: Option<&Path>) -> Result<Self, PgConfigError> {
        config.ssl_mode(match mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        });
        let roots = root_cert.map(read_roots).transpose()?;
        let check = match (mode, roots) {
            (TlsMode::Disable | TlsMode::Prefer, _) | (TlsMode::Require, None) => Check::Nothing,
            (TlsMode::Require | TlsMode::VerifyCa, roots) => Check::Chain(roots.unwrap_or_else(mozilla_roots)),
            (TlsMode::VerifyFull, roots) => Check::ChainAndName(roots.unwrap_or_else(mozilla_roots)),
        };
        Ok(Self { config, mode, tls: MakeRustlsConnect::new(client_config(check)) })
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.mode
    }

    /// The TLS connector, for a pool of connections.
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }

    /// The connection settings without TLS.
    pub fn settings(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Opens one connection.
    pub async fn connect(&self) -> Result<(tokio_postgres::Client, PgConnection), tokio_postgres::Error> {
        self.config.connect(self.tls.clone()).await
    }
}

/// A configuration without TLS settings of its own: `sslmode` as it says (`prefer` unless set),
/// certificates not checked. For clusters Switchboard starts itself and for tests.
impl From<tokio_postgres::Config> for PgConfig {
    fn from(config: tokio_postgres::Config) -> Self {
        let mode = match config.get_ssl_mode() {
            SslMode::Disable => TlsMode::Disable,
            SslMode::Require => TlsMode::Require,
            _ => TlsMode::Prefer,
        };
        Self { config, mode, tls: MakeRustlsConnect::new(client_config(Check::Nothing)) }
    }
}

impl Deref for PgConfig {
    type Target = tokio_postgres::Config;

    fn deref(&self) -> &Self::Target {
        &self.config
    }
}

impl DerefMut for PgConfig {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.config
    }
}

impl fmt::Debug for PgConfig {
    // tokio-postgres's Debug leaves the password out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig").field("config", &self.config).field("sslmode", &self.mode.as_str()).finish()
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (tokio-postgres knows neither
/// `verify-ca`/`verify-full` nor root certificates) and hands back the rest.
fn split_tls_parameters(url: &str) -> Result<(String, Option<TlsMode>, Option<PathBuf>), PgConfigError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), None, None)) };
    let (mut mode, mut root, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(percent_decoded(value)?.parse()?),
            Some(("sslrootcert", value)) => root = Some(PathBuf::from(percent_decoded(value)?)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, mode, root))
}

fn percent_decoded(value: &str) -> Result<String, PgConfigError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(hex.ok_or_else(|| PgConfigError::InvalidUrl("a bad %-escape in its query".into()))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| PgConfigError::InvalidUrl("its query is not UTF-8".into()))
}

fn read_roots(path: &Path) -> Result<RootCertStore, PgConfigError> {
    let failed = |reason: String| PgConfigError::RootCertificate { path: path.to_owned(), reason };
    let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|e| failed(format!("not PEM: {e}")))?;
        roots.add(certificate).map_err(|e| failed(format!("not a usable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(failed("holds no certificate".into()));
    }
    Ok(roots)
}

fn mozilla_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

enum Check {
    Nothing,
    Chain(RootCertStore),
    ChainAndName(RootCertStore),
}

/// Built on ring explicitly: both of rustls's providers are compiled in (other crates enable
/// aws-lc-rs), so there is no process default to rely on.
fn client_config(check: Check) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().expect("ring supports TLS 1.2 and 1.3");
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCertificate(provider)),
        Check::Chain(roots) => Arc::new(ChainOnly(webpki_verifier(roots, provider))),
        Check::ChainAndName(roots) => webpki_verifier(roots, provider),
    };
    builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
}

fn webpki_verifier(roots: RootCertStore, provider: Arc<CryptoProvider>) -> Arc<WebPkiServerVerifier> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("a root store that is not empty")
}

/// `prefer` and `require` without a root: encrypted against eavesdropping, any certificate
/// taken (libpq's behaviour). The handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not compared (webpki
/// checks the name only after the chain, so a name mismatch means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let (url, mode, root) =
            split_tls_parameters("postgres://u:p@db.example/sb?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")
                .unwrap();
        assert_eq!(url, "postgres://u:p@db.example/sb?application_name=x");
        assert_eq!(mode, Some(TlsMode::VerifyFull));
        assert_eq!(root, Some(PathBuf::from("/etc/ca.pem")));
        let (url, mode, root) = split_tls_parameters("postgres://db.example/sb").unwrap();
        assert_eq!((url.as_str(), mode, root), ("postgres://db.example/sb", None, None));
    }

    #[test]
    fn modes_map_to_what_tokio_postgres_negotiates() {
        let config = |url: &str| PgConfig::from_url(url, None).unwrap();
        assert_eq!(config("postgres://h/d").get_ssl_mode(), SslMode::Prefer);
        assert_eq!(config("postgres://h/d?sslmode=disable").get_ssl_mode(), SslMode::Disable);
        assert_eq!(config("postgres://h/d?sslmode=require").get_ssl_mode(), SslMode::Require);
        assert_eq!(config("postgres://h/d?sslmode=verify-full").get_ssl_mode(), SslMode::Require);
        assert_eq!(config("postgres://h/d?sslmode=verify-ca").tls_mode(), TlsMode::VerifyCa);
    }

    #[test]
    fn bad_tls_settings_are_clear_errors() {
        let unknown = PgConfig::from_url("postgres://h/d?sslmode=always", None).unwrap_err();
        assert!(unknown.to_string().contains("\"always\" is not one of"), "{unknown}");
        let missing = PgConfig::from_url("postgres://h/d?sslmode=verify-full", Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.to_string().starts_with("the database root certificate /nonexistent/ca.pem: "), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let empty = PgConfig::from_url("postgres://h/d?sslmode=verify-full", Some(&empty)).unwrap_err();
        assert!(empty.to_string().ends_with("holds no certificate"), "{empty}");
    }
}
