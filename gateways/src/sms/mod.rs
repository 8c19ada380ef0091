//! The SMS side of Switchboard (one Twilio number is one room): checking that a webhook really
//! comes from Twilio ([`signature`]) and reading an inbound text as a command or a chat message
//! ([`commands`]). Both are pure, so the webhook handler and the REST client built on them stay
//! thin and these rules are tested without HTTP.

pub mod commands;
pub mod signature;
