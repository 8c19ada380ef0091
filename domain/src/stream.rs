//! Stream names: one consistency boundary each (`<category>-<id>`).
//!
//! Names are validated once, here, so the store never sees an unbounded or ambiguous name.
//! Personal data (phone numbers) never appears in a name: reservation streams use a hash.

use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Longest stream name accepted. Bounded so that an index entry stays small and a hostile
/// client cannot make the store allocate by naming a stream.
pub const MAX_STREAM_NAME_LEN: usize = 200;

/// A validated stream name such as `user-0192…` or `nick-alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

/// Why a stream name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStreamName {
    #[error("stream name is empty")]
    Empty,
    #[error("stream name is {0} bytes long; the limit is {MAX_STREAM_NAME_LEN}")]
    TooLong(usize),
    #[error("stream name {0:?} has no `<category>-<id>` form")]
    NoCategory(String),
    #[error("stream category {0:?} must be lowercase ASCII letters or `_`")]
    BadCategory(String),
    #[error("stream name contains whitespace or a control character")]
    BadCharacter,
}

impl StreamName {
    /// Parses and validates `<category>-<id>`: the category is `[a-z_]+`, the id is non-empty
    /// and free of whitespace and control characters.
    pub fn parse(name: &str) -> Result<Self, InvalidStreamName> {
        if name.is_empty() {
            return Err(InvalidStreamName::Empty);
        }
        if name.len() > MAX_STREAM_NAME_LEN {
            return Err(InvalidStreamName::TooLong(name.len()));
        }
        // Stream names are nearly always ASCII, where a byte test says the same as the Unicode
        // one (every stored event's name is parsed again on each read).
        let clean = if name.is_ascii() {
            name.bytes().all(|b| b.is_ascii_graphic())
        } else {
            !name.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !clean {
            return Err(InvalidStreamName::BadCharacter);
        }
        let Some((category, id)) = name.split_once('-') else {
            return Err(InvalidStreamName::NoCategory(name.to_owned()));
        };
        if id.is_empty() || category.is_empty() {
            return Err(InvalidStreamName::NoCategory(name.to_owned()));
        }
        if !category.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(InvalidStreamName::BadCategory(category.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    fn new_unchecked(category: &str, id: impl fmt::Display) -> Self {
        Self(format!("{category}-{id}"))
    }

    /// `user-<uuid>`: a person, across IRC, SMS and the web.
    pub fn user(id: Uuid) -> Self {
        Self::new_unchecked("user", id)
    }
    /// `room-<uuid>`: one conversation and its bindings.
    /// `sms_inbound-<room id>`: the texts that arrived for a room's number, as received. Kept out
    /// of the room's own stream so a burst of webhooks never contends with the room's decisions.
    pub fn inbound_sms(room_id: Uuid) -> Self {
        Self::new_unchecked("sms_inbound", room_id)
    }
    /// `sms_limits-<room id>`: what a room's SMS side held back for cost (an IRC guest over
    /// their hourly lines), to be told on IRC.
    pub fn sms_limits(room_id: Uuid) -> Self {
        Self::new_unchecked("sms_limits", room_id)
    }

    pub fn room(id: Uuid) -> Self {
        Self::new_unchecked("room", id)
    }
    /// `nick-<casefolded nick>`: the reservation that makes nicks unique across IRC and SMS.
    /// Takes the already casefolded key so that the caller decides the folding once.
    pub fn nick(casefolded: &str) -> Self {
        Self::new_unchecked("nick", casefolded)
    }
    /// `phone-<sha256 of the E.164 number>`: the reservation that makes phone numbers unique,
    /// without putting the number itself into a stream name.
    pub fn phone(e164: &str) -> Self {
        let digest = Sha256::digest(e164.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self::new_unchecked("phone", hex)
    }
    /// `delivery-<uuid>`: one outbound SMS and its status history.
    pub fn delivery(id: Uuid) -> Self {
        Self::new_unchecked("delivery", id)
    }
    /// `quotes-all`: the quote book; one stream so that ids are sequential and duplicates checked.
    pub fn quotes() -> Self {
        Self::new_unchecked("quotes", "all")
    }
    /// `info-<casefolded item>`: one shared fact and its versions.
    pub fn info(casefolded_item: &str) -> Self {
        Self::new_unchecked("info", casefolded_item)
    }
    /// `account-<casefolded username>`: the reservation that makes web usernames unique.
    pub fn account(casefolded_username: &str) -> Self {
        Self::new_unchecked("account", casefolded_username)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-`; used by category filters on the global log.
    pub fn category(&self) -> &str {
        self.0.split_once('-').map(|(c, _)| c).unwrap_or(&self.0)
    }

    /// The part after the first `-`.
    pub fn id(&self) -> &str {
        self.0.split_once('-').map(|(_, id)| id).unwrap_or("")
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for StreamName {
    type Err = InvalidStreamName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_names_parse_and_expose_their_category() {
        let name = StreamName::parse("room-42").unwrap();
        assert_eq!(name.category(), "room");
        assert_eq!(name.id(), "42");
    }

    #[test]
    fn ids_may_contain_dashes() {
        let id = Uuid::nil();
        let name = StreamName::user(id);
        assert_eq!(StreamName::parse(name.as_str()).unwrap(), name);
        assert_eq!(name.id(), id.to_string());
    }

    #[test]
    fn malformed_names_are_refused_with_a_reason() {
        assert_eq!(StreamName::parse(""), Err(InvalidStreamName::Empty));
        assert!(matches!(StreamName::parse("nodash"), Err(InvalidStreamName::NoCategory(_))));
        assert!(matches!(StreamName::parse("room-"), Err(InvalidStreamName::NoCategory(_))));
        assert!(matches!(StreamName::parse("Room-1"), Err(InvalidStreamName::BadCategory(_))));
        assert_eq!(StreamName::parse("room-a b"), Err(InvalidStreamName::BadCharacter));
        assert_eq!(StreamName::parse("room-a\u{0}"), Err(InvalidStreamName::BadCharacter));
        let long = format!("room-{}", "x".repeat(MAX_STREAM_NAME_LEN));
        assert!(matches!(StreamName::parse(&long), Err(InvalidStreamName::TooLong(_))));
    }

    #[test]
    fn phone_streams_do_not_contain_the_number() {
        let name = StreamName::phone("+15551234567");
        assert!(!name.as_str().contains("5551234567"));
        assert_eq!(name, StreamName::phone("+15551234567"));
        assert_ne!(name, StreamName::phone("+15551234568"));
    }
}
