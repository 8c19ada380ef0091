//! Switchboard's pure model: it owns the event catalogue, the commands, the aggregates
//! (`decide`/`evolve`) and every rule (nicks, levels, bans, tokens, quotes, invites; `docs/commands.md` describes them for users).
//!
//! Main types: [`Event`] (every fact the system records, with its stored name and version; see
//! [`events`] and [`EVENT_TYPES`]), validated values ([`Nick`], [`Level`], [`PhoneNumber`],
//! [`HostMask`], [`TokenHash`], … in [`values`]), [`StreamName`], [`Metadata`], the [`Aggregate`]
//! trait and one aggregate per stream category ([`User`], [`Room`], [`NickReservation`],
//! [`PhoneReservation`], [`AccountName`], [`QuoteBook`], [`InfoItem`], [`Delivery`]). Failed
//! IRC logins are recorded as events (not errors) so the lockout survives restarts.
//! `testing` (behind the `testing` feature) holds the given/when/then harness.
//!
//! It must not touch IO: no tokio, no SQL, no HTTP, no clock (time arrives in [`Context`]).

pub mod aggregate;
pub mod aggregates;
pub mod codec;
pub mod events;
pub mod metadata;
pub mod stream;
pub mod values;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use aggregate::{Addressed, Aggregate, Context};
pub use aggregates::*;
pub use codec::{DecodeError, EventCodec};
pub use events::{EVENT_TYPES, Event};
pub use metadata::{Actor, Gateway, Metadata, UnknownGateway};
pub use stream::{InvalidStreamName, StreamName};
pub use values::{
    AboutText, BanDuration, DisplayNick, Email, HostMask, InfoKey, InfoText, InvalidValue, IrcChannel, Level, MAX_MESSAGE_BODY,
    MessageBody, Nick, PhoneNumber, QuoteText, Reason, RoomName, TextUnit, TokenHash, Topic, Username,
};
