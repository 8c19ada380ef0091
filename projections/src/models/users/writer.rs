//! The `users` projection: the events it reads and the statements they become.

use chrono::{DateTime, Utc};
use domain::{Event, events};
use store::Envelope;
use uuid::Uuid;

use crate::models::snake;
use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct Users;

const REGISTER: &str =
    "INSERT INTO users (user_id, nick, nick_fold, registered_via, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)";
const SET_NICK: &str = "UPDATE users SET nick = $2, nick_fold = $3, updated_at = $4 WHERE user_id = $1";
const SET_PHONE: &str = "UPDATE users SET phone = $2, updated_at = $3 WHERE user_id = $1";
const SET_ACCOUNT: &str = "UPDATE users SET username = $2, email = $3, updated_at = $4 WHERE user_id = $1";
const SET_VERIFIED: &str = "UPDATE users SET email = $2, email_verified = true, updated_at = $3 WHERE user_id = $1";
const SET_ABOUT: &str = "UPDATE users SET about = $2, updated_at = $3 WHERE user_id = $1";
const SET_PRIVACY: &str = "UPDATE users SET private = $2, updated_at = $3 WHERE user_id = $1";
const SET_LEVEL: &str = "UPDATE users SET level = $2, updated_at = $3 WHERE user_id = $1";
const SET_IRC_IDENTITY: &str = "UPDATE users SET irc_nick = $2, irc_mask = $3, updated_at = $4 WHERE user_id = $1";
const SET_LOCKED: &str = "UPDATE users SET login_locked_until = $2, updated_at = $3 WHERE user_id = $1";
const SET_STOPPED: &str = "UPDATE users SET sms_stopped = $2, updated_at = $3 WHERE user_id = $1";

const SESSION_START: &str = "INSERT INTO irc_sessions (session_id, user_id, nick, mask, started_at) VALUES ($1, $2, $3, $4, $5)";
const SESSION_END: &str = "UPDATE irc_sessions SET ended_at = $2, end_reason = $3 WHERE session_id = $1 AND ended_at IS NULL";
const API_TOKEN: &str = "INSERT INTO api_tokens (token_id, user_id, token_hash, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
const API_REVOKE: &str = "UPDATE api_tokens SET revoked_at = $2 WHERE token_id = $1 AND revoked_at IS NULL";
const IRC_TOKEN: &str =
    "INSERT INTO irc_tokens (token_id, user_id, token_hash, purpose, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
const IRC_REVOKE: &str = "UPDATE irc_tokens SET revoked_at = $2, revoked_why = $3 WHERE token_id = $1 AND revoked_at IS NULL";

const NICK_CLOSE: &str =
    "UPDATE nick_history SET valid = tstzrange(lower(valid), greatest(lower(valid), $2)) WHERE user_id = $1 AND upper_inf(valid)";
const NICK_OPEN: &str = "INSERT INTO nick_history (user_id, nick, nick_fold, valid) \
     SELECT $1, $3, $4, tstzrange(greatest($2, max(lower(valid))), NULL) FROM nick_history WHERE user_id = $1";
const LEVEL_CLOSE: &str =
    "UPDATE level_history SET valid = tstzrange(lower(valid), greatest(lower(valid), $2)) WHERE user_id = $1 AND upper_inf(valid)";
const LEVEL_OPEN: &str = "INSERT INTO level_history (user_id, level, by_actor, valid) \
     SELECT $1, $3, $4, tstzrange(greatest($2, max(lower(valid))), NULL) FROM level_history WHERE user_id = $1";
const PRIVACY_CLOSE: &str =
    "UPDATE privacy_history SET valid = tstzrange(lower(valid), greatest(lower(valid), $2)) WHERE user_id = $1 AND upper_inf(valid)";
const PRIVACY_OPEN: &str = "INSERT INTO privacy_history (user_id, private, valid) \
     SELECT $1, $3, tstzrange(greatest($2, max(lower(valid))), NULL) FROM privacy_history WHERE user_id = $1";

impl Projection for Users {
    fn name(&self) -> &'static str {
        "users"
    }

    fn version(&self) -> i32 {
        1
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            events::UserRegistered::EVENT_TYPE,
            events::NickChanged::EVENT_TYPE,
            events::PhoneBound::EVENT_TYPE,
            events::WebAccountCreated::EVENT_TYPE,
            events::EmailVerified::EVENT_TYPE,
            events::AboutChanged::EVENT_TYPE,
            events::PrivacyChanged::EVENT_TYPE,
            events::LevelChanged::EVENT_TYPE,
            events::IrcTokenIssued::EVENT_TYPE,
            events::IrcTokenRevoked::EVENT_TYPE,
            events::IrcIdentityRegistered::EVENT_TYPE,
            events::IrcSessionStarted::EVENT_TYPE,
            events::IrcLoginLocked::EVENT_TYPE,
            events::IrcSessionEnded::EVENT_TYPE,
            events::SmsStopped::EVENT_TYPE,
            events::SmsStarted::EVENT_TYPE,
            events::ApiTokenIssued::EVENT_TYPE,
            events::ApiTokenRevoked::EVENT_TYPE,
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        for envelope in events {
            apply_one(envelope, out);
        }
    }
}

fn apply_one(envelope: &Envelope<Event>, out: &mut Writes) {
    let at: DateTime<Utc> = envelope.recorded_at;
    match &envelope.event {
        Event::UserRegistered(e) => {
            out.push(REGISTER, params![e.user_id, e.nick.to_string(), e.nick.casefold(), e.gateway.to_string(), at]);
            open_nick(out, e.user_id, at, e.nick.as_str(), &e.nick.casefold());
            out.push(LEVEL_OPEN, params![e.user_id, at, 0i16, envelope.metadata.actor.to_string()]);
            out.push(PRIVACY_OPEN, params![e.user_id, at, true]);
        }
        Event::NickChanged(e) => {
            out.push(SET_NICK, params![e.user_id, e.new.to_string(), e.new.casefold(), at]);
            out.push(NICK_CLOSE, params![e.user_id, at]);
            open_nick(out, e.user_id, at, e.new.as_str(), &e.new.casefold());
        }
        Event::PhoneBound(e) => out.push(SET_PHONE, params![e.user_id, e.phone.to_string(), at]),
        Event::WebAccountCreated(e) => out.push(SET_ACCOUNT, params![e.user_id, e.username.to_string(), e.email.to_string(), at]),
        Event::EmailVerified(e) => out.push(SET_VERIFIED, params![e.user_id, e.email.to_string(), at]),
        Event::AboutChanged(e) => out.push(SET_ABOUT, params![e.user_id, e.about.as_ref().map(|a| a.to_string()), at]),
        Event::PrivacyChanged(e) => {
            out.push(SET_PRIVACY, params![e.user_id, e.private, at]);
            out.push(PRIVACY_CLOSE, params![e.user_id, at]);
            out.push(PRIVACY_OPEN, params![e.user_id, at, e.private]);
        }
        Event::LevelChanged(e) => {
            let level = i16::from(e.to.as_u8());
            out.push(SET_LEVEL, params![e.user_id, level, at]);
            out.push(LEVEL_CLOSE, params![e.user_id, at]);
            out.push(LEVEL_OPEN, params![e.user_id, at, level, e.by.to_string()]);
        }
        Event::IrcTokenIssued(e) => {
            out.push(IRC_TOKEN, params![e.token_id, e.user_id, e.token_hash.as_str().to_string(), snake(&e.purpose), at, e.expires_at])
        }
        Event::IrcTokenRevoked(e) => out.push(IRC_REVOKE, params![e.token_id, at, snake(&e.reason)]),
        Event::IrcIdentityRegistered(e) => out.push(SET_IRC_IDENTITY, params![e.user_id, e.nick.to_string(), e.host_mask.to_string(), at]),
        Event::IrcSessionStarted(e) => {
            out.push(SESSION_START, params![e.session_id, e.user_id, e.nick.to_string(), e.mask.to_string(), e.started_at]);
            out.push(SET_LOCKED, params![e.user_id, None::<DateTime<Utc>>, at]);
        }
        Event::IrcLoginLocked(e) => out.push(SET_LOCKED, params![e.user_id, Some(e.until), at]),
        Event::IrcSessionEnded(e) => out.push(SESSION_END, params![e.session_id, at, snake(&e.reason)]),
        Event::SmsStopped(e) => out.push(SET_STOPPED, params![e.user_id, true, at]),
        Event::SmsStarted(e) => out.push(SET_STOPPED, params![e.user_id, false, at]),
        Event::ApiTokenIssued(e) => {
            out.push(API_TOKEN, params![e.token_id, e.user_id, e.token_hash.as_str().to_string(), at, e.expires_at])
        }
        Event::ApiTokenRevoked(e) => out.push(API_REVOKE, params![e.token_id, at]),
        _ => {}
    }
}

fn open_nick(out: &mut Writes, user_id: Uuid, at: DateTime<Utc>, nick: &str, fold: &str) {
    out.push(NICK_OPEN, params![user_id, at, nick.to_string(), fold.to_string()]);
}
