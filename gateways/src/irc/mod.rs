//! The IRC side of Switchboard: a bot on one IRC network that records what happens on the
//! channels bound to rooms and answers the commands described in `docs/commands.md`.
//!
//! - [`input`] (pure): a server line → what happened ([`input::IrcInput`]).
//! - [`command`] (pure): a line addressed to the bot → [`command::BotCommand`]; usage and help
//!   text per command and level ([`command::HelpTopic`]).
//! - [`text`] (pure): making text safe for one IRC line and splitting it under 512 bytes.
//! - [`bot`]: what each input means — room activity to [`rooms`] workers, commands and session
//!   ends to one control task; the command handlers by area, behind a seam that lets them be
//!   unit-tested; sessions and presence; every reply's wording. Replies go through [`outbox`].
//! - [`rooms`]: one worker per room, batching a busy channel's lines into shared appends.
//! - [`connection`]: the thin connection loop (TLS, SASL, reconnect with backoff and jitter).
//! - [`relay`]: the log → IRC (SMS and GraphQL activity said on the bridged channel).
//! - [`demo`]: binds the demo channel at start.
//!
//! The tests' private ngIRCd and scripted IRC users are in the `testkit` crate (`testkit::irc`).

pub mod bot;
pub mod command;
pub mod connection;
pub mod demo;
pub mod input;
pub mod outbox;
pub mod relay;
pub mod rooms;
pub mod settings;
pub mod text;
