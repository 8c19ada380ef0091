//! Outgoing email (verification links) through lettre. Four transports: `log` (the default:
//! nothing is sent; the log says that a message was due and to whom, never its one-time link),
//! `print` (for development: the whole message, link included, is written to the log — opt-in,
//! because anyone who reads the log could verify someone else's address), `file` (one `.eml`
//! file per message in a directory, as lettre's `FileTransport` writes them; tests read the link
//! from there) and `smtp` (a relay URL such as `smtps://user:pass@host`).

use std::path::PathBuf;

use lettre::message::{Mailbox, Message};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", tag = "transport")]
pub enum MailSettings {
    #[default]
    Log,
    Print,
    File {
        dir: PathBuf,
    },
    Smtp {
        /// `smtp://host:25`, `smtps://user:pass@host:465` or `smtp://host:587?tls=required`.
        /// Holds a password: never logged (the Debug below hides it).
        url: MailUrl,
    },
}

/// An SMTP URL that may carry credentials; its Debug form hides them.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct MailUrl(pub String);

impl std::fmt::Debug for MailUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailUrl(***)")
    }
}

pub enum Mailer {
    Log,
    Print,
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Why the configured mail transport cannot be used. Start-up reports it with its cause.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("cannot create the mail directory {}", dir.display())]
    Directory {
        dir: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    /// The SMTP URL is not shown: it may hold a password.
    #[error("api.mail.url is not a usable SMTP URL")]
    SmtpUrl(#[source] lettre::transport::smtp::Error),
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, MailSetupError> {
        Ok(match settings {
            MailSettings::Log => Mailer::Log,
            MailSettings::Print => Mailer::Print,
            MailSettings::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|cause| MailSetupError::Directory { dir: dir.clone(), cause })?;
                Mailer::File(AsyncFileTransport::new(dir))
            }
            MailSettings::Smtp { url } => {
                Mailer::Smtp(AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0).map_err(MailSetupError::SmtpUrl)?.build())
            }
        })
    }

    /// Whether the transport can be used now: for SMTP, that the relay answers and accepts the
    /// connection (TLS and login as the URL says); the others need nothing.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self {
            Mailer::Smtp(t) => match t.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the relay did not answer NOOP".to_owned()),
                Err(e) => Err(e.to_string()),
            },
            Mailer::Log | Mailer::Print | Mailer::File(_) => Ok(()),
        }
    }

    /// Sends a plain-text message. Failures are internal errors (logged with their cause).
    pub async fn send(&self, from: &str, to: &str, subject: &str, body: String) -> ApiResult<()> {
        let from: Mailbox = from.parse().map_err(ApiError::internal)?;
        let to_box: Mailbox = to.parse().map_err(|_| ApiError::bad_input("that email address cannot receive mail"))?;
        let message = Message::builder().from(from).to(to_box).subject(subject).body(body.clone()).map_err(ApiError::internal)?;
        match self {
            Mailer::Log => {
                tracing::info!(to, subject, "email not sent (log transport): configure [api.mail] to send it");
                Ok(())
            }
            Mailer::Print => {
                // The body holds a one-time link; showing it is the point of this transport.
                tracing::info!(to, subject, body = %body, "email (print transport, for development)");
                Ok(())
            }
            Mailer::File(t) => t.send(message).await.map(|_| ()).map_err(ApiError::internal),
            Mailer::Smtp(t) => t.send(message).await.map(|_| ()).map_err(ApiError::internal),
        }
    }
}
