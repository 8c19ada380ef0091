//! `user-<id>`: one person across IRC, SMS and the web — identity, level, IRC tokens and
//! sessions, and the brute-force lockout.
//!
//! Failed logins are *recorded* (`Ok(vec![IrcLoginFailed ..])`), not refused with an error, so that
//! the lockout counts them across restarts. [`login_outcome`] tells the gateway what to answer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::metadata::{Actor, Gateway};
use crate::values::{AboutText, DisplayNick, Email, HostMask, Level, Nick, PhoneNumber, TokenHash, Username};

/// Failures within this window count towards a lockout (docs/commands.md#login-lockout).
pub const LOGIN_FAILURE_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// This many failures within the window, from one host, lock the nick on that host.
pub const MAX_LOGIN_FAILURES: usize = 5;
/// How long a lockout lasts.
pub const LOGIN_LOCK_DURATION: TimeDelta = TimeDelta::minutes(10);
/// Wrong codes a phone verification takes before its code is void (a 6-digit code: guessing
/// it in five tries succeeds once in 200,000).
pub const PHONE_CODE_ATTEMPTS: u8 = 5;
/// Codes texted to one account within [`PHONE_CODE_WINDOW`] (each text is paid for, and the
/// limit keeps a guesser from getting fresh attempts).
pub const PHONE_CODES_PER_WINDOW: usize = 3;
pub const PHONE_CODE_WINDOW: TimeDelta = TimeDelta::hours(1);

#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// Creates the user (SMS `#join`, IRC, or web sign-up). The nick must already be reserved.
    Register {
        user_id: Uuid,
        nick: Nick,
        gateway: Gateway,
    },
    /// The new nick must already be reserved; the old one is released by the caller afterwards.
    ChangeNick {
        new: Nick,
    },
    BindPhone {
        phone: PhoneNumber,
    },
    CreateWebAccount {
        username: Username,
        email: Email,
        password_hash: String,
    },
    RequestEmailVerification {
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    VerifyEmail {
        token_hash: TokenHash,
    },
    /// A new email address for the web account: the verification link goes to `email`, and the
    /// current address stays until it is opened (`VerifyEmail`).
    RequestEmailChange {
        email: Email,
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    /// Records a code texted to `phone` by the caller; supersedes a pending one. Members only,
    /// [`PHONE_CODES_PER_WINDOW`] per [`PHONE_CODE_WINDOW`].
    RequestPhoneVerification {
        phone: PhoneNumber,
        code_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    /// A code typed back. Right and in time: `PhoneVerified` (the caller then reserves the number
    /// and binds it). Wrong: recorded as `PhoneVerificationFailed`, and the
    /// [`PHONE_CODE_ATTEMPTS`]th wrong code voids it. Read the outcome with [`phone_outcome`].
    VerifyPhone {
        code_hash: TokenHash,
    },
    /// Only the user themself (`ctx.actor`).
    SetAbout {
        about: Option<AboutText>,
    },
    /// Only the user themself (`ctx.actor`).
    SetPrivacy {
        private: bool,
    },
    /// `caller_level` is the level of `ctx.actor`, looked up by the caller.
    ChangeLevel {
        to: Level,
        caller_level: Level,
    },
    /// `.meet <nick>`.
    SendSignUpInvitation {
        nick: DisplayNick,
    },
    /// Supersedes outstanding tokens of the same purpose.
    IssueIrcToken {
        token_id: Uuid,
        token_hash: TokenHash,
        purpose: TokenPurpose,
        expires_at: DateTime<Utc>,
    },
    /// `.register <token>` in a private message; `token` is the hash of what was presented.
    RegisterIrcIdentity {
        token: TokenHash,
        nick: Nick,
        mask: HostMask,
    },
    /// `.login <token>` in a private message.
    LoginIrc {
        token: TokenHash,
        nick: Nick,
        mask: HostMask,
        session_id: Uuid,
    },
    /// A token was said in a channel: revoke it if it is one of ours; punish nothing else.
    RevokeLeakedToken {
        token: TokenHash,
    },
    /// Ends the live session, if any (idempotent). With `session_id`, only that session.
    EndIrcSession {
        session_id: Option<Uuid>,
        reason: SessionEndReason,
    },
    /// Timer check: ends the session when nothing happened for `idle_timeout` since
    /// `last_activity` (which the caller knows from the read models).
    EndIdleIrcSession {
        last_activity: Option<DateTime<Utc>>,
        idle_timeout: TimeDelta,
    },
    /// Stops texts from `room_id` (`None`: from every room).
    StopSms {
        reason: SmsStopReason,
        room_id: Option<Uuid>,
    },
    /// Resumes texts from `room_id` (`None`: from every room).
    StartSms {
        room_id: Option<Uuid>,
    },
    IssueApiToken {
        token_id: Uuid,
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    RevokeApiToken {
        token_id: Uuid,
    },
    /// Records a password reset token (emailed as a link by the caller); supersedes an earlier one.
    RequestPasswordReset {
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    /// Sets a new password with the reset token, once, before it expires. Every API token is
    /// revoked: whoever held a session with the old password is signed out.
    ResetPassword {
        token_hash: TokenHash,
        password_hash: String,
    },
    /// Only the user themself (`ctx.actor`). Ends the IRC session and revokes every API token;
    /// afterwards every command but these clean-ups is refused.
    CloseAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("this user is already registered")]
    AlreadyRegistered,
    #[error("no such user")]
    NotRegistered,
    #[error("only {user} may change their own profile")]
    NotYourProfile { user: Uuid },
    #[error("you need level {needed} for that; you have {have}")]
    InsufficientLevel { needed: Level, have: Level },
    #[error("you cannot grant level {requested}: it is above your own level {caller}")]
    CannotGrantAbove { caller: Level, requested: Level },
    #[error("you cannot change the level of someone at level {target}: it is not below your own {caller}")]
    TargetOutranksCaller { target: Level, caller: Level },
    #[error("a web account already exists for this user")]
    WebAccountExists,
    #[error("this user has no web account")]
    NoWebAccount,
    #[error("the email address is already verified")]
    EmailAlreadyVerified,
    #[error("no email verification is pending")]
    NoPendingVerification,
    #[error("that token is not valid")]
    InvalidToken,
    #[error("that token has expired; issue a new one")]
    TokenExpired,
    #[error("that token was already used or revoked; issue a new one")]
    TokenRevoked,
    #[error("this user has no IRC identity; `.register` first")]
    NoIrcIdentity,
    #[error("the nick {got} is not this account's nick {expected}")]
    NickMismatch { expected: Nick, got: Nick },
    #[error("too many failed logins; try again after {until}")]
    LoginLocked { until: DateTime<Utc> },
    #[error("a password hash is required")]
    EmptyPasswordHash,
    #[error("no such API token")]
    UnknownApiToken,
    #[error("that password reset link is not valid (it works once, and only the newest one)")]
    NoPendingReset,
    #[error("this account is closed")]
    AccountClosed,
    #[error("that is already your email address")]
    SameEmail,
    #[error("that number is already yours")]
    PhoneAlreadyYours,
    #[error("too many codes texted; ask for a new one after {until}")]
    TooManyPhoneCodes { until: DateTime<Utc> },
    #[error("no code is waiting to be typed; ask for a new one")]
    NoPendingPhoneVerification,
}

#[derive(Debug, Clone, PartialEq)]
struct IrcToken {
    hash: TokenHash,
    purpose: TokenPurpose,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IrcSession {
    pub session_id: Uuid,
    pub mask: HostMask,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebAccount {
    pub username: Username,
    pub email: Email,
    pub email_verified: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct PendingVerification {
    email: Email,
    token_hash: TokenHash,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
struct PendingPhone {
    phone: PhoneNumber,
    code_hash: TokenHash,
    expires_at: DateTime<Utc>,
    attempts_left: u8,
}

#[derive(Debug, Clone, PartialEq)]
struct ApiToken {
    revoked: bool,
}

/// The state of one user. Fields the gateways may show are public; token material is not.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct User {
    pub user_id: Option<Uuid>,
    pub nick: Option<Nick>,
    pub phone: Option<PhoneNumber>,
    pub web: Option<WebAccount>,
    pub about: Option<AboutText>,
    /// Private by default (docs/commands.md#sms-private); set on registration.
    pub private: bool,
    pub level: Level,
    pub irc_identity: Option<(Nick, HostMask)>,
    pub session: Option<IrcSession>,
    /// Login lockouts by the host they were earned from; `None` locks every host (a lock whose
    /// failures are not in the history).
    login_locks: BTreeMap<Option<String>, DateTime<Utc>>,
    /// Whether room messages are texted to this user at all: false after a stop recorded for
    /// every room. A stop in one room is in `sms_stopped_rooms`; see [`User::receives_sms_in`].
    pub sms_receiving: bool,
    /// The rooms whose texts this user stopped (`#stop`, a carrier STOP to that room's number).
    pub sms_stopped_rooms: BTreeSet<Uuid>,
    pending_verification: Option<PendingVerification>,
    irc_tokens: BTreeMap<Uuid, IrcToken>,
    /// Failed logins (host, time) since the last lockout of their host: someone guessing from
    /// another host must not lock the owner out of their own.
    recent_failures: Vec<(String, DateTime<Utc>)>,
    api_tokens: BTreeMap<Uuid, ApiToken>,
    /// The web account's argon2 hash (checked by the API at log-in; never shown).
    password_hash: Option<String>,
    pending_reset: Option<(TokenHash, DateTime<Utc>)>,
    /// Closed by its owner (`CloseAccount`).
    pub closed: bool,
    pending_phone: Option<PendingPhone>,
    /// When phone codes were texted (for [`PHONE_CODES_PER_WINDOW`]).
    phone_codes_sent: Vec<DateTime<Utc>>,
}

impl User {
    pub fn is_registered(&self) -> bool {
        self.user_id.is_some()
    }

    /// Whether the texts of `room` reach this user: stopped neither everywhere nor in that room.
    pub fn receives_sms_in(&self, room: Uuid) -> bool {
        self.sms_receiving && !self.sms_stopped_rooms.contains(&room)
    }

    /// The address a verification link was sent to and not yet opened, when it is not the
    /// account's current one (an email change waiting for its link).
    pub fn pending_email(&self) -> Option<&Email> {
        let pending = self.pending_verification.as_ref()?;
        (self.web.as_ref().map(|w| &w.email) != Some(&pending.email)).then_some(&pending.email)
    }

    /// The number a phone code was texted to, until when the code works and the wrong codes it
    /// still takes.
    pub fn pending_phone(&self) -> Option<(&PhoneNumber, DateTime<Utc>, u8)> {
        self.pending_phone.as_ref().map(|p| (&p.phone, p.expires_at, p.attempts_left))
    }

    /// The stored argon2 hash of the web account's password, for the API's log-in check.
    pub fn password_hash(&self) -> Option<&str> {
        self.password_hash.as_deref()
    }

    /// Until when logging in from `host` is locked at `now`, if it is.
    pub fn login_locked_until(&self, host: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [self.login_locks.get(&Some(host.to_owned())), self.login_locks.get(&None)]
            .into_iter()
            .flatten()
            .copied()
            .filter(|u| now < *u)
            .max()
    }

    fn id(&self) -> Result<Uuid, UserError> {
        self.user_id.ok_or(UserError::NotRegistered)
    }

    /// API tokens not revoked (expired ones included: revoking them is harmless and keeps
    /// the rule free of the clock).
    fn live_api_tokens(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.api_tokens.iter().filter(|(_, t)| !t.revoked).map(|(id, _)| *id)
    }

    fn require_self(&self, ctx: &Context) -> Result<Uuid, UserError> {
        let id = self.id()?;
        match &ctx.actor {
            Actor::User(actor) if *actor == id => Ok(id),
            _ => Err(UserError::NotYourProfile { user: id }),
        }
    }

    /// Finds the IRC token whose hash equals `presented`. Every stored hash is compared (in
    /// constant time each) so the time taken does not reveal which token was close.
    fn find_irc_token(&self, presented: &TokenHash, purpose: Option<TokenPurpose>) -> Option<(Uuid, &IrcToken)> {
        let mut found = None;
        for (id, token) in &self.irc_tokens {
            if token.hash.verify(presented) && purpose.is_none_or(|p| p == token.purpose) {
                found = Some((*id, token));
            }
        }
        found
    }

    fn require_irc_nick(&self, nick: &Nick) -> Result<(), UserError> {
        match &self.nick {
            Some(expected) if expected.same_as(nick) => Ok(()),
            Some(expected) => Err(UserError::NickMismatch { expected: expected.clone(), got: nick.clone() }),
            None => Err(UserError::NotRegistered),
        }
    }

    /// Checks a presented token of `purpose`: the events are the token's consumption on success.
    fn consume_token(&self, presented: &TokenHash, purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Uuid, LoginFailureReason> {
        match self.find_irc_token(presented, Some(purpose)) {
            None => Err(LoginFailureReason::WrongToken),
            Some((_, token)) if token.revoked => Err(LoginFailureReason::Revoked),
            Some((_, token)) if now >= token.expires_at => Err(LoginFailureReason::Expired),
            Some((id, _)) => Ok(id),
        }
    }

    fn change_level(&self, to: Level, caller_level: Level, ctx: &Context) -> Result<Vec<Event>, UserError> {
        let user_id = self.id()?;
        // The system (configuration, migrations) is trusted; everyone else goes through the rules.
        if ctx.actor != Actor::System {
            if caller_level < Level::Operator {
                return Err(UserError::InsufficientLevel { needed: Level::Operator, have: caller_level });
            }
            if caller_level != Level::Superuser {
                if to > caller_level {
                    return Err(UserError::CannotGrantAbove { caller: caller_level, requested: to });
                }
                // Granting staff needs staff; implied by the rule above, stated for the reader.
                if to >= Level::Staff && caller_level < Level::Staff {
                    return Err(UserError::CannotGrantAbove { caller: caller_level, requested: to });
                }
                // Includes yourself: nobody but a superuser changes their own level.
                if self.level >= caller_level {
                    return Err(UserError::TargetOutranksCaller { target: self.level, caller: caller_level });
                }
            }
        }
        if to == self.level {
            return Ok(vec![]);
        }
        Ok(vec![Event::LevelChanged(LevelChanged { user_id, from: self.level, to, by: ctx.actor.clone() })])
    }

    fn login(&self, token: &TokenHash, nick: &Nick, mask: &HostMask, session_id: Uuid, ctx: &Context) -> Result<Vec<Event>, UserError> {
        let user_id = self.id()?;
        if self.irc_identity.is_none() {
            return Err(UserError::NoIrcIdentity);
        }
        self.require_irc_nick(nick)?;
        let host = mask.host_part();
        if let Some(until) = self.login_locked_until(&host, ctx.now) {
            // Refused without checking the token: while locked, guessing teaches nothing.
            return Err(UserError::LoginLocked { until });
        }
        match self.consume_token(token, TokenPurpose::Login, ctx.now) {
            Ok(token_id) => {
                let mut events = vec![];
                if let Some(old) = &self.session {
                    events.push(Event::IrcSessionEnded(IrcSessionEnded {
                        user_id,
                        session_id: old.session_id,
                        reason: SessionEndReason::Replaced,
                    }));
                }
                events.push(Event::IrcTokenRevoked(IrcTokenRevoked { user_id, token_id, reason: TokenRevocationReason::Used }));
                events.push(Event::IrcSessionStarted(IrcSessionStarted {
                    user_id,
                    session_id,
                    nick: nick.clone(),
                    mask: mask.clone(),
                    started_at: ctx.now,
                }));
                Ok(events)
            }
            Err(reason) => {
                let mut events =
                    vec![Event::IrcLoginFailed(IrcLoginFailed { user_id, nick: nick.clone(), mask: mask.clone(), reason, at: ctx.now })];
                let window_start = ctx.now - LOGIN_FAILURE_WINDOW;
                let recent = self.recent_failures.iter().filter(|(from, at)| *from == host && *at > window_start).count() + 1;
                if recent >= MAX_LOGIN_FAILURES {
                    events.push(Event::IrcLoginLocked(IrcLoginLocked {
                        user_id,
                        nick: nick.clone(),
                        until: ctx.now + LOGIN_LOCK_DURATION,
                    }));
                }
                Ok(events)
            }
        }
    }
}

/// What a `VerifyPhone` decision means for the person who typed the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneOutcome {
    Verified {
        phone: PhoneNumber,
    },
    /// A wrong code; at 0 the code is void.
    WrongCode {
        attempts_left: u8,
    },
}

/// Reads the outcome of a phone code from the events `decide` returned.
pub fn phone_outcome(events: &[Event]) -> Option<PhoneOutcome> {
    events.iter().find_map(|e| match e {
        Event::PhoneVerified(v) => Some(PhoneOutcome::Verified { phone: v.phone.clone() }),
        Event::PhoneVerificationFailed(f) => Some(PhoneOutcome::WrongCode { attempts_left: f.attempts_left }),
        _ => None,
    })
}

/// What a `LoginIrc` decision means for the person who typed `.login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    LoggedIn { session_id: Uuid },
    Failed { reason: LoginFailureReason, locked_until: Option<DateTime<Utc>> },
}

/// Reads the outcome of a login from the events `decide` returned (an `Err` is a refusal before
/// any attempt was counted, e.g. while locked).
pub fn login_outcome(events: &[Event]) -> Option<LoginOutcome> {
    let locked_until = events.iter().find_map(|e| match e {
        Event::IrcLoginLocked(l) => Some(l.until),
        _ => None,
    });
    events.iter().find_map(|e| match e {
        Event::IrcSessionStarted(s) => Some(LoginOutcome::LoggedIn { session_id: s.session_id }),
        Event::IrcLoginFailed(f) => Some(LoginOutcome::Failed { reason: f.reason, locked_until }),
        _ => None,
    })
}

impl Aggregate for User {
    type Event = Event;
    type Command = UserCommand;
    type Error = UserError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::UserRegistered(e) => {
                self.user_id = Some(e.user_id);
                self.nick = Some(e.nick.clone());
                self.private = true;
                self.sms_receiving = true;
            }
            Event::NickChanged(e) => self.nick = Some(e.new.clone()),
            Event::PhoneBound(e) => self.phone = Some(e.phone.clone()),
            Event::PhoneVerificationRequested(e) => {
                self.pending_phone = Some(PendingPhone {
                    phone: e.phone.clone(),
                    code_hash: e.code_hash.clone(),
                    expires_at: e.expires_at,
                    attempts_left: PHONE_CODE_ATTEMPTS,
                });
                // Only the window's worth is needed for the limit.
                let window_start = e.requested_at - PHONE_CODE_WINDOW;
                self.phone_codes_sent.retain(|at| *at > window_start);
                self.phone_codes_sent.push(e.requested_at);
            }
            Event::PhoneVerificationFailed(e) => {
                if e.attempts_left == 0 {
                    self.pending_phone = None;
                } else if let Some(pending) = &mut self.pending_phone {
                    pending.attempts_left = e.attempts_left;
                }
            }
            Event::PhoneVerified(_) => self.pending_phone = None,
            Event::WebAccountCreated(e) => {
                self.web = Some(WebAccount { username: e.username.clone(), email: e.email.clone(), email_verified: false });
                self.password_hash = Some(e.password_hash.clone());
            }
            Event::EmailVerificationRequested(e) => {
                self.pending_verification =
                    Some(PendingVerification { email: e.email.clone(), token_hash: e.token_hash.clone(), expires_at: e.expires_at })
            }
            Event::EmailVerified(e) => {
                self.pending_verification = None;
                if let Some(web) = &mut self.web {
                    web.email = e.email.clone();
                    web.email_verified = true;
                }
            }
            Event::AboutChanged(e) => self.about = e.about.clone(),
            Event::PrivacyChanged(e) => self.private = e.private,
            Event::LevelChanged(e) => self.level = e.to,
            Event::IrcTokenIssued(e) => {
                self.irc_tokens.insert(
                    e.token_id,
                    IrcToken { hash: e.token_hash.clone(), purpose: e.purpose, expires_at: e.expires_at, revoked: false },
                );
            }
            Event::IrcTokenRevoked(e) => {
                if let Some(t) = self.irc_tokens.get_mut(&e.token_id) {
                    t.revoked = true;
                }
            }
            Event::IrcIdentityRegistered(e) => self.irc_identity = Some((e.nick.clone(), e.host_mask.clone())),
            Event::IrcSessionStarted(e) => {
                self.session = Some(IrcSession { session_id: e.session_id, mask: e.mask.clone(), started_at: e.started_at });
                let host = e.mask.host_part();
                self.recent_failures.retain(|(from, _)| *from != host);
            }
            Event::IrcLoginFailed(e) => self.recent_failures.push((e.mask.host_part(), e.at)),
            Event::IrcLoginLocked(e) => {
                // A lock follows the failure that earned it, in the same decision: it locks
                // that failure's host, and the host starts a fresh count.
                let host = self.recent_failures.last().map(|(host, _)| host.clone());
                if let Some(host) = &host {
                    self.recent_failures.retain(|(from, _)| from != host);
                }
                self.login_locks.insert(host, e.until);
            }
            Event::IrcSessionEnded(e) if self.session.as_ref().is_some_and(|s| s.session_id == e.session_id) => self.session = None,
            Event::SmsStopped(e) => match e.room_id {
                Some(room) => {
                    self.sms_stopped_rooms.insert(room);
                }
                None => self.sms_receiving = false,
            },
            Event::SmsStarted(e) => {
                // A stop for every room was recorded when a number could be in one room only, so
                // a start in any room lifts it.
                self.sms_receiving = true;
                match e.room_id {
                    Some(room) => {
                        self.sms_stopped_rooms.remove(&room);
                    }
                    None => self.sms_stopped_rooms.clear(),
                }
            }
            Event::ApiTokenIssued(e) => {
                self.api_tokens.insert(e.token_id, ApiToken { revoked: false });
            }
            Event::ApiTokenRevoked(e) => {
                if let Some(t) = self.api_tokens.get_mut(&e.token_id) {
                    t.revoked = true;
                }
            }
            Event::PasswordResetRequested(e) => self.pending_reset = Some((e.token_hash.clone(), e.expires_at)),
            Event::PasswordChanged(e) => {
                self.password_hash = Some(e.password_hash.clone());
                self.pending_reset = None;
            }
            Event::AccountClosed(_) => {
                self.closed = true;
                self.pending_reset = None;
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &UserCommand, ctx: &Context) -> Result<Vec<Event>, UserError> {
        use UserCommand as C;
        if let C::Register { user_id, nick, gateway } = command {
            if self.is_registered() {
                return Err(UserError::AlreadyRegistered);
            }
            return Ok(vec![Event::UserRegistered(UserRegistered { user_id: *user_id, nick: nick.clone(), gateway: *gateway })]);
        }
        let user_id = self.id()?;
        if self.closed {
            return match command {
                // Clean-ups of a closed account change nothing: it has no session or token left.
                C::CloseAccount | C::EndIrcSession { .. } | C::RevokeApiToken { .. } => Ok(vec![]),
                _ => Err(UserError::AccountClosed),
            };
        }
        match command {
            C::Register { .. } => unreachable!("handled above"),
            C::ChangeNick { new } => {
                let old = self.nick.clone().ok_or(UserError::NotRegistered)?;
                if old == *new {
                    return Ok(vec![]);
                }
                Ok(vec![Event::NickChanged(NickChanged { user_id, old, new: new.clone() })])
            }
            C::BindPhone { phone } => {
                if self.phone.as_ref() == Some(phone) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::PhoneBound(PhoneBound { user_id, phone: phone.clone() })])
            }
            C::CreateWebAccount { username, email, password_hash } => {
                if self.web.is_some() {
                    return Err(UserError::WebAccountExists);
                }
                if password_hash.trim().is_empty() {
                    return Err(UserError::EmptyPasswordHash);
                }
                Ok(vec![Event::WebAccountCreated(WebAccountCreated {
                    user_id,
                    username: username.clone(),
                    email: email.clone(),
                    password_hash: password_hash.clone(),
                })])
            }
            C::RequestEmailVerification { token_hash, expires_at } => {
                let web = self.web.as_ref().ok_or(UserError::NoWebAccount)?;
                if web.email_verified {
                    return Err(UserError::EmailAlreadyVerified);
                }
                Ok(vec![Event::EmailVerificationRequested(EmailVerificationRequested {
                    user_id,
                    email: web.email.clone(),
                    token_hash: token_hash.clone(),
                    expires_at: *expires_at,
                })])
            }
            C::VerifyEmail { token_hash } => {
                let pending = self.pending_verification.as_ref().ok_or(UserError::NoPendingVerification)?;
                if !pending.token_hash.verify(token_hash) {
                    return Err(UserError::InvalidToken);
                }
                if ctx.now >= pending.expires_at {
                    return Err(UserError::TokenExpired);
                }
                Ok(vec![Event::EmailVerified(EmailVerified { user_id, email: pending.email.clone() })])
            }
            C::RequestEmailChange { email, token_hash, expires_at } => {
                self.require_self(ctx)?;
                let web = self.web.as_ref().ok_or(UserError::NoWebAccount)?;
                if web.email_verified && web.email == *email {
                    return Err(UserError::SameEmail);
                }
                Ok(vec![Event::EmailVerificationRequested(EmailVerificationRequested {
                    user_id,
                    email: email.clone(),
                    token_hash: token_hash.clone(),
                    expires_at: *expires_at,
                })])
            }
            C::RequestPhoneVerification { phone, code_hash, expires_at } => {
                self.require_self(ctx)?;
                if self.level < Level::Member {
                    return Err(UserError::InsufficientLevel { needed: Level::Member, have: self.level });
                }
                if self.phone.as_ref() == Some(phone) {
                    return Err(UserError::PhoneAlreadyYours);
                }
                let window_start = ctx.now - PHONE_CODE_WINDOW;
                let recent: Vec<_> = self.phone_codes_sent.iter().filter(|at| **at > window_start).collect();
                if recent.len() >= PHONE_CODES_PER_WINDOW {
                    let oldest = recent.iter().copied().min().copied().unwrap_or(ctx.now);
                    return Err(UserError::TooManyPhoneCodes { until: oldest + PHONE_CODE_WINDOW });
                }
                Ok(vec![Event::PhoneVerificationRequested(PhoneVerificationRequested {
                    user_id,
                    phone: phone.clone(),
                    code_hash: code_hash.clone(),
                    requested_at: ctx.now,
                    expires_at: *expires_at,
                })])
            }
            C::VerifyPhone { code_hash } => {
                self.require_self(ctx)?;
                let pending = self.pending_phone.as_ref().ok_or(UserError::NoPendingPhoneVerification)?;
                if ctx.now >= pending.expires_at {
                    return Err(UserError::TokenExpired);
                }
                if pending.code_hash.verify(code_hash) {
                    return Ok(vec![Event::PhoneVerified(PhoneVerified { user_id, phone: pending.phone.clone() })]);
                }
                let attempts_left = pending.attempts_left.saturating_sub(1);
                Ok(vec![Event::PhoneVerificationFailed(PhoneVerificationFailed { user_id, attempts_left })])
            }
            C::SetAbout { about } => {
                self.require_self(ctx)?;
                if self.about == *about {
                    return Ok(vec![]);
                }
                Ok(vec![Event::AboutChanged(AboutChanged { user_id, about: about.clone() })])
            }
            C::SetPrivacy { private } => {
                self.require_self(ctx)?;
                if self.private == *private {
                    return Ok(vec![]);
                }
                Ok(vec![Event::PrivacyChanged(PrivacyChanged { user_id, private: *private })])
            }
            C::ChangeLevel { to, caller_level } => self.change_level(*to, *caller_level, ctx),
            C::SendSignUpInvitation { nick } => {
                if self.level < Level::Member {
                    return Err(UserError::InsufficientLevel { needed: Level::Member, have: self.level });
                }
                Ok(vec![Event::SignUpInvitationSent(SignUpInvitationSent { user_id, nick: nick.clone() })])
            }
            C::IssueIrcToken { token_id, token_hash, purpose, expires_at } => {
                // An IRC session acts at the account's level: an unverified (or demoted) account
                // has nothing to log in for, and a guest's token would only be a way in.
                if self.level < Level::Member {
                    return Err(UserError::InsufficientLevel { needed: Level::Member, have: self.level });
                }
                let mut events: Vec<Event> = self
                    .irc_tokens
                    .iter()
                    .filter(|(_, t)| t.purpose == *purpose && !t.revoked && ctx.now < t.expires_at)
                    .map(|(id, _)| {
                        Event::IrcTokenRevoked(IrcTokenRevoked { user_id, token_id: *id, reason: TokenRevocationReason::Superseded })
                    })
                    .collect();
                events.push(Event::IrcTokenIssued(IrcTokenIssued {
                    user_id,
                    token_id: *token_id,
                    token_hash: token_hash.clone(),
                    purpose: *purpose,
                    expires_at: *expires_at,
                }));
                Ok(events)
            }
            C::RegisterIrcIdentity { token, nick, mask } => {
                self.require_irc_nick(nick)?;
                let token_id = self.consume_token(token, TokenPurpose::Register, ctx.now).map_err(|reason| match reason {
                    LoginFailureReason::WrongToken => UserError::InvalidToken,
                    LoginFailureReason::Expired => UserError::TokenExpired,
                    LoginFailureReason::Revoked => UserError::TokenRevoked,
                })?;
                Ok(vec![
                    Event::IrcTokenRevoked(IrcTokenRevoked { user_id, token_id, reason: TokenRevocationReason::Used }),
                    Event::IrcIdentityRegistered(IrcIdentityRegistered { user_id, nick: nick.clone(), host_mask: mask.clone() }),
                ])
            }
            C::LoginIrc { token, nick, mask, session_id } => self.login(token, nick, mask, *session_id, ctx),
            C::RevokeLeakedToken { token } => Ok(match self.find_irc_token(token, None) {
                Some((token_id, t)) if !t.revoked => {
                    vec![Event::IrcTokenRevoked(IrcTokenRevoked { user_id, token_id, reason: TokenRevocationReason::LeakedInChannel })]
                }
                _ => vec![],
            }),
            C::EndIrcSession { session_id, reason } => Ok(match &self.session {
                Some(s) if session_id.is_none_or(|id| id == s.session_id) => {
                    vec![Event::IrcSessionEnded(IrcSessionEnded { user_id, session_id: s.session_id, reason: *reason })]
                }
                _ => vec![],
            }),
            C::EndIdleIrcSession { last_activity, idle_timeout } => Ok(match &self.session {
                Some(s) => {
                    let last = last_activity.map_or(s.started_at, |a| a.max(s.started_at));
                    if ctx.now - last >= *idle_timeout {
                        vec![Event::IrcSessionEnded(IrcSessionEnded {
                            user_id,
                            session_id: s.session_id,
                            reason: SessionEndReason::IdleTimeout,
                        })]
                    } else {
                        vec![]
                    }
                }
                None => vec![],
            }),
            C::StopSms { reason, room_id } => {
                let receiving = match room_id {
                    Some(room) => self.receives_sms_in(*room),
                    None => self.sms_receiving,
                };
                Ok(if receiving { vec![Event::SmsStopped(SmsStopped { user_id, reason: *reason, room_id: *room_id })] } else { vec![] })
            }
            C::StartSms { room_id } => {
                let stopped = match room_id {
                    Some(room) => !self.receives_sms_in(*room),
                    None => !self.sms_receiving || !self.sms_stopped_rooms.is_empty(),
                };
                Ok(if stopped { vec![Event::SmsStarted(SmsStarted { user_id, room_id: *room_id })] } else { vec![] })
            }
            C::IssueApiToken { token_id, token_hash, expires_at } => Ok(vec![Event::ApiTokenIssued(ApiTokenIssued {
                user_id,
                token_id: *token_id,
                token_hash: token_hash.clone(),
                expires_at: *expires_at,
            })]),
            C::RevokeApiToken { token_id } => match self.api_tokens.get(token_id) {
                None => Err(UserError::UnknownApiToken),
                Some(t) if t.revoked => Ok(vec![]),
                Some(_) => Ok(vec![Event::ApiTokenRevoked(ApiTokenRevoked { user_id, token_id: *token_id })]),
            },
            C::RequestPasswordReset { token_hash, expires_at } => {
                self.web.as_ref().ok_or(UserError::NoWebAccount)?;
                Ok(vec![Event::PasswordResetRequested(PasswordResetRequested {
                    user_id,
                    token_hash: token_hash.clone(),
                    expires_at: *expires_at,
                })])
            }
            C::ResetPassword { token_hash, password_hash } => {
                let (pending, expires_at) = self.pending_reset.as_ref().ok_or(UserError::NoPendingReset)?;
                if !pending.verify(token_hash) {
                    return Err(UserError::NoPendingReset);
                }
                if ctx.now >= *expires_at {
                    return Err(UserError::TokenExpired);
                }
                if password_hash.is_empty() {
                    return Err(UserError::EmptyPasswordHash);
                }
                let mut events = vec![Event::PasswordChanged(PasswordChanged { user_id, password_hash: password_hash.clone() })];
                events.extend(self.live_api_tokens().map(|token_id| Event::ApiTokenRevoked(ApiTokenRevoked { user_id, token_id })));
                Ok(events)
            }
            C::CloseAccount => {
                self.require_self(ctx)?;
                let mut events = vec![Event::AccountClosed(AccountClosed { user_id })];
                if let Some(session) = &self.session {
                    events.push(Event::IrcSessionEnded(IrcSessionEnded {
                        user_id,
                        session_id: session.session_id,
                        reason: SessionEndReason::Logout,
                    }));
                }
                events.extend(self.live_api_tokens().map(|token_id| Event::ApiTokenRevoked(ApiTokenRevoked { user_id, token_id })));
                Ok(events)
            }
        }
    }
}
