//! Accounts: sign up, verify email, log in and out (bearer API tokens), IRC login tokens, and
//! `me`. Each step is a command through the executor on the reservation and user streams.

use std::sync::atomic::Ordering;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, TimeDelta, Utc};
use domain::{
    AccountName, AccountNameCommand, Actor, Email, Gateway, Level, Metadata, Nick, NickCommand, NickReservation, StreamName, TokenHash,
    User, UserCommand, Username, events::TokenPurpose,
};
use store::Position;
use uuid::Uuid;

use super::types::{Changed, LevelName, LogPosition};
use super::users::UserNode;
use super::{ContextExt, wait_for};
use crate::App;
use crate::auth::{check_password_rules, hash_password, new_secret, verify_password};
use crate::error::{ApiError, ApiResult, Code};

/// Sign-up ids are derived from the username, so a sign-up that failed half-way (after the
/// username was reserved) resumes with the same id instead of finding its own name taken.
const SIGN_UP_NAMESPACE: Uuid = Uuid::from_u128(0x5b0a_7d1e_3c2f_4e8a_9b6d_0f1e_2a3b_4c5d);

/// Checked against when the username is unknown, so a login for a missing account costs the
/// same time as a wrong password (no account enumeration by timing).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no such account: never matches").unwrap_or_default())
}

#[derive(InputObject)]
pub struct SignUpInput {
    pub username: String,
    pub email: String,
    pub password: String,
    /// The chat nick (unique across IRC and SMS). Defaults to the username when that is a
    /// valid nick.
    pub nick: Option<String>,
}

#[derive(SimpleObject)]
pub struct SignUpPayload {
    pub user_id: Uuid,
    pub nick: String,
    pub level: LevelName,
    /// A verification link was emailed (with the `print` transport: written to the log).
    pub verification_sent: bool,
    pub position: LogPosition,
}

#[derive(SimpleObject)]
pub struct LogInPayload {
    /// The bearer token: send `Authorization: Bearer <token>`. Shown once; only its hash is kept.
    pub token: String,
    pub token_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub nick: String,
    pub level: LevelName,
    pub position: LogPosition,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum IrcTokenPurpose {
    /// For `.register <token>`: binds your IRC nick and host to this account.
    Register,
    /// For `.login <token>`: starts an IRC session.
    Login,
}

#[derive(SimpleObject)]
pub struct IrcTokenPayload {
    /// Shown once. Send it to the bot in a private message, never in a channel (a token said in
    /// a channel is revoked at once).
    pub token: String,
    pub purpose: IrcTokenPurpose,
    pub expires_at: DateTime<Utc>,
    /// What to type, e.g. `/msg switchboard .login <token>`.
    pub instructions: String,
    pub position: LogPosition,
}

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>, #[graphql(name = "waitFor")] wait_for_position: Option<LogPosition>) -> ApiResult<UserNode> {
        ctx.spend()?;
        let viewer = ctx.signed_in()?.clone();
        let app = ctx.app();
        wait_for(app, wait_for_position.as_ref(), &["users"]).await?;
        Ok(UserNode::load(app, viewer.user_id).await?.ok_or_else(|| ApiError::not_found("your user is not in the read model yet"))?)
    }
}

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Creates a web account and its chat user, and emails a verification link. The first
    /// account on a fresh install becomes superuser (setting `api.first_user_superuser`).
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> ApiResult<SignUpPayload> {
        ctx.app().sign_up_limiter.attempt("", ctx.peer())?;
        sign_up(ctx.app(), input).await
    }

    /// Confirms an email address with the token from the verification email. A verified
    /// account becomes a member (level 1).
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> ApiResult<Changed> {
        verify_email(ctx.app(), &token).await
    }

    /// Exchanges a username and password for a bearer token. Failed attempts are limited per
    /// username and per address (`RATE_LIMITED`, with `retryAfterSeconds`).
    async fn log_in(&self, ctx: &Context<'_>, username: String, password: String) -> ApiResult<LogInPayload> {
        log_in(ctx.app(), &username, &password, ctx.peer()).await
    }

    /// Revokes the token this request was made with.
    async fn log_out(&self, ctx: &Context<'_>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(revoke(ctx, viewer.user_id, viewer.token_id).await?)
    }

    /// Revokes one of your API tokens by id.
    async fn revoke_api_token(&self, ctx: &Context<'_>, token_id: Uuid) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(revoke(ctx, viewer.user_id, token_id).await?)
    }

    /// Issues a one-time IRC token (earlier unused ones of the same purpose stop working).
    async fn issue_irc_token(&self, ctx: &Context<'_>, purpose: IrcTokenPurpose) -> ApiResult<IrcTokenPayload> {
        let viewer = ctx.signed_in()?.clone();
        let app = ctx.app();
        let secret = new_secret("irc_");
        let expires_at = Utc::now() + TimeDelta::minutes(app.settings.irc_token_ttl_minutes as i64);
        let domain_purpose = match purpose {
            IrcTokenPurpose::Register => TokenPurpose::Register,
            IrcTokenPurpose::Login => TokenPurpose::Login,
        };
        let done = app
            .executor
            .execute::<User>(
                &StreamName::user(viewer.user_id),
                &UserCommand::IssueIrcToken {
                    token_id: Uuid::now_v7(),
                    token_hash: TokenHash::of_secret(&secret),
                    purpose: domain_purpose,
                    expires_at,
                },
                ctx.metadata(),
            )
            .await?;
        let verb = match purpose {
            IrcTokenPurpose::Register => ".register",
            IrcTokenPurpose::Login => ".login",
        };
        Ok(IrcTokenPayload {
            instructions: format!("in a private message to the bot: {verb} {secret}"),
            token: secret,
            purpose,
            expires_at,
            position: LogPosition(done.position()),
        })
    }
}

/// Revokes a token and returns once the users read model knows, so the token is refused from
/// the moment the mutation answers.
async fn revoke(ctx: &Context<'_>, user_id: Uuid, token_id: Uuid) -> ApiResult<Changed> {
    let app = ctx.app();
    let done = app.executor.execute::<User>(&StreamName::user(user_id), &UserCommand::RevokeApiToken { token_id }, ctx.metadata()).await?;
    let changed = changed(app, done.appended.map(|a| a.position), done.events.len()).await?;
    wait_for(app, Some(&changed.position), &["users"]).await?;
    Ok(changed)
}

/// A [`Changed`] for a command's outcome; a no-op reports the current head.
pub(crate) async fn changed(app: &App, position: Option<Position>, events: usize) -> ApiResult<Changed> {
    let position = match position {
        Some(p) => p,
        None => store::EventStore::head(&app.store).await?,
    };
    Ok(Changed { position: LogPosition(position), events: events as i32 })
}

async fn sign_up(app: &App, input: SignUpInput) -> ApiResult<SignUpPayload> {
    let username = Username::parse(input.username.trim())?;
    let email = Email::parse(input.email.trim())?;
    check_password_rules(&input.password)?;
    let nick = match &input.nick {
        Some(nick) => Nick::parse(nick.trim())?,
        None => Nick::parse(username.as_str())
            .map_err(|_| ApiError::bad_input(format!("{username} is not a valid nick; choose one with `nick`")))?,
    };
    let user_id = Uuid::new_v5(&SIGN_UP_NAMESPACE, username.casefold().as_bytes());
    let metadata = Metadata::new(Actor::User(user_id), Gateway::Api);

    let account_stream = StreamName::account(&username.casefold());
    app.executor
        .execute::<AccountName>(&account_stream, &AccountNameCommand::Reserve { username: username.clone(), user_id }, metadata.clone())
        .await?;
    let (user, _) = app.executor.load::<User>(&StreamName::user(user_id)).await?;
    if user.web.is_some() {
        return Err(ApiError::conflict(format!("the username {username} is taken")));
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
        return Err(e.into());
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

    let secret = new_secret("");
    let expires_at = Utc::now() + TimeDelta::hours(app.settings.email_token_ttl_hours as i64);
    let mut done = app
        .executor
        .execute::<User>(
            &StreamName::user(user_id),
            &UserCommand::RequestEmailVerification { token_hash: TokenHash::of_secret(&secret), expires_at },
            metadata.clone(),
        )
        .await?;
    let token = format!("{user_id}.{secret}");
    let body = format!(
        "Hello {nick},\n\nconfirm your email address for Switchboard by opening GraphiQL at {url}/graphql and running:\n\n  \
         mutation {{ verifyEmail(token: \"{token}\") {{ position }} }}\n\nThe token expires at {expires_at}.\n",
        url = app.settings.public_url.trim_end_matches('/')
    );
    let verification_sent = match app.mailer.send(&app.settings.mail_from, email.as_str(), "Confirm your Switchboard account", body).await {
        Ok(()) => true,
        Err(e) => {
            // The account exists; the person can ask for a new link. Not worth failing sign-up.
            tracing::warn!(error = %e.describe(), %username, "could not send the verification email");
            false
        }
    };

    let mut level = done.state.level;
    if app.settings.first_user_superuser
        && let Some(granted) = grant_first_superuser(app, user_id).await?
    {
        level = Level::Superuser;
        done.appended = Some(granted);
    }
    Ok(SignUpPayload { user_id, nick: nick.to_string(), level: level.into(), verification_sent, position: LogPosition(done.position()) })
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
    let exists: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM es_events WHERE event_type = 'user.level_changed' AND payload ->> 'to' = '5')", &[])
        .await?
        .get(0);
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

async fn verify_email(app: &App, token: &str) -> ApiResult<Changed> {
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
    changed(app, position, events).await
}

async fn log_in(app: &App, username: &str, password: &str, peer: Option<std::net::IpAddr>) -> ApiResult<LogInPayload> {
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
    // The token is checked against the users read model: wait until it is there, so the very
    // next request with it works.
    let position = LogPosition(done.position());
    wait_for(app, Some(&position), &["users"]).await?;
    Ok(LogInPayload {
        token: secret,
        token_id,
        expires_at,
        user_id,
        nick: user.nick.as_ref().map(ToString::to_string).unwrap_or_default(),
        level: user.level.into(),
        position,
    })
}
