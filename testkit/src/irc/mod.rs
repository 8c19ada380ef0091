//! Test support for the IRC gateway: a private, real IRC server and scripted IRC users.
//!
//! [`Ngircd`] runs an [ngIRCd](https://ngircd.barton.de/) (Debian package `ngircd`, which
//! `scripts/test` installs) on 127.0.0.1, on a free port, with a generated configuration in a
//! temporary directory, tuned for tests:
//!
//! - flood penalties off (`MaxPenaltyTime = 0`): with ngIRCd's defaults a scripted client is
//!   throttled to about one line a second after a short burst;
//! - no DNS, ident or PAM look-ups; nicks up to 30 characters; no limit on connections (also per
//!   IP) nor on channels per user; pings after 120 s of silence;
//! - a known IRC operator ([`OPER_NAME`] / [`OPER_PASSWORD`], see [`IrcTestClient::oper`]).
//!
//! Each test starts its own server; [`Ngircd::restart`] (or [`Ngircd::stop`] then
//! [`Ngircd::start_again`]) brings it back on the same port, to test reconnection. It needs no
//! root: started as root, ngIRCd itself drops to the user `nobody`; otherwise it keeps the user.
//!
//! [`IrcTestClient`] is a scripted IRC user on a raw TCP connection (deliberately not the `irc`
//! crate, so that it can send anything, including lines the protocol forbids). A background task
//! reads its lines (lossily decoded: invalid UTF-8 becomes U+FFFD) and answers the server's PINGs;
//! the test waits for the lines it cares about with [`IrcTestClient::expect`] and friends.
//!
//! What ngIRCd 26.1 does with hostile input (observed; useful when writing tests):
//!
//! - a line longer than 512 bytes gets `ERROR :Request too long` and the connection is closed
//!   (channel members see `QUIT :Request too long`); nothing is truncated or relayed;
//! - more than 2048 bytes without a line end (its read buffer) wedges that connection instead:
//!   the server ignores everything else it sends, does not notice when it closes, and spins a CPU
//!   until the ping timeout (then logs a write error in a loop). The server keeps serving other
//!   clients, but don't do that in a test unless that is what you are testing;
//! - its listen backlog is 10: connecting hundreds of clients at the very same moment can be
//!   slowed down by SYN retransmissions (a second each).

mod client;
mod server;

use std::time::Duration;

pub use client::{IrcLine, IrcTestClient};
pub use server::{Ngircd, ngircd_binary};

/// The Debian package that provides the server.
pub const NGIRCD_PACKAGE: &str = "ngircd";
/// Environment variable naming the ngIRCd binary, when it is not in a standard place.
pub const NGIRCD_ENV: &str = "SWITCHBOARD_NGIRCD";
/// The IRC name of the test server (the prefix of its own messages).
pub const SERVER_NAME: &str = "irc.test";
/// IRC operator name configured on every test server (`OPER name password`).
pub const OPER_NAME: &str = "switchboard";
/// IRC operator password configured on every test server.
pub const OPER_PASSWORD: &str = "switchboard-oper";
/// Longest nick the test server accepts.
pub const MAX_NICK_LENGTH: usize = 30;

pub(crate) const LOOPBACK: &str = "127.0.0.1";
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the helpers of [`IrcTestClient`] wait for the server's answer.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
