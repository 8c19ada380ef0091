//! How events cross the storage boundary: a stable stored name, a schema version, a JSON payload,
//! and upcasting of older shapes on the way back in.

/// Why a stored event could not be turned back into a domain event. The store reports these
/// with the event's position so an operator can find it; nothing is skipped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event type {event_type:?} has no schema version {version} (newest is {newest})")]
    UnknownVersion { event_type: String, version: i16, newest: i16 },
    #[error("event type {event_type:?} v{version}: payload does not match: {reason}")]
    BadPayload { event_type: String, version: i16, reason: String },
}

/// Implemented by the domain's event enum. The store is written against this trait, so it never
/// needs to know the catalogue.
pub trait EventCodec: Sized {
    /// Stable stored name, independent of the Rust identifier (`room.message_posted`).
    fn event_type(&self) -> &'static str;
    /// Version of the payload shape written today.
    fn schema_version(&self) -> i16;
    /// The payload as JSON.
    fn encode(&self) -> serde_json::Value;
    /// Turns a stored `(type, version, payload)` back into an event, upcasting older versions.
    fn decode(event_type: &str, schema_version: i16, payload: serde_json::Value) -> Result<Self, DecodeError>;

    /// The same from the payload's JSON text, as the store reads it. Implementations decode a
    /// current-version payload straight into its type (no `serde_json::Value` in between: the
    /// difference is most of a rebuild's decoding time); this default goes through `decode`.
    /// The text is a `str`, checked as UTF-8 once, so the parser need not check each string.
    fn decode_json(event_type: &str, schema_version: i16, json: &str) -> Result<Self, DecodeError> {
        let payload = serde_json::from_str(json).map_err(|e| DecodeError::BadPayload {
            event_type: event_type.to_owned(),
            version: schema_version,
            reason: e.to_string(),
        })?;
        Self::decode(event_type, schema_version, payload)
    }
}
