//! Who is on which bound channel, and which channels the bot itself is on. Presence is known
//! from JOIN, PART, KICK, QUIT and NICK as they happen and is re-read from NAMES after every
//! (re)join, which replaces what was thought to be on the channel.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::fold;

#[derive(Default)]
pub struct Presence {
    /// Casefolded nick → casefolded channels.
    on: Mutex<HashMap<String, HashSet<String>>>,
    /// Channels the bot is on now (casefolded), so the relay waits for a rejoin instead of
    /// talking into a channel it is not in.
    joined: Mutex<HashSet<String>>,
    /// NAMES replies being collected, by casefolded channel.
    names: Mutex<HashMap<String, Vec<String>>>,
}

impl Presence {
    pub fn arrived(&self, nick: &str, channel: &str) {
        self.on.lock().expect("presence lock").entry(fold(nick)).or_default().insert(fold(channel));
    }

    /// Removes `nick` from `channel`; `true` when it was the last channel shared with the bot.
    pub fn left(&self, nick: &str, channel: &str) -> bool {
        let mut on = self.on.lock().expect("presence lock");
        let channels = on.entry(fold(nick)).or_default();
        channels.remove(&fold(channel));
        let last = channels.is_empty();
        if last {
            on.remove(&fold(nick));
        }
        last
    }

    /// `nick` is gone from every channel; the channels it was on.
    pub fn gone(&self, nick: &str) -> HashSet<String> {
        self.on.lock().expect("presence lock").remove(&fold(nick)).unwrap_or_default()
    }

    /// `old` is now `new`, on the same channels; the channels.
    pub fn renamed(&self, old: &str, new: &str) -> HashSet<String> {
        let mut on = self.on.lock().expect("presence lock");
        let channels = on.remove(&fold(old)).unwrap_or_default();
        on.insert(fold(new), channels.clone());
        channels
    }

    /// The channels (casefolded) `nick` shares with the bot.
    pub fn channels_of(&self, nick: &str) -> HashSet<String> {
        self.on.lock().expect("presence lock").get(&fold(nick)).cloned().unwrap_or_default()
    }

    /// Whether `nick` shares any channel with the bot.
    pub fn is_anywhere(&self, nick: &str) -> bool {
        self.on.lock().expect("presence lock").contains_key(&fold(nick))
    }

    /// The casefolded nicks on `channel` whom `matches` picks.
    pub fn on_channel_matching(&self, channel: &str, matches: impl Fn(&str) -> bool) -> Vec<String> {
        let on = self.on.lock().expect("presence lock");
        on.iter().filter(|(nick, channels)| channels.contains(&fold(channel)) && matches(nick)).map(|(nick, _)| nick.clone()).collect()
    }

    /// One NAMES reply line for `channel`, kept until its end.
    pub fn names(&self, channel: &str, nicks: Vec<String>) {
        self.names.lock().expect("names lock").entry(fold(channel)).or_default().extend(nicks);
    }

    /// The end of NAMES for `channel`: the list collected so far, taken.
    pub fn end_of_names(&self, channel: &str) -> Vec<String> {
        self.names.lock().expect("names lock").remove(&fold(channel)).unwrap_or_default()
    }

    /// The list replaces what was thought to be on the channel.
    pub fn replace_channel(&self, channel: &str, nicks: &[String]) {
        let mut on = self.on.lock().expect("presence lock");
        for channels in on.values_mut() {
            channels.remove(&fold(channel));
        }
        for nick in nicks {
            on.entry(fold(nick)).or_default().insert(fold(channel));
        }
    }

    pub fn bot_joined(&self, channel: &str) {
        self.joined.lock().expect("joined lock").insert(fold(channel));
    }

    pub fn has_joined(&self, channel: &str) -> bool {
        self.joined.lock().expect("joined lock").contains(&fold(channel))
    }

    /// The bot is off `channel`: nobody shares it with the bot any more. The nicks who shared
    /// no other channel with the bot are handed back (their sessions end).
    pub fn bot_left(&self, channel: &str) -> Vec<String> {
        self.joined.lock().expect("joined lock").remove(&fold(channel));
        let mut on = self.on.lock().expect("presence lock");
        for channels in on.values_mut() {
            channels.remove(&fold(channel));
        }
        let orphaned: Vec<String> = on.iter().filter(|(_, c)| c.is_empty()).map(|(n, _)| n.clone()).collect();
        for nick in &orphaned {
            on.remove(nick);
        }
        orphaned
    }

    /// The connection is gone: presence is unknown until the next NAMES.
    pub fn clear(&self) {
        self.on.lock().expect("presence lock").clear();
        self.joined.lock().expect("joined lock").clear();
        self.names.lock().expect("names lock").clear();
    }
}
