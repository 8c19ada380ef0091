//! Switchboard's gateways: the IRC bot ([`irc`]: connection, reconnects, flood control, 512-byte
//! lines, commands, sessions, the bridge from the log to channels) and the SMS side ([`sms`]:
//! Twilio webhook validation, the processor of inbound texts, fan-out, the REST client and the
//! outbound delivery subscriber), plus the pure translation between wire lines / texts and domain
//! commands, and the replies. [`nicks`] is the nick change every path shares (SMS `#update`, and
//! the API and web pages through `api::accounts`).
//!
//! It must not hold rules (those are `domain`) nor write read models (those are `projections`).

pub mod irc;
pub mod nicks;
pub mod sms;
