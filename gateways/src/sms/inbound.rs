//! The inbound webhook's work, below HTTP: read the form exactly as Twilio sent it, check its
//! fields, find the room of the `To` number, and record the text once per `MessageSid`
//! (`sms.inbound_received` on `sms_inbound-<room>`, with event ids derived from the SID, so Twilio's retries store
//! nothing new). Interpreting the text (commands, fan-out) continues from the log.

use domain::events::{InboundMedia, InboundSmsReceived, Place, TwilioDetails};
use domain::{Event, Metadata, PhoneNumber, StreamName};
use projections::{ProjectionError, ReadModels};
use store::executor::derive_event_id;
use store::{CommandExecutor, EventStore, ExpectedVersion, NewEvent, Position};
use uuid::Uuid;

/// Twilio never sends more than 1,600 characters in one inbound message (it concatenates longer
/// ones up to this); a longer body signed with our token is not Twilio's and is refused.
pub const MAX_BODY_CHARS: usize = 1_600;
/// Twilio attaches at most 10 media to one message.
pub const MAX_MEDIA: usize = 10;
/// Bound on a media URL or content type and on each of Twilio's other fields we keep.
const MAX_FIELD_CHARS: usize = 1_000;

/// Idempotency keys of inbound messages are UUIDv5 of the SID in this namespace.
const SID_NAMESPACE: Uuid = Uuid::from_u128(0x7c1f_35a0_2b9e_4d61_8e47_51a2_c0de_5a51);

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("the form body is not valid UTF-8")]
    NotUtf8,
    #[error("the form has no {0} field")]
    MissingField(&'static str),
    #[error("the {field} field is invalid: {reason}")]
    BadField { field: &'static str, reason: String },
    #[error("no room is bound to {0}")]
    UnknownNumber(PhoneNumber),
    #[error("recording the message failed: {0}")]
    Store(String),
    #[error("finding the room of the number failed: {0}")]
    ReadModel(#[from] ProjectionError),
}

/// A decoded inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: String,
    pub from: PhoneNumber,
    pub to: PhoneNumber,
    pub body: String,
    pub media: Vec<InboundMedia>,
    pub twilio: TwilioDetails,
}

/// Where the message was recorded (the same for a retry of the same SID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub room_id: Uuid,
    pub position: Position,
}

/// Decodes `application/x-www-form-urlencoded` bytes into pairs, keeping every field (the
/// signature covers them all) and refusing invalid UTF-8 rather than replacing it (a replaced
/// character would silently change what was said).
pub fn parse_form(raw: &[u8]) -> Result<Vec<(String, String)>, InboundError> {
    let mut pairs = Vec::new();
    for part in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &[][..]),
        };
        pairs.push((decode_component(name)?, decode_component(value)?));
    }
    Ok(pairs)
}

fn decode_component(raw: &[u8]) -> Result<String, InboundError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' if i + 2 < raw.len() => {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        bytes.push(b);
                        i += 2;
                    }
                    None => bytes.push(b'%'),
                }
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| InboundError::NotUtf8)
}

fn field<'a>(params: &'a [(String, String)], name: &'static str) -> Result<&'a str, InboundError> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).ok_or(InboundError::MissingField(name))
}

/// Checks the fields the gateway uses. `Body` may be empty (a picture without text) but must be
/// present.
pub fn inbound_from_params(params: &[(String, String)]) -> Result<InboundSms, InboundError> {
    let sid = field(params, "MessageSid")?;
    // SM/MM + 32 hex digits: Twilio's SID format, and a bound on what we store as a key.
    let sid_ok = sid.len() == 34 && (sid.starts_with("SM") || sid.starts_with("MM")) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if !sid_ok {
        return Err(InboundError::BadField { field: "MessageSid", reason: "not a Twilio message SID (SM + 32 hex digits)".into() });
    }
    let phone = |name: &'static str| {
        let raw = field(params, name)?;
        PhoneNumber::parse(raw.trim()).map_err(|e| InboundError::BadField { field: name, reason: e.to_string() })
    };
    let (from, to) = (phone("From")?, phone("To")?);
    let body = storable(field(params, "Body")?);
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(InboundError::BadField { field: "Body", reason: format!("longer than {MAX_BODY_CHARS} characters") });
    }
    let media = media(params)?;
    let twilio = TwilioDetails {
        from: place(params, "From"),
        to: place(params, "To"),
        segments: optional(params, "NumSegments").and_then(|n| n.parse().ok()),
    };
    Ok(InboundSms { message_sid: sid.to_owned(), from, to, body, media, twilio })
}

/// An optional field as stored: without NUL, bounded, absent when empty.
fn optional(params: &[(String, String)], name: &str) -> Option<String> {
    let value = storable(params.iter().find(|(k, _)| k == name)?.1.trim());
    (!value.is_empty()).then(|| value.chars().take(MAX_FIELD_CHARS).collect())
}

fn place(params: &[(String, String)], end: &str) -> Place {
    let field = |what: &str| optional(params, &format!("{end}{what}"));
    Place { city: field("City"), state: field("State"), zip: field("Zip"), country: field("Country") }
}

/// `MediaUrl<n>` and `MediaContentType<n>` for `n < NumMedia`: each an `https` URL and a type.
fn media(params: &[(String, String)]) -> Result<Vec<InboundMedia>, InboundError> {
    let count = match optional(params, "NumMedia") {
        None => 0,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or_else(|| InboundError::BadField { field: "NumMedia", reason: format!("not a count from 0 to {MAX_MEDIA}") })?,
    };
    (0..count)
        .map(|i| {
            let url = optional(params, &format!("MediaUrl{i}")).ok_or(InboundError::MissingField("MediaUrl<n>"))?;
            if !url.starts_with("https://") || url.chars().any(char::is_whitespace) {
                return Err(InboundError::BadField { field: "MediaUrl<n>", reason: "not an https URL".into() });
            }
            let content_type = optional(params, &format!("MediaContentType{i}")).unwrap_or_else(|| "application/octet-stream".into());
            Ok(InboundMedia { url, content_type })
        })
        .collect()
}

/// `text` without the characters the log cannot store. NUL is the only one: PostgreSQL's `jsonb`
/// and `text` refuse `\u0000` (a Rust string holds no lone surrogates), and a refused append would
/// answer Twilio 500, which it retries until it gives up. A NUL carries nothing a reader sees, so
/// the text is recorded without it rather than refused.
pub fn storable(text: &str) -> String {
    text.replace('\0', "")
}

/// The room bound to a Twilio number (from the rooms read model).
pub async fn room_of_number(read: &ReadModels, number: &PhoneNumber) -> Result<Option<Uuid>, InboundError> {
    Ok(read.room_of_sms_number(number.as_str()).await?)
}

/// Records the message in the room's inbound stream (`sms_inbound-<room>`), once per SID.
///
/// Appended without an expected version: recording what arrived depends on no decision (the
/// room's existence was just checked), and it lives apart from the room's own stream, so a
/// burst of webhooks never fights the room's commands over its version. The event id is derived from the SID, so the
/// store's idempotent append turns a Twilio retry into the original result.
pub async fn record<S: EventStore + ?Sized>(
    executor: &CommandExecutor<S>,
    read: &ReadModels,
    sms: &InboundSms,
) -> Result<Recorded, InboundError> {
    let room_id = room_of_number(read, &sms.to).await?.ok_or_else(|| InboundError::UnknownNumber(sms.to.clone()))?;
    let event = Event::InboundSmsReceived(InboundSmsReceived {
        message_sid: sms.message_sid.clone(),
        from: sms.from.clone(),
        to: sms.to.clone(),
        body: sms.body.clone(),
        room_id: Some(room_id),
        media: sms.media.clone(),
        twilio: sms.twilio.clone(),
    });
    let key = Uuid::new_v5(&SID_NAMESPACE, sms.message_sid.as_bytes());
    let metadata = Metadata::new(domain::Actor::Anonymous, domain::Gateway::Sms);
    let new_event = NewEvent::with_id(derive_event_id(key, 0), &event, metadata);
    let appended = executor
        .store()
        .append(&StreamName::inbound_sms(room_id), ExpectedVersion::Any, vec![new_event])
        .await
        .map_err(|e| InboundError::Store(e.to_string()))?;
    Ok(Recorded { room_id, position: appended.position })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        parse_form(raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_form_is_decoded_with_plus_and_percent_escapes() {
        let p = pairs("Body=Hello+there%21+%F0%9F%91%8B&From=%2B15551230000&Empty=&Flag");
        assert_eq!(p[0], ("Body".into(), "Hello there! 👋".into()));
        assert_eq!(p[1], ("From".into(), "+15551230000".into()));
        assert_eq!(p[2], ("Empty".into(), String::new()));
        assert_eq!(p[3], ("Flag".into(), String::new()));
    }

    #[test]
    fn invalid_utf8_is_refused_not_replaced() {
        assert!(matches!(parse_form(b"Body=%FF%FE"), Err(InboundError::NotUtf8)));
        assert!(matches!(parse_form(b"Body=\xff"), Err(InboundError::NotUtf8)));
    }

    #[test]
    fn a_stray_percent_is_kept_literally() {
        assert_eq!(pairs("Body=100%")[0].1, "100%");
        assert_eq!(pairs("Body=5%zz")[0].1, "5%zz");
    }

    fn valid() -> Vec<(String, String)> {
        pairs("MessageSid=SM0123456789abcdef0123456789abcdef&From=%2B15551230000&To=%2B15559870000&Body=hi&NumMedia=0")
    }

    #[test]
    fn nul_characters_are_dropped_from_the_body() {
        let mut with_nul = valid();
        with_nul[3].1 = "a\0b\0".into();
        assert_eq!(inbound_from_params(&with_nul).unwrap().body, "ab");
    }

    #[test]
    fn the_fields_the_gateway_uses_are_checked() {
        let sms = inbound_from_params(&valid()).unwrap();
        assert_eq!(sms.body, "hi");
        let without = |name: &str| valid().into_iter().filter(|(k, _)| k != name).collect::<Vec<_>>();
        assert!(matches!(inbound_from_params(&without("Body")), Err(InboundError::MissingField("Body"))));
        assert!(matches!(inbound_from_params(&without("MessageSid")), Err(InboundError::MissingField("MessageSid"))));
        let mut bad_sid = valid();
        bad_sid[0].1 = "SM'; DROP TABLE".into();
        assert!(matches!(inbound_from_params(&bad_sid), Err(InboundError::BadField { field: "MessageSid", .. })));
        let mut bad_from = valid();
        bad_from[1].1 = "5551230000".into();
        assert!(matches!(inbound_from_params(&bad_from), Err(InboundError::BadField { field: "From", .. })));
        let mut long = valid();
        long[3].1 = "x".repeat(MAX_BODY_CHARS + 1);
        assert!(matches!(inbound_from_params(&long), Err(InboundError::BadField { field: "Body", .. })));
    }
}
