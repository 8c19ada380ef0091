//! The API's one error type and its one mapping to what clients see: a message and a stable
//! `extensions.code` (GraphQL) or an HTTP status. Domain refusals keep their wording (written for
//! people); store and database failures become `INTERNAL` with an id, and their cause is logged
//! under that id, never shown.

use std::fmt;

use async_graphql::ErrorExtensions;
use domain::{InvalidValue, ReservationError, RoomError, UserError};
use projections::ProjectionError;
use store::{ExecuteError, StoreError};
use uuid::Uuid;

/// The stable codes clients branch on (documented in README and `schema.graphql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    Conflict,
    RateLimited,
    /// A bounded wait (read-your-writes) ran out: retry later.
    Timeout,
    /// The database does not answer in time (or too much is waiting for it): retry in a moment.
    Unavailable,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::RateLimited => "RATE_LIMITED",
            Code::Timeout => "TIMEOUT",
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Deliberately not `Display`: async-graphql converts any `Display` error into a GraphQL error
/// without a code, so an `ApiError` can only reach a client through [`ApiError::into_graphql`]
/// (the `From` below), and resolvers return [`ApiResult`].
#[derive(Debug, Clone)]
pub enum ApiError {
    /// A refusal that is the client's to fix; the message is shown as is.
    Refused { code: Code, message: String, retry_after_secs: Option<u64> },
    /// Something broke on our side. Shown as "internal error" with an id; the cause is logged.
    Internal(std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn refused(code: Code, message: impl Into<String>) -> Self {
        ApiError::Refused { code, message: message.into(), retry_after_secs: None }
    }
    pub fn unauthenticated() -> Self {
        Self::refused(Code::Unauthenticated, "sign in first: send `Authorization: Bearer <token>` (see the `logIn` mutation)")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::refused(Code::Forbidden, message)
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::refused(Code::BadUserInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refused(Code::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::refused(Code::Conflict, message)
    }
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError::Refused { code: Code::RateLimited, message: message.into(), retry_after_secs: Some(retry_after_secs) }
    }
    /// The database is not answering in time; the cause is logged, the client told to retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(%cause, "database unavailable for a request");
        ApiError::Refused {
            code: Code::Unavailable,
            message: "the database is not answering right now; retry in a moment".to_owned(),
            retry_after_secs: Some(5),
        }
    }
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(std::sync::Arc::new(cause))
    }

    /// What a refusal says (for logs and non-GraphQL replies); internal causes are not included.
    pub fn message(&self) -> String {
        match self {
            ApiError::Refused { message, .. } => message.clone(),
            ApiError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The whole story for a log line, internal cause included (never for clients).
    pub fn describe(&self) -> String {
        match self {
            ApiError::Refused { message, .. } => message.clone(),
            ApiError::Internal(cause) => ErrorChain(&**cause).to_string(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::Refused { code, .. } => *code,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The HTTP status for the non-GraphQL routes.
    pub fn status_code(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self.code() {
            Code::Unauthenticated => S::UNAUTHORIZED,
            Code::Forbidden => S::FORBIDDEN,
            Code::BadUserInput => S::BAD_REQUEST,
            Code::NotFound => S::NOT_FOUND,
            Code::Conflict => S::CONFLICT,
            Code::RateLimited => S::TOO_MANY_REQUESTS,
            Code::Timeout => S::GATEWAY_TIMEOUT,
            Code::Unavailable => S::SERVICE_UNAVAILABLE,
            Code::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The GraphQL error clients see. Internal causes are logged here, once, with an id the
    /// client can quote.
    pub fn into_graphql(self) -> async_graphql::Error {
        match self {
            ApiError::Refused { code, message, retry_after_secs } => async_graphql::Error::new(message).extend_with(|_, e| {
                e.set("code", code.as_str());
                if let Some(secs) = retry_after_secs {
                    e.set("retryAfterSeconds", secs);
                }
            }),
            ApiError::Internal(cause) => {
                let id = Uuid::now_v7();
                tracing::error!(error_id = %id, cause = %ErrorChain(&*cause), "internal error in a GraphQL request");
                async_graphql::Error::new(format!("internal error (id {id})")).extend_with(|_, e| e.set("code", Code::Internal.as_str()))
            }
        }
    }
}

/// Renders an error with its sources: `a: b: c`.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        e.into_graphql()
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        ApiError::bad_input(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidPosition(_) => ApiError::bad_input(e.to_string()),
            StoreError::PayloadTooLarge { .. } | StoreError::TooManyEvents { .. } => ApiError::bad_input(e.to_string()),
            StoreError::Timeout(_) => ApiError::refused(Code::Timeout, "the event log did not reach that position in time; retry"),
            StoreError::WrongExpectedVersion { .. } => ApiError::conflict("someone else changed this at the same time; retry"),
            StoreError::Pool(_) | StoreError::Unavailable(_) => ApiError::unavailable(e),
            other => ApiError::internal(other),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Timeout(..) => {
                ApiError::refused(Code::Timeout, "the read models did not reach that position in time; retry the query")
            }
            ProjectionError::Store(s) => s.into(),
            ProjectionError::Unavailable(_) => ApiError::unavailable(e),
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        // Lost connections, and statements the server cancelled (statement_timeout).
        let canceled = e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED);
        if e.is_closed() || canceled { ApiError::unavailable(e) } else { ApiError::internal(e) }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Timeout(_) | deadpool_postgres::PoolError::Closed => ApiError::unavailable(e),
            other => ApiError::internal(other),
        }
    }
}

/// How each aggregate's refusals map to codes. The domain's message is kept: it was written
/// for the person who asked.
pub trait Refusal: std::error::Error {
    fn code(&self) -> Code;
}

impl Refusal for UserError {
    fn code(&self) -> Code {
        use UserError as E;
        match self {
            E::InsufficientLevel { .. } | E::CannotGrantAbove { .. } | E::TargetOutranksCaller { .. } | E::NotYourProfile { .. } => {
                Code::Forbidden
            }
            E::NotRegistered | E::UnknownApiToken | E::NoWebAccount => Code::NotFound,
            E::AlreadyRegistered | E::WebAccountExists | E::EmailAlreadyVerified => Code::Conflict,
            E::LoginLocked { .. } | E::TooManyPhoneCodes { .. } => Code::RateLimited,
            E::AccountClosed => Code::Forbidden,
            E::SameEmail | E::PhoneAlreadyYours => Code::Conflict,
            E::NoPendingPhoneVerification => Code::BadUserInput,
            E::NoPendingVerification
            | E::InvalidToken
            | E::TokenExpired
            | E::TokenRevoked
            | E::NoIrcIdentity
            | E::NickMismatch { .. }
            | E::EmptyPasswordHash
            | E::NoPendingReset => Code::BadUserInput,
        }
    }
}

impl Refusal for RoomError {
    fn code(&self) -> Code {
        use RoomError as E;
        match self {
            E::InsufficientLevel { .. } | E::TargetOutranksCaller { .. } | E::CannotTargetBot | E::NotTheBot | E::NotAUser => {
                Code::Forbidden
            }
            E::Banned { .. } | E::Muted { .. } | E::InviteRequired => Code::Forbidden,
            E::RoomNotFound | E::NotAMember | E::NotBanned | E::BanRequestNotFound => Code::NotFound,
            E::AlreadyCreated | E::AlreadyMember | E::IrcAlreadyBound { .. } | E::SmsAlreadyBound | E::BanRequestAlreadyDecided => {
                Code::Conflict
            }
            E::CannotMuteYourself => Code::BadUserInput,
        }
    }
}

impl Refusal for ReservationError {
    fn code(&self) -> Code {
        Code::Conflict
    }
}

impl From<gateways::nicks::NickChangeError> for ApiError {
    fn from(e: gateways::nicks::NickChangeError) -> Self {
        match e {
            gateways::nicks::NickChangeError::Reservation(e) => e.into(),
            gateways::nicks::NickChangeError::User(e) => e.into(),
        }
    }
}

impl From<gateways::sms::twilio::NumberError> for ApiError {
    fn from(e: gateways::sms::twilio::NumberError) -> Self {
        use gateways::sms::twilio::NumberError;
        match e {
            NumberError::NotInAccount(number) => ApiError::bad_input(format!("{number} is not a number of this server's Twilio account")),
            NumberError::Twilio(cause) => {
                // Twilio's own message may name the account; the client hears only what to do.
                tracing::warn!(%cause, "Twilio did not set a number's webhook");
                ApiError::Refused {
                    code: Code::Unavailable,
                    message: "Twilio did not set the number's webhook; nothing was changed, retry in a moment".to_owned(),
                    retry_after_secs: Some(30),
                }
            }
        }
    }
}

impl<E: Refusal + Send + Sync + 'static> From<ExecuteError<E>> for ApiError {
    fn from(e: ExecuteError<E>) -> Self {
        match e {
            ExecuteError::Rejected(refusal) => ApiError::refused(refusal.code(), refusal.to_string()),
            ExecuteError::TooMuchContention { .. } => ApiError::conflict("too many changes to the same thing at once; retry"),
            ExecuteError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_refusals_keep_their_wording_and_get_a_code() {
        let e: ApiError =
            ExecuteError::Rejected(RoomError::InsufficientLevel { needed: domain::Level::Operator, have: domain::Level::Member }).into();
        assert_eq!(e.code(), Code::Forbidden);
        assert!(e.message().contains("level"), "{e:?}");
    }

    #[test]
    fn internal_errors_do_not_show_their_cause() {
        let e = ApiError::internal(std::io::Error::other("password=hunter2 at db.internal"));
        let shown = e.into_graphql();
        assert!(!shown.message.contains("hunter2"), "{}", shown.message);
        assert!(shown.message.starts_with("internal error (id "));
        let code = shown.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(code, Some(async_graphql::Value::from("INTERNAL")));
    }
}
