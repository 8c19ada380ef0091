//! Everything the bot says goes through here: text made safe for one IRC line and split so no
//! line the server relays exceeds 512 bytes. Flood control is the `irc` crate's (its transport
//! sends at most `burst_messages` lines per `burst_window`), configured by the connection.
//!
//! A line handed to the sender is only queued: it reaches the server when the transport gets
//! to it. [`Outbox::written`] says when everything queued so far has reached the server: it
//! queues a `PING` with its own token behind those lines, and the server, which handles one
//! client's lines in order, answers its `PONG` only after it has read them all.

use std::collections::BTreeMap;
use std::sync::Mutex;

use irc::client::Sender;
use irc::proto::Command;
use tokio::sync::oneshot;

use super::text::{message_budget, sanitize, source_len_estimate, split_to_fit};

/// The current connection's sender (none while disconnected: what is said then is dropped and
/// logged, never queued for a server that may not come back).
#[derive(Default)]
pub struct Outbox {
    sender: Mutex<Option<Sink>>,
    nick: Mutex<String>,
    barriers: Mutex<Barriers>,
}

/// The token of a `PING` that [`Outbox::written`] sent; the server echoes it in its `PONG`.
const BARRIER_TOKEN: &str = "switchboard-written-";

/// `PING`s sent by [`Outbox::written`] and not yet answered, by their number.
#[derive(Default)]
struct Barriers {
    sent: u64,
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
}

/// Where lines go: the server, or (in unit tests) a list the test reads.
enum Sink {
    Server(Sender),
    #[cfg(test)]
    Recorder(std::sync::Arc<Mutex<Vec<String>>>),
}

impl Outbox {
    pub fn connect(&self, sender: Sender, nick: &str) {
        *self.sender.lock().expect("outbox lock") = Some(Sink::Server(sender));
        self.set_nick(nick);
    }

    /// An outbox connected to a list instead of a server: every line sent, as it would go on the
    /// wire without its CRLF (`PRIVMSG alice :logged out`).
    #[cfg(test)]
    pub fn recording(nick: &str) -> (Self, std::sync::Arc<Mutex<Vec<String>>>) {
        let lines = std::sync::Arc::default();
        let outbox = Self {
            sender: Mutex::new(Some(Sink::Recorder(std::sync::Arc::clone(&lines)))),
            nick: Mutex::new(nick.to_owned()),
            barriers: Mutex::default(),
        };
        (outbox, lines)
    }

    /// The connection is gone: what was queued may never have been written, so every
    /// [`Outbox::written`] still waiting fails.
    pub fn disconnect(&self) {
        *self.sender.lock().expect("outbox lock") = None;
        self.barriers.lock().expect("barrier lock").waiting.clear();
    }

    /// Resolves once every line queued before this call has reached the server; fails
    /// (`Err`) when the connection ends first, or at once when there is none.
    pub async fn written(&self) -> Result<(), NotWritten> {
        let (answered, answer) = oneshot::channel();
        let number = {
            let mut barriers = self.barriers.lock().expect("barrier lock");
            barriers.sent += 1;
            let number = barriers.sent;
            barriers.waiting.insert(number, answered);
            number
        };
        #[cfg(test)]
        if matches!(self.sender.lock().expect("outbox lock").as_ref(), Some(Sink::Recorder(_))) {
            // A recorder has nothing in flight: what it took is written.
            self.barriers.lock().expect("barrier lock").waiting.remove(&number);
            return Ok(());
        }
        if !self.send(Command::PING(format!("{BARRIER_TOKEN}{number}"), None)) {
            self.barriers.lock().expect("barrier lock").waiting.remove(&number);
            return Err(NotWritten);
        }
        answer.await.map_err(|_| NotWritten)
    }

    /// A `PONG` from the server: every [`Outbox::written`] up to the one it answers is done.
    /// Other PONGs (the transport's keep-alive) carry other tokens and are ignored.
    pub fn pong(&self, token: &str) {
        let Some(number) = token.strip_prefix(BARRIER_TOKEN).and_then(|n| n.parse::<u64>().ok()) else { return };
        let mut barriers = self.barriers.lock().expect("barrier lock");
        let later = barriers.waiting.split_off(&(number + 1));
        for (_, answered) in std::mem::replace(&mut barriers.waiting, later) {
            let _ = answered.send(());
        }
    }

    pub fn is_connected(&self) -> bool {
        self.sender.lock().expect("outbox lock").is_some()
    }

    pub fn set_nick(&self, nick: &str) {
        *self.nick.lock().expect("outbox lock") = nick.to_owned();
    }

    /// The bot's nick on the current connection.
    pub fn nick(&self) -> String {
        self.nick.lock().expect("outbox lock").clone()
    }

    pub fn send(&self, command: Command) -> bool {
        match self.sender.lock().expect("outbox lock").as_ref() {
            #[cfg(test)]
            Some(Sink::Recorder(lines)) => {
                lines.lock().expect("recorded lines lock").push(String::from(&command));
                true
            }
            Some(Sink::Server(sender)) => match sender.send(command) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "IRC line not sent");
                    false
                }
            },
            None => {
                tracing::debug!("not connected; IRC line dropped");
                false
            }
        }
    }

    fn pieces(&self, command: &str, target: &str, text: &str, wrap: usize) -> Vec<String> {
        let budget = message_budget(source_len_estimate(&self.nick()), command, target).saturating_sub(wrap);
        split_to_fit(&sanitize(text), budget)
    }

    /// Says `text` to `target`, in as many lines as it takes; `false` when not every line
    /// could be queued (no connection).
    pub fn privmsg(&self, target: &str, text: &str) -> bool {
        self.pieces("PRIVMSG", target, text, 0).into_iter().all(|piece| self.send(Command::PRIVMSG(target.to_owned(), piece)))
    }

    pub fn notice(&self, target: &str, text: &str) -> bool {
        self.pieces("NOTICE", target, text, 0).into_iter().all(|piece| self.send(Command::NOTICE(target.to_owned(), piece)))
    }

    /// `/me` text: the CTCP wrapper (`\x01ACTION …\x01`) counts against the line too.
    pub fn action(&self, target: &str, text: &str) -> bool {
        self.pieces("PRIVMSG", target, text, "\u{1}ACTION \u{1}".len())
            .into_iter()
            .all(|piece| self.send(Command::PRIVMSG(target.to_owned(), format!("\u{1}ACTION {piece}\u{1}"))))
    }

    pub fn raw(&self, words: &[&str]) -> bool {
        let (command, args) = words.split_first().expect("a command word");
        self.send(Command::Raw((*command).to_owned(), args.iter().map(|a| (*a).to_owned()).collect()))
    }
}

/// The connection ended before the server had read what was queued.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the IRC connection ended before the lines were written")]
pub struct NotWritten;
