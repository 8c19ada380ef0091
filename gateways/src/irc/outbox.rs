//! Everything the bot says goes through here: text made safe for one IRC line and split so no
//! line the server relays exceeds 512 bytes. Flood control is the `irc` crate's (its transport
//! sends at most `burst_messages` lines per `burst_window`), configured by the connection.

use std::sync::Mutex;

use irc::client::Sender;
use irc::proto::Command;

use super::text::{message_budget, sanitize, source_len_estimate, split_to_fit};

/// The current connection's sender (none while disconnected: what is said then is dropped and
/// logged, never queued for a server that may not come back).
#[derive(Default)]
pub struct Outbox {
    sender: Mutex<Option<Sink>>,
    nick: Mutex<String>,
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
        let outbox = Self { sender: Mutex::new(Some(Sink::Recorder(std::sync::Arc::clone(&lines)))), nick: Mutex::new(nick.to_owned()) };
        (outbox, lines)
    }

    pub fn disconnect(&self) {
        *self.sender.lock().expect("outbox lock") = None;
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

    pub fn privmsg(&self, target: &str, text: &str) {
        for piece in self.pieces("PRIVMSG", target, text, 0) {
            self.send(Command::PRIVMSG(target.to_owned(), piece));
        }
    }

    pub fn notice(&self, target: &str, text: &str) {
        for piece in self.pieces("NOTICE", target, text, 0) {
            self.send(Command::NOTICE(target.to_owned(), piece));
        }
    }

    /// `/me` text: the CTCP wrapper (`\x01ACTION …\x01`) counts against the line too.
    pub fn action(&self, target: &str, text: &str) {
        for piece in self.pieces("PRIVMSG", target, text, "\u{1}ACTION \u{1}".len()) {
            self.send(Command::PRIVMSG(target.to_owned(), format!("\u{1}ACTION {piece}\u{1}")));
        }
    }

    pub fn raw(&self, words: &[&str]) {
        let (command, args) = words.split_first().expect("a command word");
        self.send(Command::Raw((*command).to_owned(), args.iter().map(|a| (*a).to_owned()).collect()));
    }
}
