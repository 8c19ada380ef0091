//! Switchboard's gateways (being built in the IRC and SMS milestones; so far the SMS side's pure
//! parts, [`sms::signature`] and [`sms::commands`]). It will own the IRC bot (the `irc` crate:
//! connection, reconnects, flood control, 512-byte lines) and the SMS side (Twilio webhook
//! validation, REST client, outbound delivery subscriber), plus the pure translation between wire
//! lines / texts and domain commands, and the replies.
//!
//! It must not hold rules (those are `domain`) nor write read models (those are `projections`).

pub mod sms;
