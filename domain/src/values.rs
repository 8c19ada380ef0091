//! Validated value types shared by IRC, SMS and the API: nicks, levels, phone numbers, host masks,
//! durations, bounded texts and token hashes.
//!
//! Each type is checked once, when it is built from outside input; the rest of the system can then
//! trust it. Serialised forms are plain strings (or numbers for [`Level`]) so that stored payloads
//! stay readable; deserialisation validates again, so a stored value that breaks today's rules is
//! reported as a bad payload (and needs an upcaster) instead of slipping through.

use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why an outside value was refused. The messages are short enough to send back to a chat user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("a nick is 1-{max} letters, digits, `_` or `-`, starting with a letter", max = Nick::MAX_LEN)]
    Nick,
    #[error("a nick as seen on IRC or SMS is 1-{max} visible characters without `!`, `@`, `,` or spaces", max = DisplayNick::MAX_LEN)]
    DisplayNick,
    #[error("a username is 1-{max} letters, digits, `_`, `-` or `.`, starting with a letter", max = Username::MAX_LEN)]
    Username,
    #[error("that does not look like an email address")]
    Email,
    #[error("level {0} does not exist (0 guest … 5 superuser)")]
    Level(u8),
    #[error("a phone number must be in E.164 form: `+` and 8-15 digits, not starting with 0")]
    PhoneNumber,
    #[error("a host mask is `nick!user@host` (or `nick`, or `user@host`) without spaces")]
    HostMask,
    #[error("a channel name starts with `#` or `&` and has no spaces, commas or control characters")]
    IrcChannel,
    #[error("durations look like 30m, 2h, 3d or 1w, between 1 minute and 1 year")]
    Duration,
    #[error("{what} must not be empty")]
    EmptyText { what: &'static str },
    #[error("{what} is {len} {unit} long; the limit is {max}")]
    TextTooLong { what: &'static str, len: usize, max: usize, unit: TextUnit },
    #[error("{what} contains a control character")]
    ControlCharacter { what: &'static str },
    #[error("a token hash is 64 lowercase hex digits")]
    TokenHash,
}

/// Implements string serde (validating on the way in), `Display`, `AsRef<str>` and `FromStr` for a
/// newtype over `String` with a `parse` constructor.
macro_rules! string_value {
    ($ty:ident) => {
        string_value!(@common $ty);
        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
    };
    // For types whose `parse` keeps the text as given: deserialising moves the string in
    // instead of copying it.
    ($ty:ident, kept_as_given) => {
        string_value!(@common $ty);
        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::check(&s)?;
                Ok(Self(s))
            }
        }
    };
    (@common $ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $ty {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Nicks and names

/// A registered nick (docs/commands.md#nicks): 1–20 ASCII letters, digits, `_` or `-`, starting with a letter.
/// Unique across the whole system, compared case-insensitively through [`Nick::casefold`]; the
/// original case is kept for display. Equality (`==`) is exact; use `casefold` for identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nick(String);

impl Nick {
    /// 20 is the SMS seed's limit and fits every IRC server's NICKLEN.
    pub const MAX_LEN: usize = 20;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if first_ok && rest_ok && s.len() <= Self::MAX_LEN { Ok(Self(s.to_owned())) } else { Err(InvalidValue::Nick) }
    }

    /// The reservation key: ASCII lowercase. The charset is ASCII only, so this agrees with every
    /// IRC casemapping (`ascii`, `rfc1459`) on the nicks we accept.
    pub fn casefold(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// True when both name the same person (case-insensitive).
    pub fn same_as(&self, other: &Nick) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
string_value!(Nick);

/// A nick as seen on the wire, possibly of someone without an account: IRC guests may use
/// `[`, `]`, `|`, `^` and the like. Used where the system records who said or did something,
/// not for reservations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayNick(String);

impl DisplayNick {
    /// Generous: some IRC networks allow 30+ character nicks.
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty()
            && s.chars().count() <= Self::MAX_LEN
            && s.chars().all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '!' | '@' | ','));
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidValue::DisplayNick) }
    }

    /// ASCII lowercase; see [`Nick::casefold`].
    pub fn casefold(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}
string_value!(DisplayNick);

impl From<Nick> for DisplayNick {
    fn from(n: Nick) -> Self {
        // Every valid `Nick` is a valid `DisplayNick` (a strict subset of characters, shorter).
        Self(n.0)
    }
}

impl From<&Nick> for DisplayNick {
    fn from(n: &Nick) -> Self {
        Self(n.0.clone())
    }
}

/// A web account's username: 1–32 ASCII letters, digits, `_`, `-`, `.`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if first_ok && rest_ok && s.len() <= Self::MAX_LEN { Ok(Self(s.to_owned())) } else { Err(InvalidValue::Username) }
    }

    /// The reservation key (`account-<fold>`).
    pub fn casefold(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}
string_value!(Username);

/// An email address, checked only for shape (`local@domain`, no spaces, ≤ 254 bytes): the
/// verification mail is the real test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = s.len() <= Self::MAX_LEN
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.') && !domain.ends_with('.')
            });
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidValue::Email) }
    }
}
string_value!(Email);

/// An IRC channel name (`#switchboard`). Compared case-insensitively via [`IrcChannel::casefold`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IrcChannel(String);

impl IrcChannel {
    /// RFC 2812's CHANNELLEN.
    pub const MAX_LEN: usize = 50;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = (s.starts_with('#') || s.starts_with('&'))
            && s.len() >= 2
            && s.len() <= Self::MAX_LEN
            && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',');
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidValue::IrcChannel) }
    }

    pub fn casefold(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}
string_value!(IrcChannel);

// ---------------------------------------------------------------------------------------------
// Levels

/// Permission levels (docs/commands.md#levels), ordered: a higher level may do everything a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Level {
    #[default]
    Guest = 0,
    Member = 1,
    Voice = 2,
    Operator = 3,
    Staff = 4,
    Superuser = 5,
}

impl Level {
    pub const ALL: [Level; 6] = [Level::Guest, Level::Member, Level::Voice, Level::Operator, Level::Staff, Level::Superuser];

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Guest => "guest",
            Level::Member => "member",
            Level::Voice => "voice",
            Level::Operator => "operator",
            Level::Staff => "staff",
            Level::Superuser => "superuser",
        }
    }
}

impl TryFrom<u8> for Level {
    type Error = InvalidValue;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Level::ALL.get(usize::from(n)).copied().ok_or(InvalidValue::Level(n))
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l as u8
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u8(), self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Phone numbers

/// An E.164 phone number, already normalised (`+15551234567`). Parsing of national formats
/// happens in the SMS gateway; this only guards the shape so nothing else reaches a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let digits = s.strip_prefix('+').ok_or(InvalidValue::PhoneNumber)?;
        // E.164 allows at most 15 digits; below 8 no real subscriber number exists.
        let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidValue::PhoneNumber) }
    }
}
string_value!(PhoneNumber);

// ---------------------------------------------------------------------------------------------
// Host masks

/// `nick!user@host`, lowercase, with `*`/`?` wildcards allowed. Used both for ban masks and for
/// the concrete mask a session is bound to.
///
/// Bans are normalised the way IRC servers do, so the stored mask equals the `+b` the bot sets:
/// a bare `nick` becomes `nick!*@*`, `user@host` becomes `*!user@host`, `nick!user` becomes
/// `nick!user@*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostMask(String);

impl HostMask {
    /// Well above any real `nick!user@host` (IRC lines are 512 bytes).
    pub const MAX_LEN: usize = 200;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > Self::MAX_LEN || s.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
            return Err(InvalidValue::HostMask);
        }
        let lower = s.to_ascii_lowercase();
        let (nick, user, host) = match (lower.split_once('!'), lower.split_once('@')) {
            (Some((nick, rest)), _) => match rest.split_once('@') {
                Some((user, host)) => (nick.to_owned(), user.to_owned(), host.to_owned()),
                None => (nick.to_owned(), rest.to_owned(), "*".to_owned()),
            },
            (None, Some((user, host))) => ("*".to_owned(), user.to_owned(), host.to_owned()),
            (None, None) => (lower.clone(), "*".to_owned(), "*".to_owned()),
        };
        Self::from_parts(&nick, &user, &host)
    }

    /// Builds a mask from its three parts (a concrete one from an IRC prefix, or a pattern).
    pub fn from_parts(nick: &str, user: &str, host: &str) -> Result<Self, InvalidValue> {
        let part_ok = |p: &str, extra_forbidden: &[char]| {
            !p.is_empty() && !p.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || extra_forbidden.contains(&c))
        };
        if !part_ok(nick, &['!', '@']) || !part_ok(user, &['!', '@']) || !part_ok(host, &['!', '@']) {
            return Err(InvalidValue::HostMask);
        }
        let mask = format!("{nick}!{user}@{host}").to_ascii_lowercase();
        if mask.len() > Self::MAX_LEN {
            return Err(InvalidValue::HostMask);
        }
        Ok(Self(mask))
    }

    fn parts(&self) -> (&str, &str, &str) {
        // Invariant from construction: exactly one `!` before exactly one `@`.
        let (nick, rest) = self.0.split_once('!').unwrap_or((&self.0, "*@*"));
        let (user, host) = rest.split_once('@').unwrap_or((rest, "*"));
        (nick, user, host)
    }

    pub fn nick_part(&self) -> &str {
        self.parts().0
    }

    /// The host part, casefolded (`home.example` of `alice!~a@Home.Example`).
    pub fn host_part(&self) -> String {
        self.parts().2.to_ascii_lowercase()
    }

    /// Does this pattern match a concrete `nick`, `user`, `host`? Case-insensitive.
    pub fn matches(&self, nick: &str, user: &str, host: &str) -> bool {
        let (pn, pu, ph) = self.parts();
        wildcard_match(pn, &nick.to_ascii_lowercase())
            && wildcard_match(pu, &user.to_ascii_lowercase())
            && wildcard_match(ph, &host.to_ascii_lowercase())
    }

    /// Does this pattern match the concrete mask `other` (e.g. a member's `nick!user@host`)?
    pub fn matches_mask(&self, other: &HostMask) -> bool {
        let (n, u, h) = other.parts();
        self.matches(n, u, h)
    }

    /// A pure nick ban (`pattern!*@*`) also applies to people without a host, such as SMS
    /// members; a mask that names a user or host cannot be checked against them.
    pub fn matches_nick_only(&self, nick: &str) -> bool {
        let (pn, pu, ph) = self.parts();
        pu == "*" && ph == "*" && wildcard_match(pn, &nick.to_ascii_lowercase())
    }
}
string_value!(HostMask);

/// Glob matching with `*` (any run) and `?` (one character), iterative with one backtrack point,
/// so a hostile mask like `*a*a*a*b` stays linear-ish instead of exponential.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------------
// Durations

/// The length of a timed ban or mute, as typed in chat: `30m`, `2h`, `3d`, `1w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BanDuration(TimeDelta);

impl BanDuration {
    /// Shorter than a minute is a typo more often than an intent.
    pub const MIN: TimeDelta = TimeDelta::minutes(1);
    /// Longer than a year should be a permanent ban, which is said by giving no duration.
    pub const MAX: TimeDelta = TimeDelta::days(366);

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or(InvalidValue::Duration)?;
        let (number, unit) = s.split_at(split);
        // At most 6 digits: anything larger exceeds the bound in every unit, and it keeps the
        // multiplication below from overflowing.
        if number.is_empty() || number.len() > 6 {
            return Err(InvalidValue::Duration);
        }
        let n: i64 = number.parse().map_err(|_| InvalidValue::Duration)?;
        let delta = match unit.to_ascii_lowercase().as_str() {
            "m" | "min" => TimeDelta::minutes(n),
            "h" => TimeDelta::hours(n),
            "d" => TimeDelta::days(n),
            "w" => TimeDelta::weeks(n),
            _ => return Err(InvalidValue::Duration),
        };
        Self::from_delta(delta)
    }

    pub fn from_delta(delta: TimeDelta) -> Result<Self, InvalidValue> {
        if (Self::MIN..=Self::MAX).contains(&delta) { Ok(Self(delta)) } else { Err(InvalidValue::Duration) }
    }

    pub fn as_delta(self) -> TimeDelta {
        self.0
    }
}

impl std::str::FromStr for BanDuration {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded texts

/// What a text's limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextUnit {
    /// UTF-8 bytes: for texts that end up where the wire counts bytes (IRC's 512-byte lines).
    Bytes,
    /// Unicode characters, as Twilio counts a message's 1,600: a text typed in any script
    /// (CJK, emoji) gets the same allowance as one in ASCII.
    Characters,
}

impl std::fmt::Display for TextUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TextUnit::Bytes => "bytes",
            TextUnit::Characters => "characters",
        })
    }
}

/// Checks a user-supplied text: not blank, at most `max` bytes, and no control characters except
/// ordinary whitespace (newline, carriage return, tab), which SMS bodies legitimately contain.
pub fn check_text(what: &'static str, s: &str, max: usize) -> Result<(), InvalidValue> {
    check_text_in(what, s, max, TextUnit::Bytes)
}

/// [`check_text`] with the limit counted in `unit`.
pub fn check_text_in(what: &'static str, s: &str, max: usize, unit: TextUnit) -> Result<(), InvalidValue> {
    if s.trim().is_empty() {
        return Err(InvalidValue::EmptyText { what });
    }
    // A text of at most `max` bytes has at most `max` characters: count only longer ones.
    if s.len() > max {
        let len = match unit {
            TextUnit::Bytes => s.len(),
            TextUnit::Characters => s.chars().count(),
        };
        if len > max {
            return Err(InvalidValue::TextTooLong { what, len, max, unit });
        }
    }
    // Most text is ASCII, where a byte test says the same as the Unicode one (every stored
    // message is checked again when the log is read).
    let control = if s.is_ascii() {
        s.bytes().any(|b| (b.is_ascii_control()) && !matches!(b, b'\n' | b'\r' | b'\t'))
    } else {
        s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    };
    if control {
        return Err(InvalidValue::ControlCharacter { what });
    }
    Ok(())
}

/// Limit of a chat message body, in characters. Bridged IRC text is split into 512-byte lines and
/// SMS into segments by the gateways; this bound only stops abuse (Twilio accepts 1,600
/// characters, and a text in any script must fit).
pub const MAX_MESSAGE_BODY: usize = 4000;
/// Limit of a quote: one or two IRC lines.
pub const MAX_QUOTE_TEXT: usize = 1000;
/// Limit of an info item's text.
pub const MAX_INFO_TEXT: usize = 2000;
/// Limit of an info item's key (the keyword people type).
pub const MAX_INFO_KEY: usize = 50;
/// Limit of an about text: fits in two SMS segments.
pub const MAX_ABOUT_TEXT: usize = 300;
/// Common IRC TOPICLEN.
pub const MAX_TOPIC: usize = 390;
/// Limit of a ban, kick or ban-request reason.
pub const MAX_REASON: usize = 300;
/// Limit of a room's display name.
pub const MAX_ROOM_NAME: usize = 100;

macro_rules! bounded_text {
    ($(#[$doc:meta])* $ty:ident, $what:literal, $max:expr) => {
        bounded_text!($(#[$doc])* $ty, $what, $max, TextUnit::Bytes);
    };
    ($(#[$doc:meta])* $ty:ident, $what:literal, $max:expr, $unit:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: &str) -> Result<Self, InvalidValue> {
                Self::check(s)?;
                Ok(Self(s.to_owned()))
            }

            fn check(s: &str) -> Result<(), InvalidValue> {
                check_text_in($what, s, $max, $unit)
            }
        }
        string_value!($ty, kept_as_given);
    };
}

bounded_text!(
    /// A chat message body (say, action or notice).
    MessageBody,
    "a message",
    MAX_MESSAGE_BODY,
    TextUnit::Characters
);
bounded_text!(
    /// The text of a quote.
    QuoteText,
    "a quote",
    MAX_QUOTE_TEXT
);
bounded_text!(
    /// The text of an info item.
    InfoText,
    "an info text",
    MAX_INFO_TEXT
);
bounded_text!(
    /// A user's about text.
    AboutText,
    "an about text",
    MAX_ABOUT_TEXT
);
bounded_text!(
    /// A room's topic.
    Topic,
    "a topic",
    MAX_TOPIC
);
bounded_text!(
    /// Why someone was banned, kicked or reported.
    Reason,
    "a reason",
    MAX_REASON
);
bounded_text!(
    /// A room's display name.
    RoomName,
    "a room name",
    MAX_ROOM_NAME
);

impl QuoteText {
    /// The duplicate-detection key: casefolded, whitespace runs collapsed to one space, trimmed.
    pub fn dedup_key(&self) -> String {
        self.0.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
    }
}

/// The keyword of an info item (`.info rules`): one word, at most [`MAX_INFO_KEY`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InfoKey(String);

impl InfoKey {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        check_text("an info item", s, MAX_INFO_KEY)?;
        if s.chars().any(char::is_whitespace) {
            return Err(InvalidValue::ControlCharacter { what: "an info item" });
        }
        Ok(Self(s.to_owned()))
    }

    /// The stream key (`info-<fold>`): lowercase, so `.info Rules` and `.info rules` agree.
    pub fn casefold(&self) -> String {
        self.0.to_lowercase()
    }
}
string_value!(InfoKey);

// ---------------------------------------------------------------------------------------------
// Token hashes

/// The SHA-256 of a secret token, as 64 lowercase hex digits. Tokens themselves are never stored;
/// the caller generates them from the OS CSPRNG and hands over only this hash.
///
/// Equality is constant-time so that comparing a presented token with a stored one leaks nothing
/// through timing.
#[derive(Clone, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash(String);

impl TokenHash {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::TokenHash)
        }
    }

    /// Hashes a presented secret.
    pub fn of_secret(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Constant-time comparison.
    pub fn verify(&self, other: &TokenHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}
string_value!(TokenHash);

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.verify(other)
    }
}

impl std::hash::Hash for TokenHash {
    // Agrees with `PartialEq`: equal hashes have equal strings.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    // A hash is not the secret, but there is no reason to print it in full in logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_follow_the_spec_charset_and_length() {
        for ok in ["a", "Alice", "bob_2", "x-y", "A234567890123456789z"] {
            assert!(Nick::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "_a", "-a", "al ice", "é", "a[b]", "A2345678901234567890z", "a.b"] {
            assert_eq!(Nick::parse(bad), Err(InvalidValue::Nick), "{bad}");
        }
    }

    #[test]
    fn a_nick_keeps_its_case_for_display_and_folds_for_its_key() {
        let n = Nick::parse("AliCe").unwrap();
        assert_eq!(n.to_string(), "AliCe");
        assert_eq!(n.casefold(), "alice");
        assert!(n.same_as(&Nick::parse("alice").unwrap()));
    }

    #[test]
    fn display_nicks_accept_irc_specials_but_not_prefix_separators() {
        assert!(DisplayNick::parse("[away]|bob^").is_ok());
        for bad in ["", "a b", "a!b", "a@b", "a,b", "\u{1}x"] {
            assert!(DisplayNick::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn levels_are_ordered_and_round_trip_as_numbers() {
        assert!(Level::Guest < Level::Member && Level::Staff < Level::Superuser);
        assert_eq!(serde_json::to_string(&Level::Operator).unwrap(), "3");
        assert_eq!(serde_json::from_str::<Level>("4").unwrap(), Level::Staff);
        assert!(serde_json::from_str::<Level>("6").is_err());
    }

    #[test]
    fn phone_numbers_must_be_strict_e164() {
        assert!(PhoneNumber::parse("+15551234567").is_ok());
        assert!(PhoneNumber::parse("+4930123456").is_ok());
        for bad in ["15551234567", "+0123456789", "+1234567", "+1234567890123456", "+1555 123 4567", "+1555123456a"] {
            assert_eq!(PhoneNumber::parse(bad), Err(InvalidValue::PhoneNumber), "{bad}");
        }
    }

    #[test]
    fn ban_masks_are_normalised_like_irc_servers_do() {
        assert_eq!(HostMask::parse("Alice").unwrap().as_str(), "alice!*@*");
        assert_eq!(HostMask::parse("ident@Host.example").unwrap().as_str(), "*!ident@host.example");
        assert_eq!(HostMask::parse("bob!ident").unwrap().as_str(), "bob!ident@*");
        assert_eq!(HostMask::parse("Bob!~B@1.2.3.4").unwrap().as_str(), "bob!~b@1.2.3.4");
        for bad in ["", "a b", "!x@y", "a!@y", "a!b@", "a!b@c@d"] {
            assert!(HostMask::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_match_with_star_and_question_mark_wildcards() {
        let m = HostMask::parse("*!*@*.example.org").unwrap();
        assert!(m.matches("Bob", "bob", "irc.EXAMPLE.org"));
        assert!(!m.matches("bob", "bob", "example.org"));
        let m = HostMask::parse("b?b").unwrap();
        assert!(m.matches("bob", "x", "y") && m.matches("BIB", "x", "y"));
        assert!(!m.matches("boob", "x", "y"));
        assert!(m.matches_nick_only("bab"));
        assert!(!HostMask::parse("*@evil.com").unwrap().matches_nick_only("bab"));
        let hostile = HostMask::parse(&format!("{}b", "*a".repeat(40))).unwrap();
        assert!(!hostile.matches(&"a".repeat(150), "u", "h"));
    }

    #[test]
    fn durations_parse_in_chat_units_within_bounds() {
        assert_eq!(BanDuration::parse("10m").unwrap().as_delta(), TimeDelta::minutes(10));
        assert_eq!(BanDuration::parse("2h").unwrap().as_delta(), TimeDelta::hours(2));
        assert_eq!(BanDuration::parse("3D").unwrap().as_delta(), TimeDelta::days(3));
        assert_eq!(BanDuration::parse("1w").unwrap().as_delta(), TimeDelta::weeks(1));
        for bad in ["", "10", "m", "0m", "10y", "53w", "9999999999h", "-5m", "1.5h"] {
            assert_eq!(BanDuration::parse(bad), Err(InvalidValue::Duration), "{bad}");
        }
    }

    #[test]
    fn texts_refuse_blank_oversized_and_control_characters() {
        assert!(MessageBody::parse("hello\nworld\t!").is_ok());
        assert_eq!(MessageBody::parse("  "), Err(InvalidValue::EmptyText { what: "a message" }));
        assert!(matches!(MessageBody::parse(&"x".repeat(MAX_MESSAGE_BODY + 1)), Err(InvalidValue::TextTooLong { .. })));
        assert_eq!(MessageBody::parse("bell\u{7}"), Err(InvalidValue::ControlCharacter { what: "a message" }));
        // Counted in characters: the limit in emoji (4 bytes each) is the limit in ASCII.
        assert!(MessageBody::parse(&"😀".repeat(MAX_MESSAGE_BODY)).is_ok());
        assert_eq!(
            MessageBody::parse(&"漢".repeat(MAX_MESSAGE_BODY + 1)).unwrap_err().to_string(),
            format!("a message is {} characters long; the limit is {MAX_MESSAGE_BODY}", MAX_MESSAGE_BODY + 1)
        );
    }

    #[test]
    fn quote_dedup_keys_ignore_case_and_whitespace_runs() {
        let a = QuoteText::parse("  Hello   World ").unwrap();
        let b = QuoteText::parse("hello world").unwrap();
        assert_eq!(a.dedup_key(), b.dedup_key());
    }

    #[test]
    fn token_hashes_compare_by_value_and_reject_bad_hex() {
        let h = TokenHash::of_secret("s3cret");
        assert_eq!(h.as_str().len(), 64);
        assert!(h.verify(&TokenHash::parse(h.as_str()).unwrap()));
        assert!(!h.verify(&TokenHash::of_secret("s3cres")));
        assert!(TokenHash::parse("ABCD").is_err());
        assert!(TokenHash::parse(&"G".repeat(64)).is_err());
        assert!(!format!("{h:?}").contains(h.as_str()));
    }

    #[test]
    fn emails_and_channels_are_checked_for_shape() {
        assert!(Email::parse("a@example.org").is_ok());
        for bad in ["a", "@x.org", "a@x", "a b@x.org", "a@.org"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(IrcChannel::parse("#switchboard").is_ok());
        for bad in ["#", "chan", "#a b", "#a,b"] {
            assert!(IrcChannel::parse(bad).is_err(), "{bad}");
        }
    }
}
