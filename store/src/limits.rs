//! What any backend accepts in one append: checked before anything is sent, so a refused
//! append writes nothing and says why, whichever backend holds the log.

use crate::error::StoreError;

/// Largest payload accepted for one event. Chat text is capped far below this by the domain;
/// the bound keeps a hostile or buggy caller from bloating the log.
pub const MAX_EVENT_PAYLOAD_BYTES: usize = 256 * 1024;

/// Most events in one append (one transaction's share).
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;

/// Largest page any read returns; callers asking for more get this many.
pub const MAX_PAGE: usize = 10_000;

/// Stored names are short dotted identifiers (`room.message_posted`).
pub(crate) fn valid_event_type(t: &str) -> bool {
    !t.is_empty() && t.len() <= 100 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

pub(crate) fn check_event_count(count: usize) -> Result<(), StoreError> {
    if count > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::TooManyEvents { count, limit: MAX_EVENTS_PER_APPEND });
    }
    Ok(())
}
