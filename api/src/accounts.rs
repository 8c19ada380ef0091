//! Account steps as plain functions over [`App`]: sign up, verify an email address, log in, revoke
//! an API token, issue an IRC token, and the profile (nick, email change, a phone number
//! verified by a texted code). GraphQL's resolvers (`graphql::accounts`) and the web pages
//! (the `web` crate) both call these, so each rule and each limit lives here once. Each step is a
//! command through the executor on the reservation and user streams.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeDelta, Utc};
use domain::{
    AccountName, AccountNameCommand, Actor, Email, Gateway, Level, Metadata, Nick, NickCommand, NickReservation, StreamName, TokenHash,
    User, UserCommand, Username, events::TokenPurpose,
};
use store::Position;
use uuid::Uuid;

use crate::App;
use crate::auth::{check_password_rules, hash_password, new_secret, verify_password};
use crate::error::{ApiError, ApiResult, Code};
use crate::graphql::types::LogPosition;
use crate::graphql::wait_for;

/// Sign-up ids are derived from the username, so a sign-up that failed half-way (after the
/// username was reserved) resumes with the same id instead of finding its own name taken.
const SIGN_UP_NAMESPACE: Uuid = Uuid::from_u128(0x5b0a_7d1e_3c2f_4e8a_9b6d_0f1e_2a3b_4c5d);

/// Checked against when the username is unknown, so a login for a missing account costs the
/// same time as a wrong password (no account enumeration by timing).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no such account: never matches").unwrap_or_default())
}

/// What a person fills in to sign up.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    /// The chat nick (unique across IRC and SMS). Defaults to the username when that is a
    /// valid nick.
    pub nick: Option<String>,
}

/// Which field of [`NewAccount`] a refusal is about (so a form can show it next to the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpField {
    Username,
    Email,
    Password,
    Nick,
}

#[derive(Debug, Clone)]
pub struct SignedUp {
    pub user_id: Uuid,
    pub nick: String,
    pub level: Level,
    /// A verification link was emailed (with the `print` transport: written to the log).
    pub verification_sent: bool,
    pub position: Position,
}

#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The bearer token. Shown once; only its hash is kept.
    pub token: String,
    pub token_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub nick: String,
    pub level: Level,
    pub position: Position,
}

#[derive(Debug, Clone)]
pub struct IssuedIrcToken {
    /// Shown once.
    pub secret: String,
    pub purpose: TokenPurpose,
    pub expires_at: DateTime<Utc>,
    pub position: Position,
}

impl IssuedIrcToken {
    /// What to say to the bot in a private message: `.login <token>` or `.register <token>`.
    pub fn command(&self) -> String {
        let verb = match self.purpose {
            TokenPurpose::Register => ".register",
            TokenPurpose::Login => ".login",
        };
        format!("{verb} {}", self.secret)
    }
}

/// A command's outcome: where the log is after it, and how many events it appended (0: it
/// changed nothing).
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub position: Position,
    pub events: usize,
}

/// A [`Applied`] for a command's outcome; a no-op reports the current head.
pub async fn applied(app: &App, position: Option<Position>, events: usize) -> ApiResult<Applied> {
    let position = match position {
        Some(p) => p,
        None => store::EventStore::head(&app.store).await?,
    };
    Ok(Applied { position, events })
}

/// Checks each field of a sign-up on its own, with the same rules [`sign_up`] applies: every
/// refusal, with the field it is about.
pub fn check_new_account(input: &NewAccount) -> Vec<(SignUpField, ApiError)> {
    let mut refusals = Vec::new();
    let username = Username::parse(input.username.trim());
    if let Err(e) = &username {
        refusals.push((SignUpField::Username, ApiError::from(e.clone())));
    }
    if let Err(e) = Email::parse(input.email.trim()) {
        refusals.push((SignUpField::Email, e.into()));
    }
    if let Err(e) = check_password_rules(&input.password) {
        refusals.push((SignUpField::Password, e));
    }
    match input.nick.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(nick) => {
            if let Err(e) = Nick::parse(nick) {
                refusals.push((SignUpField::Nick, e.into()));
            }
        }
        None => {
            if let Ok(username) = &username
                && Nick::parse(username.as_str()).is_err()
            {
                refusals.push((SignUpField::Nick, ApiError::bad_input(format!("{username} is not a valid nick; choose a nick"))));
            }
        }
    }
    refusals
}

/// A refused sign-up, and the field it is about (when it is about one).
#[derive(Debug)]
pub struct SignUpRefusal {
    pub field: Option<SignUpField>,
    pub error: ApiError,
}

impl<E> From<E> for SignUpRefusal
where
    ApiError: From<E>,
{
    fn from(error: E) -> Self {
        Self { field: None, error: error.into() }
    }
}

/// Tags a refusal with its field.
fn about<E: Into<ApiError>>(field: SignUpField) -> impl FnOnce(E) -> SignUpRefusal {
    move |error| SignUpRefusal { field: Some(field), error: error.into() }
}

/// Creates a web account and its chat user, and emails a verification link. The first account
/// on a fresh install becomes superuser (setting `api.first_user_superuser`). Sign-ups are
/// limited per client address.
pub async fn sign_up(app: &App, input: NewAccount, peer: Option<IpAddr>) -> Result<SignedUp, SignUpRefusal> {
    app.sign_up_limiter.attempt("", peer)?;
    let username = Username::parse(input.username.trim()).map_err(about(SignUpField::Username))?;
    let email = Email::parse(input.email.trim()).map_err(about(SignUpField::Email))?;
    check_password_rules(&input.password).map_err(about(SignUpField::Password))?;
    let nick = match input.nick.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(nick) => Nick::parse(nick).map_err(about(SignUpField::Nick))?,
        None => Nick::parse(username.as_str()).map_err(|_| {
            about(SignUpField::Nick)(ApiError::bad_input(format!("{username} is not a valid nick; choose one with `nick`")))
        })?,
    };
    let user_id = Uuid::new_v5(&SIGN_UP_NAMESPACE, username.casefold().as_bytes());
    let metadata = Metadata::new(Actor::User(user_id), Gateway::Api);

    let account_stream = StreamName::account(&username.casefold());
    app.executor
        .execute::<AccountName>(&account_stream, &AccountNameCommand::Reserve { username: username.clone(), user_id }, metadata.clone())
        .await
        .map_err(about(SignUpField::Username))?;
    let (user, _) = app.executor.load::<User>(&StreamName::user(user_id)).await?;
    if user.web.is_some() {
        return Err(about(SignUpField::Username)(ApiError::conflict(format!("the username {username} is taken"))));
    }
    let nick_stream = StreamName::nick(&nick.casefold());
    if let Err(e) =
        app.executor.execute::<NickReservation>(&nick_stream, &NickCommand::Reserve { nick: nick.clone(), user_id }, metadata.clone()).await
    {
        // Give the username back: this sign-up did not happen.
        let release = AccountNameCommand::Release { username: username.clone(), user_id };
        if let Err(release_error) = app.executor.execute::<AccountName>(&account_stream, &release, metadata.clone()).await {
            tracing::warn!(error = %release_error, %username, "could not release the username of a failed sign-up");
        }
        return Err(about(SignUpField::Nick)(e));
    }
    if !user.is_registered() {
        app.executor
            .execute::<User>(
                &StreamName::user(user_id),
                &UserCommand::Register { user_id, nick: nick.clone(), gateway: Gateway::Api },
                metadata.clone(),
            )
            .await?;
    }
    let password = input.password;
    let _permit = app.hashing.acquire().await.map_err(ApiError::internal)?;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(ApiError::internal)??;
    app.executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::CreateWebAccount { username: username.clone(), email: email.clone(), password_hash },
            metadata.clone(),
        )
        .await?;

    let (mut done, verification_sent) = send_verification(app, user_id, nick.as_ref(), &email, metadata).await?;
    let mut level = done.state.level;
    if app.settings.first_user_superuser
        && let Some(granted) = grant_first_superuser(app, user_id).await?
    {
        level = Level::Superuser;
        done.appended = Some(granted);
    }
    Ok(SignedUp { user_id, nick: nick.to_string(), level, verification_sent, position: done.position() })
}

/// Records a new verification token and emails its link. The email failing is logged, not an
/// error: the account exists, and the person can ask for a new link.
async fn send_verification(
    app: &App,
    user_id: Uuid,
    nick: &str,
    email: &Email,
    metadata: Metadata,
) -> ApiResult<(store::Executed<User>, bool)> {
    let secret = new_secret("");
    let expires_at = Utc::now() + TimeDelta::hours(app.settings.email_token_ttl_hours as i64);
    let done = app
        .executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::RequestEmailVerification { token_hash: TokenHash::of_secret(&secret), expires_at },
            metadata,
        )
        .await?;
    let sent = mail_verification_link(app, user_id, nick, email, &secret, expires_at).await;
    Ok((done, sent))
}

/// Emails the verification link for `secret` to `email`; whether it went (a failure is logged).
async fn mail_verification_link(app: &App, user_id: Uuid, nick: &str, email: &Email, secret: &str, expires_at: DateTime<Utc>) -> bool {
    let token = format!("{user_id}.{secret}");
    let url = app.settings.public_url.trim_end_matches('/');
    let body = format!(
        "Hello {nick},\n\nconfirm your email address for Switchboard by opening this link:\n\n  {url}/verify?token={token}\n\n\
         (From a GraphQL client instead, run: mutation {{ verifyEmail(token: \"{token}\") {{ position }} }})\n\n\
         The link expires at {expires_at}.\n",
    );
    match app.mailer.send(&app.settings.mail_from, email.as_str(), "Confirm your Switchboard account", body).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e.describe(), %user_id, "could not send the verification email");
            false
        }
    }
}

/// Emails a fresh verification link to a signed-in user whose address is not verified yet
/// (earlier links stop working). Limited like sign-ups: each costs an email.
pub async fn resend_verification(app: &App, user_id: Uuid, peer: Option<IpAddr>) -> ApiResult<Applied> {
    let (user, _) = app.executor.load::<User>(&StreamName::user(user_id)).await?;
    let Some(web) = user.web.as_ref() else { return Err(ApiError::bad_input("this account has no email address")) };
    if web.email_verified {
        return Err(ApiError::bad_input("your email address is already verified"));
    }
    app.sign_up_limiter.attempt("", peer)?;
    let email = web.email.clone();
    let nick = user.nick.as_ref().map(ToString::to_string).unwrap_or_default();
    let (done, _) = send_verification(app, user_id, &nick, &email, Metadata::new(Actor::User(user_id), Gateway::Api)).await?;
    applied(app, done.appended.map(|a| a.position), done.events.len()).await
}

/// Whether the log holds a grant of superuser, read through the store (the KurrentDB backend's
/// catalogue has no payloads). Runs until the first superuser exists, then the answer is kept.
async fn superuser_granted_in_log(app: &App) -> ApiResult<bool> {
    let filter = store::Filter::event_types(["user.level_changed"]);
    let mut after = Position::START;
    loop {
        let batch = store::EventStore::read_all(&app.store, after, &filter, 1_000).await?;
        if batch.events.iter().any(|e| matches!(e.payload.to_value().get("to"), Some(to) if to == 5 || to == "5")) {
            return Ok(true);
        }
        if batch.caught_up || batch.next == after {
            return Ok(false);
        }
        after = batch.next;
    }
}

/// Makes `user_id` superuser when no one has ever been granted superuser. A transaction advisory
/// lock serialises concurrent first sign-ups so exactly one wins.
async fn grant_first_superuser(app: &App, user_id: Uuid) -> ApiResult<Option<store::AppendResult>> {
    if app.superuser_exists.load(Ordering::Relaxed) {
        return Ok(None);
    }
    // Key: "switchboard first superuser"; distinct from the projections' lock keys.
    const LOCK_KEY: i64 = 0x5357_4246_5355_0001;
    // A transaction-scoped lock: released by COMMIT, or by the rollback when this request is
    // cancelled mid-way (a session lock would stay held on the pooled connection).
    let mut client = app.store.pool().get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await?;
    let exists: bool = match app.store.backend() {
        store::Backend::Postgres => tx
            .query_one("SELECT EXISTS (SELECT 1 FROM es_events WHERE event_type = 'user.level_changed' AND payload ->> 'to' = '5')", &[])
            .await?
            .get(0),
        store::Backend::KurrentDb => superuser_granted_in_log(app).await?,
    };
    if exists {
        app.superuser_exists.store(true, Ordering::Relaxed);
        tx.commit().await?;
        return Ok(None);
    }
    let done = app
        .executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::ChangeLevel { to: Level::Superuser, caller_level: Level::Superuser },
            Metadata::system(),
        )
        .await?;
    tx.commit().await?;
    app.superuser_exists.store(true, Ordering::Relaxed);
    tracing::info!(%user_id, "the first account is superuser");
    Ok(done.appended)
}

/// Confirms an email address with the token from the verification email (`<user id>.<secret>`).
/// A verified account becomes a member (level 1).
pub async fn verify_email(app: &App, token: &str) -> ApiResult<Applied> {
    let invalid = || ApiError::bad_input("that verification token is not valid");
    let (user_id, secret) = token.trim().split_once('.').ok_or_else(invalid)?;
    let user_id = Uuid::parse_str(user_id).map_err(|_| invalid())?;
    let stream = StreamName::user(user_id);
    let metadata = Metadata::new(Actor::User(user_id), Gateway::Api);
    let verified =
        app.executor.execute::<User>(&stream, &UserCommand::VerifyEmail { token_hash: TokenHash::of_secret(secret) }, metadata).await;
    let verified = match verified {
        Err(store::ExecuteError::Rejected(domain::UserError::NotRegistered)) => return Err(invalid()),
        other => other?,
    };
    let mut position = verified.appended.map(|a| a.position);
    let mut events = verified.events.len();
    if verified.state.level == Level::Guest {
        let promoted = app
            .executor
            .execute::<User>(&stream, &UserCommand::ChangeLevel { to: Level::Member, caller_level: Level::Superuser }, Metadata::system())
            .await?;
        events += promoted.events.len();
        position = promoted.appended.map(|a| a.position).or(position);
    }
    applied(app, position, events).await
}

/// Exchanges a username and password for a bearer token. Failed attempts are limited per
/// username and per address (`RATE_LIMITED`, with the seconds to wait). Returns once the token
/// is in the users read model, so the very next request with it works.
pub async fn log_in(app: &App, username: &str, password: &str, peer: Option<IpAddr>) -> ApiResult<LoggedIn> {
    app.login_limiter.attempt(username, peer)?;
    let wrong = || ApiError::refused(Code::Unauthenticated, "wrong username or password");
    let user = match Username::parse(username.trim()) {
        Err(_) => None,
        Ok(name) => {
            let (account, _) = app.executor.load::<AccountName>(&StreamName::account(&name.casefold())).await?;
            match account.holder {
                None => None,
                Some(user_id) => Some(app.executor.load::<User>(&StreamName::user(user_id)).await?.0),
            }
        }
    };
    let stored = user.as_ref().and_then(User::password_hash).map(str::to_owned);
    let presented = password.to_owned();
    let _permit = app.hashing.acquire().await.map_err(ApiError::internal)?;
    let matches = tokio::task::spawn_blocking(move || verify_password(&presented, stored.as_deref().unwrap_or_else(|| dummy_hash())))
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|u| matches && u.password_hash().is_some()) else {
        // Already counted by `attempt`.
        return Err(wrong());
    };
    app.login_limiter.record_success(username);
    let user_id = user.user_id.ok_or_else(wrong)?;

    let issued = issue_api_token(app, user_id).await?;
    Ok(LoggedIn {
        token: issued.secret,
        token_id: issued.token_id,
        expires_at: issued.expires_at,
        user_id,
        nick: user.nick.as_ref().map(ToString::to_string).unwrap_or_default(),
        level: user.level,
        position: issued.position,
    })
}

/// A new API token, shown once.
#[derive(Debug, Clone)]
pub struct IssuedApiToken {
    pub secret: String,
    pub token_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub position: Position,
}

/// Issues an API token to `user_id` (valid `api.api_token_ttl_hours`). Returns once the token
/// is in the users read model, so the very next request with it works.
pub async fn issue_api_token(app: &App, user_id: Uuid) -> ApiResult<IssuedApiToken> {
    let secret = new_secret("sb_");
    let token_id = Uuid::now_v7();
    let expires_at = Utc::now() + TimeDelta::hours(app.settings.api_token_ttl_hours as i64);
    let done = app
        .executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::IssueApiToken { token_id, token_hash: TokenHash::of_secret(&secret), expires_at },
            Metadata::new(Actor::User(user_id), Gateway::Api),
        )
        .await?;
    let position = done.position();
    wait_for(app, Some(&LogPosition(position)), &["users"]).await?;
    Ok(IssuedApiToken { secret, token_id, expires_at, position })
}

/// Ends one of `user_id`'s live IRC sessions (recorded as a logout; the IRC bot follows the log
/// and tells the person on IRC). Ending a session that already ended changes nothing.
pub async fn end_irc_session(app: &App, user_id: Uuid, session_id: Uuid) -> ApiResult<Applied> {
    let metadata = Metadata::new(Actor::User(user_id), Gateway::Api);
    let end = UserCommand::EndIrcSession { session_id: Some(session_id), reason: domain::events::SessionEndReason::Logout };
    let done = app.executor.execute::<User>(&StreamName::user(user_id), &end, metadata).await?;
    let applied = applied(app, done.appended.map(|a| a.position), done.events.len()).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// Revokes one of `user_id`'s API tokens and returns once the users read model knows, so the
/// token is refused from the moment this returns.
pub async fn revoke_api_token(app: &App, user_id: Uuid, token_id: Uuid) -> ApiResult<Applied> {
    let metadata = Metadata::new(Actor::User(user_id), Gateway::Api);
    let done = app.executor.execute::<User>(&StreamName::user(user_id), &UserCommand::RevokeApiToken { token_id }, metadata).await?;
    let applied = applied(app, done.appended.map(|a| a.position), done.events.len()).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// Issues a one-time IRC token for `.register` or `.login` (earlier unused ones of the same
/// purpose stop working).
pub async fn issue_irc_token(app: &App, user_id: Uuid, purpose: TokenPurpose) -> ApiResult<IssuedIrcToken> {
    let secret = new_secret("irc_");
    let expires_at = Utc::now() + TimeDelta::minutes(app.settings.irc_token_ttl_minutes as i64);
    let done = app
        .executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::IssueIrcToken { token_id: Uuid::now_v7(), token_hash: TokenHash::of_secret(&secret), purpose, expires_at },
            Metadata::new(Actor::User(user_id), Gateway::Api),
        )
        .await?;
    Ok(IssuedIrcToken { secret, purpose, expires_at, position: done.position() })
}

/// Emails a password reset link (`/reset?token=…`, single use, valid
/// `api.password_reset_ttl_minutes`) to the account's address. Answers the same whether or not the
/// account exists, so the form tells nobody which usernames are taken; limited per client
/// address like sign-ups (each costs an email).
pub async fn request_password_reset(app: &App, username: &str, peer: Option<IpAddr>) -> ApiResult<()> {
    app.sign_up_limiter.attempt("", peer)?;
    let Ok(name) = Username::parse(username.trim()) else { return Ok(()) };
    let (account, _) = app.executor.load::<AccountName>(&StreamName::account(&name.casefold())).await?;
    let Some(user_id) = account.holder else { return Ok(()) };
    let (user, _) = app.executor.load::<User>(&StreamName::user(user_id)).await?;
    let Some(web) = user.web.as_ref().filter(|_| !user.closed) else { return Ok(()) };
    let secret = new_secret("");
    let expires_at = Utc::now() + TimeDelta::minutes(app.settings.password_reset_ttl_minutes as i64);
    app.executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::RequestPasswordReset { token_hash: TokenHash::of_secret(&secret), expires_at },
            Metadata::new(Actor::Anonymous, Gateway::Api),
        )
        .await?;
    let url = app.settings.public_url.trim_end_matches('/');
    let nick = user.nick.as_ref().map(ToString::to_string).unwrap_or_default();
    let body = format!(
        "Hello {nick},\n\nsomeone (we hope you) asked to set a new password for your Switchboard account {name}.\n\
         Open this link to choose one:\n\n  {url}/reset?token={user_id}.{secret}\n\n\
         The link works once and expires at {expires_at}. Setting a new password signs you out everywhere.\n\
         If you did not ask for this, ignore this email: your password stays as it is.\n"
    );
    if let Err(e) = app.mailer.send(&app.settings.mail_from, web.email.as_str(), "Set a new Switchboard password", body).await {
        tracing::warn!(error = %e.describe(), %user_id, "could not send the password reset email");
    }
    Ok(())
}

/// Sets a new password with the token from a reset link (`<user id>.<secret>`). Every API token
/// of the account is revoked (every web session and API client is signed out); returns once
/// the users read model knows, so they are refused from then on.
pub async fn reset_password(app: &App, token: &str, password: &str) -> ApiResult<Applied> {
    let invalid = || ApiError::bad_input(domain::UserError::NoPendingReset.to_string());
    let (user_id, secret) = token.trim().split_once('.').ok_or_else(invalid)?;
    let user_id = Uuid::parse_str(user_id).map_err(|_| invalid())?;
    check_password_rules(password)?;
    let presented = password.to_owned();
    let password_hash = {
        let _permit = app.hashing.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || hash_password(&presented)).await.map_err(ApiError::internal)??
    };
    let command = UserCommand::ResetPassword { token_hash: TokenHash::of_secret(secret), password_hash };
    let done =
        match app.executor.execute::<User>(&StreamName::user(user_id), &command, Metadata::new(Actor::User(user_id), Gateway::Api)).await {
            Err(store::ExecuteError::Rejected(domain::UserError::NotRegistered)) => return Err(invalid()),
            other => other?,
        };
    let applied = applied(app, done.appended.map(|a| a.position), done.events.len()).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// Closes the account of `user_id` (only its owner may): its IRC session ends and every API
/// token is revoked, recorded as events; the data stays until it is erased. Returns once the
/// users read model knows, so every session is refused from then on.
pub async fn close_account(app: &App, user_id: Uuid) -> ApiResult<Applied> {
    let metadata = Metadata::new(Actor::User(user_id), Gateway::Api);
    let done = app.executor.execute::<User>(&StreamName::user(user_id), &UserCommand::CloseAccount, metadata).await?;
    let applied = applied(app, done.appended.map(|a| a.position), done.events.len()).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// Sets the about text (empty clears it) and the privacy of `viewer`'s own profile. Members
/// (level 1), as IRC's `.about set` and SMS `#private`.
pub async fn set_profile(app: &App, viewer: &crate::auth::Viewer, about: &str, private: bool) -> ApiResult<Applied> {
    viewer.require(Level::Member, "editing your profile")?;
    let about = match about.trim() {
        "" => None,
        text => Some(domain::AboutText::parse(text)?),
    };
    let stream = StreamName::user(viewer.user_id);
    let metadata = Metadata::new(Actor::User(viewer.user_id), Gateway::Api);
    let set_about = app.executor.execute::<User>(&stream, &UserCommand::SetAbout { about }, metadata.clone()).await?;
    let set_privacy = app.executor.execute::<User>(&stream, &UserCommand::SetPrivacy { private }, metadata).await?;
    let position = set_privacy.appended.or(set_about.appended).map(|a| a.position);
    let applied = applied(app, position, set_about.events.len() + set_privacy.events.len()).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// Changes `viewer`'s nick: the same nick rules and the same change as SMS `#update`
/// ([`gateways::nicks::change_nick`]: unique across IRC and SMS, compared without case). Returns
/// once the users read model has it.
pub async fn change_nick(app: &App, viewer: &crate::auth::Viewer, nick: &str) -> ApiResult<Applied> {
    let nick = Nick::parse(nick.trim())?;
    let metadata = Metadata::new(Actor::User(viewer.user_id), Gateway::Api);
    let changed = gateways::nicks::change_nick(&app.executor, viewer.user_id, &nick, metadata, None).await?;
    let applied = applied(app, changed.appended.map(|a| a.position), usize::from(changed.appended.is_some())).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// Starts changing `viewer`'s email address: a verification link goes to the new address, and
/// the current one stays the account's until the link is opened ([`verify_email`]). Limited
/// per client address like sign-ups (each costs an email).
pub async fn request_email_change(app: &App, viewer: &crate::auth::Viewer, email: &str, peer: Option<IpAddr>) -> ApiResult<Applied> {
    let email = Email::parse(email.trim())?;
    app.sign_up_limiter.attempt("", peer)?;
    let secret = new_secret("");
    let expires_at = Utc::now() + TimeDelta::hours(app.settings.email_token_ttl_hours as i64);
    let command = UserCommand::RequestEmailChange { email: email.clone(), token_hash: TokenHash::of_secret(&secret), expires_at };
    let metadata = Metadata::new(Actor::User(viewer.user_id), Gateway::Api);
    let done = app.executor.execute::<User>(&StreamName::user(viewer.user_id), &command, metadata).await?;
    let nick = done.state.nick.as_ref().map(ToString::to_string).unwrap_or_default();
    mail_verification_link(app, viewer.user_id, &nick, &email, &secret, expires_at).await;
    applied(app, done.appended.map(|a| a.position), done.events.len()).await
}

/// Texts phone verification codes: the Twilio client, and the number they come from
/// (setting `twilio.verification_number`).
#[derive(Clone)]
pub struct CodeTexter {
    pub twilio: gateways::sms::twilio::TwilioClient,
    pub from: domain::PhoneNumber,
}

/// How long a texted phone code works.
pub const PHONE_CODE_TTL: TimeDelta = TimeDelta::minutes(10);

/// A phone code on its way.
#[derive(Debug, Clone)]
pub struct PhoneCodeSent {
    pub phone: domain::PhoneNumber,
    pub expires_at: DateTime<Utc>,
    pub position: Position,
}

/// The hash a phone code is kept as. The code has only a million values, so the hash alone
/// would not hide it from someone reading the log; salted with the user and the number, it
/// cannot be looked up in a table, and it is void after [`PHONE_CODE_TTL`] and
/// `domain::user::PHONE_CODE_ATTEMPTS` wrong tries anyway.
fn phone_code_hash(user_id: Uuid, phone: &domain::PhoneNumber, code: &str) -> TokenHash {
    TokenHash::of_secret(&format!("phone-code:{user_id}:{phone}:{code}"))
}

/// Texts a 6-digit code to `phone` (as people type numbers, in the verification number's
/// country when it has no `+`) to prove it is `viewer`'s. Members; a few codes an hour (the
/// domain's limit); a number that is already someone else's is refused before anything is
/// texted. The code is kept only as a hash.
pub async fn request_phone_code(app: &App, viewer: &crate::auth::Viewer, phone: &str) -> ApiResult<PhoneCodeSent> {
    let texter = app
        .phone_codes
        .as_ref()
        .ok_or_else(|| ApiError::bad_input("this server cannot text codes (no twilio.verification_number is set)"))?;
    viewer.require(Level::Member, "verifying a phone number")?;
    let phone = gateways::sms::numbers::parse_typed(phone, &texter.from).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let (reservation, _) = app.executor.load::<domain::PhoneReservation>(&StreamName::phone(phone.as_str())).await?;
    if reservation.holder.is_some_and(|holder| holder != viewer.user_id) {
        return Err(ApiError::from(store::ExecuteError::<domain::ReservationError>::Rejected(domain::ReservationError::PhoneTaken)));
    }
    let code = format!("{:06}", rand::Rng::random_range(&mut rand::rng(), 0..1_000_000u32));
    let expires_at = Utc::now() + PHONE_CODE_TTL;
    let command = UserCommand::RequestPhoneVerification {
        phone: phone.clone(),
        code_hash: phone_code_hash(viewer.user_id, &phone, &code),
        expires_at,
    };
    let metadata = Metadata::new(Actor::User(viewer.user_id), Gateway::Api);
    let done = app.executor.execute::<User>(&StreamName::user(viewer.user_id), &command, metadata).await?;
    let body = format!(
        "Your Switchboard code is {code}. It works for {} minutes. If you did not ask for it, ignore this text.",
        PHONE_CODE_TTL.num_minutes()
    );
    // The request's event id makes the idempotency key: Twilio sends one text per request.
    let key = done.appended.map(|a| a.position.to_string()).unwrap_or_else(|| Uuid::now_v7().to_string());
    if let Err(e) = texter.twilio.send_untracked(texter.from.as_str(), phone.as_str(), &body, &key).await {
        tracing::warn!(error = %e, user_id = %viewer.user_id, "could not text a phone code");
        return Err(ApiError::unavailable("the code could not be texted; try again in a moment"));
    }
    Ok(PhoneCodeSent { phone, expires_at, position: done.position() })
}

/// Checks a code typed back for `viewer`'s pending phone verification. Right: the number is
/// reserved for the account and bound to it (`user.phone_bound`; texts from it are this
/// account's from then on), and an earlier number is let go. Wrong: refused, counted, and the
/// last allowed wrong code voids it. Returns once the users read model has the number.
pub async fn verify_phone_code(app: &App, viewer: &crate::auth::Viewer, code: &str) -> ApiResult<Applied> {
    let stream = StreamName::user(viewer.user_id);
    let metadata = Metadata::new(Actor::User(viewer.user_id), Gateway::Api);
    let (user, _) = app.executor.load::<User>(&stream).await?;
    let Some((pending, _, _)) = user.pending_phone() else {
        return Err(store::ExecuteError::<domain::UserError>::Rejected(domain::UserError::NoPendingPhoneVerification).into());
    };
    let code_hash = phone_code_hash(viewer.user_id, pending, code.trim());
    let done = app.executor.execute::<User>(&stream, &UserCommand::VerifyPhone { code_hash }, metadata.clone()).await?;
    let phone = match domain::phone_outcome(&done.events) {
        Some(domain::PhoneOutcome::Verified { phone }) => phone,
        Some(domain::PhoneOutcome::WrongCode { attempts_left: 0 }) => {
            return Err(ApiError::bad_input("that code is not right, and it was the last try; ask for a new code"));
        }
        Some(domain::PhoneOutcome::WrongCode { attempts_left }) => {
            let tries = if attempts_left == 1 { "1 try".to_owned() } else { format!("{attempts_left} tries") };
            return Err(ApiError::bad_input(format!("that code is not right; {tries} left")));
        }
        None => return Err(ApiError::internal(std::io::Error::other("a phone code decision without an outcome"))),
    };
    let reserve = domain::PhoneCommand::Reserve { phone: phone.clone(), user_id: viewer.user_id };
    app.executor.execute::<domain::PhoneReservation>(&StreamName::phone(phone.as_str()), &reserve, metadata.clone()).await?;
    let bound = app.executor.execute::<User>(&stream, &UserCommand::BindPhone { phone: phone.clone() }, metadata.clone()).await?;
    let mut position = bound.appended.or(done.appended).map(|a| a.position);
    if let Some(old) = user.phone.as_ref().filter(|old| **old != phone) {
        let release = domain::PhoneCommand::Release { phone: old.clone(), user_id: viewer.user_id };
        let released = app.executor.execute::<domain::PhoneReservation>(&StreamName::phone(old.as_str()), &release, metadata).await?;
        position = released.appended.map(|a| a.position).or(position);
    }
    let applied = applied(app, position, done.events.len() + bound.events.len()).await?;
    wait_for(app, Some(&LogPosition(applied.position)), &["users"]).await?;
    Ok(applied)
}

/// What a profile is waiting for: an email address whose link was not opened yet, a phone code
/// not typed back yet.
#[derive(Debug, Clone, Default)]
pub struct PendingChanges {
    pub email: Option<Email>,
    /// The number, until when its code works, and the wrong codes it still takes.
    pub phone: Option<(domain::PhoneNumber, DateTime<Utc>, u8)>,
}

/// [`PendingChanges`] of `user_id` (from its stream: these are not in any read model). A phone
/// code that has expired is left out.
pub async fn pending_changes(app: &App, user_id: Uuid) -> ApiResult<PendingChanges> {
    let (user, _) = app.executor.load::<User>(&StreamName::user(user_id)).await?;
    let phone = user.pending_phone().filter(|(_, expires_at, _)| Utc::now() < *expires_at).map(|(p, at, left)| (p.clone(), at, left));
    Ok(PendingChanges { email: user.pending_email().cloned(), phone })
}
