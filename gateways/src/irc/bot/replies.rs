//! Every sentence the bot says to people, in one place: replies to commands, refusals, notices
//! and the reasons it gives on KICK and PART. Usage lines and `.help` text belong to the command
//! reference ([`super::super::command`]); what people may type is described in `docs/commands.md`.
//!
//! Texts that come from the domain (a refusal such as "you need level 3 for that") are passed on
//! as the domain words them and are not repeated here.

use chrono::{DateTime, Utc};
use domain::User;
use domain::events::LoginFailureReason;
use domain::{Gateway, Level};
use projections::queries::{Activity, InfoEntry, Quote, Sighting};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Talking to the bot

/// A private line that is not a command.
pub fn only_commands(prefix: &str) -> String {
    format!("I only understand commands; try {prefix}help")
}

/// An internal failure: the person hears only the id it was logged under.
pub fn internal_error(error_id: &str) -> String {
    format!("sorry, something went wrong on my side (error {error_id}); it has been logged")
}

pub const ONE_TOKEN_AT_A_TIME: &str = "one token at a time, please; wait for my answer";

/// The control queue is full: the command was not taken (nothing of it happened).
pub const BUSY: &str = "too busy to take that now; nothing was done, please say it again in a moment";

/// A token said in a channel could not be queued for revoking (the control queue is full).
pub const LEAKED_TOKEN_NOT_REVOKED: &str =
    "you said a token in the channel and I am too busy to revoke it now; revoke it on the web or ask for a new one";

pub const SESSION_ENDED_ELSEWHERE: &str = "your session was ended from the web; log in again with a new token";

pub const SESSION_IDLE: &str = "your session ended after being idle; log in again with a new token";

pub const TOKEN_LEAKED: &str = "You typed a token in a channel, where everyone can read it: it no longer works. Issue a new one and send it to me in a private message.";

/// The KICK reason when a banned person joins.
pub const BANNED_ON_JOIN: &str = "you are banned from this room";

/// The PART reason when a channel is unbound (by `.part` or in GraphQL).
pub const UNBOUND_PART: &str = "unbound from Switchboard";

// ---------------------------------------------------------------------------------------------
// Who may ask

pub fn login_needed(prefix: &str) -> String {
    format!("you need to be logged in for that ({prefix}login <token> in a private message)")
}

pub fn level_needed(needed: Level, have: Level) -> String {
    format!("you need level {} ({}) for that; you have {}", needed.as_u8(), needed.name(), have.as_u8())
}

pub const SAY_IT_IN_THE_CHANNEL: &str = "say that in the channel it is about";

pub fn not_a_room(channel: &str) -> String {
    format!("{channel} is not a Switchboard room")
}

// ---------------------------------------------------------------------------------------------
// Account: register, login, logout, status, meet, about

pub fn nick_not_an_account_nick(error: &dyn std::fmt::Display) -> String {
    format!("your IRC nick cannot be an account nick ({error}); change nick and try again")
}

pub const HOST_UNSEEN: &str = "I cannot see your host; try again";

pub const REGISTER_TOKEN_INVALID: &str = "that token is not valid; issue a new one (GraphQL issueIrcToken)";

pub fn registered(nick: &str, mask: &dyn std::fmt::Display) -> String {
    format!("registered: {nick} is now yours from {mask}. Log in with a login token")
}

pub const JOIN_BEFORE_LOGIN: &str = "join a Switchboard channel first, then log in";

pub const LOGIN_FROM_REGISTERED_NICK: &str = "log in from the nick you registered";

pub const LOGIN_TOKEN_INVALID: &str = "that token is not valid";

pub fn logged_in(nick: &dyn std::fmt::Display, level: Level) -> String {
    format!("logged in as {nick}; level {} ({})", level.as_u8(), level.name())
}

/// A refused login, with the lockout when there is one.
pub fn login_refused(reason: LoginFailureReason, nick: &dyn std::fmt::Display, locked_until: Option<DateTime<Utc>>) -> String {
    let mut text = format!("login refused: {}", login_failure(reason));
    if let Some(until) = locked_until {
        text.push_str(&format!("; too many failures, {nick} is locked from your host until {}", until.format("%H:%M UTC")));
    }
    text
}

pub const LOGIN_REFUSED: &str = "login refused";

fn login_failure(reason: LoginFailureReason) -> &'static str {
    match reason {
        LoginFailureReason::WrongToken => "that token is not valid",
        LoginFailureReason::Expired => "that token has expired; issue a new one",
        LoginFailureReason::Revoked => "that token was already used or replaced; issue a new one",
    }
}

pub const NOT_LOGGED_IN: &str = "you are not logged in";

pub const LOGGED_OUT: &str = "logged out";

pub fn status_logged_in(level: Level) -> String {
    format!("you are logged in; level {} ({})", level.as_u8(), level.name())
}

pub fn status_guest(prefix: &str) -> String {
    format!("you are not logged in; level 0 (guest). {prefix}login <token> in a private message to log in")
}

/// What `.meet <nick>` sends to `nick`.
pub fn invitation(nick: &str, inviter: &str, public_url: &str, prefix: &str) -> String {
    let url = public_url.trim_end_matches('/');
    format!(
        "Hi {nick}! {inviter} invites you to Switchboard. Sign up at {url}/graphql (mutation signUp), then issue an IRC token (issueIrcToken) and send me {prefix}register <token> in a private message."
    )
}

pub fn invitation_sent(nick: &str) -> String {
    format!("I told {nick} how to sign up")
}

pub fn no_account(nick: &str) -> String {
    format!("{nick} has no account")
}

pub fn about(user: &User) -> String {
    let name = user.nick.as_ref().map(|n| n.to_string()).unwrap_or_default();
    match &user.about {
        Some(about) => format!("{name}: {about}"),
        None => format!("{name} has not written an about text"),
    }
}

/// A `private` person's about text asked for by someone not in a room with them.
pub fn about_private(user: &User) -> String {
    let name = user.nick.as_ref().map(|n| n.to_string()).unwrap_or_default();
    format!("{name} keeps their profile private")
}

pub const ABOUT_SAVED: &str = "about text saved";

// ---------------------------------------------------------------------------------------------
// Seen, quotes, info

pub const SEEN_MYSELF: &str = "that's me!";

pub const SEEN_YOURSELF: &str = "that's you!";

pub fn never_seen(nick: &str) -> String {
    format!("I have never seen {nick}")
}

/// Where and when someone was last seen: on the room's IRC `channel` when it is given (they
/// were seen on IRC), else in the room by its name. A private room's text is never repeated.
pub fn sighting(s: &Sighting, channel: Option<&str>) -> String {
    let place = match (channel, &s.room_name, s.gateway) {
        (Some(channel), _, _) => format!(" in {channel}"),
        (None, Some(room), Gateway::Sms) => format!(" in {room} (by SMS)"),
        (None, Some(room), _) => format!(" in {room}"),
        (None, None, _) => String::new(),
    };
    let what = match (s.activity, s.detail.as_deref(), s.room_private) {
        (_, _, true) => String::new(),
        (Activity::Said, Some(text), _) => format!(", saying: {text}"),
        (Activity::Action, Some(text), _) => format!(": * {} {text}", s.nick),
        (Activity::NickChanged, Some(new), _) => format!(", changing nick to {new}"),
        (activity, _, _) => format!(" ({})", activity.as_str().replace('_', " ")),
    };
    format!("{} was last seen {}{place}{what}", s.nick, ago(s.at))
}

/// A sighting of someone whose profile is private: when only.
pub fn sighting_private(s: &Sighting) -> String {
    format!("{} was last seen {}; where and what is private", s.nick, ago(s.at))
}

pub fn quote(q: &Quote) -> String {
    let adder = by_name(q.added_by_nick.as_deref(), &q.added_by);
    format!("#{} <{}> {} (added by {adder}, {})", q.quote_id, q.nick, q.text, q.added_at.format("%Y-%m-%d"))
}

/// Who did something, for people: the account's nick; the system by the product's name;
/// anything else as someone unnamed. Never an internal id.
fn by_name<'a>(nick: Option<&'a str>, actor: &str) -> &'a str {
    match (nick, actor) {
        (Some(nick), _) => nick,
        (None, "system") => "Switchboard",
        (None, _) => "someone",
    }
}

pub const QUOTE_BOOK_EMPTY: &str = "the quote book is empty";

pub fn no_quote(id: i64) -> String {
    format!("no quote #{id}")
}

pub fn quote_added(id: u64) -> String {
    format!("quote #{id} added")
}

pub const NO_QUOTE_MATCHES: &str = "no quote matches";

pub fn quote_deleted(id: i64) -> String {
    format!("quote #{id} deleted")
}

pub fn info(entry: &InfoEntry) -> String {
    let setter = by_name(entry.changed_by_nick.as_deref(), &entry.changed_by);
    format!("{}: {} (set by {setter}, {})", entry.item, entry.text, ago(entry.changed_at))
}

pub fn unknown_info(item: &str) -> String {
    format!("unknown item {item:?}")
}

pub fn info_added(item: &str) -> String {
    format!("{item} added")
}

pub fn info_replaced(item: &str) -> String {
    format!("{item} replaced")
}

pub fn info_deleted(item: &str) -> String {
    format!("{item} deleted")
}

// ---------------------------------------------------------------------------------------------
// Moderation

pub const WILL_NOT_KICK_MYSELF: &str = "I will not kick myself";

pub const WILL_NOT_BAN_MYSELF: &str = "I will not ban myself";

/// The KICK reason of `.kick` without one.
pub fn kicked_by(nick: &str) -> String {
    format!("kicked by {nick}")
}

/// The KICK reason of a kick from outside IRC (GraphQL) without one.
pub const KICKED: &str = "kicked";

/// The KICK reason of a ban without one.
pub const BANNED: &str = "banned";

pub fn banned(mask: &dyn std::fmt::Display, duration: Option<chrono::TimeDelta>) -> String {
    format!("banned {mask}{}", for_span(duration))
}

pub fn unbanned(mask: &dyn std::fmt::Display) -> String {
    format!("unbanned {mask}")
}

pub fn muted(nick: &str, duration: Option<chrono::TimeDelta>) -> String {
    format!("{nick} is muted{}", for_span(duration))
}

pub fn unmuted(nick: &str) -> String {
    format!("{nick} may speak again")
}

pub fn ban_request_opened(request_id: Uuid) -> String {
    format!("ban request {} opened; staff will decide", short_id(request_id))
}

pub fn no_single_ban_request(request: &str) -> String {
    format!("no single ban request matches {request:?}")
}

pub fn ban_request_approved(request_id: Uuid) -> String {
    format!("ban request {} approved", short_id(request_id))
}

pub fn ban_request_rejected(request_id: Uuid) -> String {
    format!("ban request {} rejected", short_id(request_id))
}

// ---------------------------------------------------------------------------------------------
// Staff: channels

pub fn bound_channels(names: &[String]) -> String {
    if names.is_empty() { "no channels are bound".to_owned() } else { format!("bound channels: {}", names.join(" ")) }
}

pub fn already_bound(channel: &str) -> String {
    format!("{channel} is already bound")
}

pub fn now_a_room(channel: &str) -> String {
    format!("{channel} is now a Switchboard room")
}

pub fn not_bound(channel: &str) -> String {
    format!("{channel} is not bound")
}

pub fn unbound(channel: &str) -> String {
    format!("{channel} unbound; its history stays")
}

// ---------------------------------------------------------------------------------------------
// Lookups

/// `.whois`: everything held about an account, one line per subject.
pub fn whois(nick: &str, user_id: Uuid, user: &User) -> [String; 4] {
    let web = user.web.as_ref().map(|w| format!("{} <{}>{}", w.username, w.email, if w.email_verified { "" } else { " (unverified)" }));
    [
        format!(
            "{nick}: user {user_id}, level {} ({}), {}",
            user.level.as_u8(),
            user.level.name(),
            if user.private { "private" } else { "public" }
        ),
        format!("web account: {}", web.unwrap_or_else(|| "none".into())),
        format!(
            "IRC identity: {}; session: {}",
            user.irc_identity.as_ref().map(|(n, m)| format!("{n} ({m})")).unwrap_or_else(|| "none".into()),
            user.session
                .as_ref()
                .map(|s| format!("since {} from {}", s.started_at.format("%Y-%m-%d %H:%M UTC"), s.mask))
                .unwrap_or_else(|| "none".into())
        ),
        format!(
            "phone: {}{}; about: {}",
            user.phone.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "none".into()),
            if user.sms_receiving { "" } else { " (stopped)" },
            user.about.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "none".into())
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Times and ids

/// The first 8 hex digits of an id, as people type it back (`.approve 1a2b3c4d`).
pub fn short_id(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

fn for_span(duration: Option<chrono::TimeDelta>) -> String {
    duration.map(|d| format!(" for {}", span(d))).unwrap_or_default()
}

/// "3 minutes ago", "2 days ago".
pub fn ago(at: DateTime<Utc>) -> String {
    let delta = Utc::now() - at;
    if delta < chrono::TimeDelta::seconds(5) { "just now".into() } else { format!("{} ago", span(delta)) }
}

/// A duration in its largest sensible unit.
pub fn span(delta: chrono::TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
