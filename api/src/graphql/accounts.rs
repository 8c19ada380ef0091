//! Accounts: sign up, verify email, log in and out (bearer API tokens), IRC login tokens, the
//! profile (nick, email change, a phone verified by a texted code), and `me`. The steps themselves are [`crate::accounts`], shared with the web pages.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::events::TokenPurpose;
use store::Position;
use uuid::Uuid;

use super::types::{Changed, LevelName, LogPosition};
use super::users::UserNode;
use super::{ContextExt, wait_for};
use crate::App;
use crate::accounts::{self, Applied, NewAccount};
use crate::error::{ApiError, ApiResult};

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

#[derive(SimpleObject)]
pub struct PhoneCodePayload {
    /// The number the code was texted to (E.164).
    pub phone: String,
    /// Until when the code works.
    pub expires_at: DateTime<Utc>,
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
        let input = NewAccount { username: input.username, email: input.email, password: input.password, nick: input.nick };
        let done = accounts::sign_up(ctx.app(), input, ctx.peer()).await.map_err(|refusal| refusal.error)?;
        Ok(SignUpPayload {
            user_id: done.user_id,
            nick: done.nick,
            level: done.level.into(),
            verification_sent: done.verification_sent,
            position: LogPosition(done.position),
        })
    }

    /// Confirms an email address with the token from the verification email. A verified
    /// account becomes a member (level 1).
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> ApiResult<Changed> {
        Ok(changed_from(accounts::verify_email(ctx.app(), &token).await?))
    }

    /// Exchanges a username and password for a bearer token. Failed attempts are limited per
    /// username and per address (`RATE_LIMITED`, with `retryAfterSeconds`).
    async fn log_in(&self, ctx: &Context<'_>, username: String, password: String) -> ApiResult<LogInPayload> {
        let done = accounts::log_in(ctx.app(), &username, &password, ctx.peer()).await?;
        Ok(LogInPayload {
            token: done.token,
            token_id: done.token_id,
            expires_at: done.expires_at,
            user_id: done.user_id,
            nick: done.nick,
            level: done.level.into(),
            position: LogPosition(done.position),
        })
    }

    /// Revokes the token this request was made with.
    async fn log_out(&self, ctx: &Context<'_>) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(changed_from(accounts::revoke_api_token(ctx.app(), viewer.user_id, viewer.token_id).await?))
    }

    /// Revokes one of your API tokens by id.
    async fn revoke_api_token(&self, ctx: &Context<'_>, token_id: Uuid) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(changed_from(accounts::revoke_api_token(ctx.app(), viewer.user_id, token_id).await?))
    }

    /// Changes your nick (1-20 letters, digits, `_` or `-`, starting with a letter; unique across
    /// IRC and SMS, compared without case), as SMS `#update` does.
    async fn change_nick(&self, ctx: &Context<'_>, nick: String) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(changed_from(accounts::change_nick(ctx.app(), &viewer, &nick).await?))
    }

    /// Emails a verification link to a new address; your current address stays until the
    /// link is opened (`verifyEmail`). Limited per client address, like sign-ups.
    async fn change_email(&self, ctx: &Context<'_>, email: String) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(changed_from(accounts::request_email_change(ctx.app(), &viewer, &email, ctx.peer()).await?))
    }

    /// Texts a 6-digit code to `phone` to prove it is yours (`verifyPhone`). Members (level 1);
    /// three codes an hour; a number that is someone else's is refused.
    async fn request_phone_code(&self, ctx: &Context<'_>, phone: String) -> ApiResult<PhoneCodePayload> {
        let viewer = ctx.signed_in()?.clone();
        let sent = accounts::request_phone_code(ctx.app(), &viewer, &phone).await?;
        Ok(PhoneCodePayload { phone: sent.phone.to_string(), expires_at: sent.expires_at, position: LogPosition(sent.position) })
    }

    /// Checks the texted code; right, the number becomes your account's (texts from it are
    /// yours). Five wrong codes void it.
    async fn verify_phone(&self, ctx: &Context<'_>, code: String) -> ApiResult<Changed> {
        let viewer = ctx.signed_in()?.clone();
        Ok(changed_from(accounts::verify_phone_code(ctx.app(), &viewer, &code).await?))
    }

    /// Issues a one-time IRC token (earlier unused ones of the same purpose stop working).
    /// Members (level 1) and above.
    async fn issue_irc_token(&self, ctx: &Context<'_>, purpose: IrcTokenPurpose) -> ApiResult<IrcTokenPayload> {
        let viewer = ctx.signed_in()?.clone();
        let domain_purpose = match purpose {
            IrcTokenPurpose::Register => TokenPurpose::Register,
            IrcTokenPurpose::Login => TokenPurpose::Login,
        };
        let issued = accounts::issue_irc_token(ctx.app(), viewer.user_id, domain_purpose).await?;
        Ok(IrcTokenPayload {
            instructions: format!("in a private message to the bot: {}", issued.command()),
            token: issued.secret,
            purpose,
            expires_at: issued.expires_at,
            position: LogPosition(issued.position),
        })
    }
}

fn changed_from(applied: Applied) -> Changed {
    Changed { position: LogPosition(applied.position), events: applied.events as i32 }
}

/// A [`Changed`] for a command's outcome; a no-op reports the current head.
pub(crate) async fn changed(app: &App, position: Option<Position>, events: usize) -> ApiResult<Changed> {
    Ok(changed_from(accounts::applied(app, position, events).await?))
}
