//! The channels bound to rooms, by casefolded name: read from the read model at every
//! connection and kept up to date by the bot's own `.join`/`.part` and by the relay (bindings
//! made in GraphQL).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use projections::queries::BoundChannel;
use uuid::Uuid;

use super::fold;

#[derive(Default)]
pub struct Channels {
    bound: RwLock<HashMap<String, BoundChannel>>,
    /// Channels where the bot sent the room's topic and the server has not yet shown it set
    /// (refused while the bot is not a channel operator of a `+t` channel): sent again when
    /// the bot is given `+o`.
    topic_unconfirmed: Mutex<HashSet<String>>,
    /// Whether the bindings were read since the start: until then a room missing here may be
    /// bound all the same.
    loaded: AtomicBool,
}

impl Channels {
    pub fn replace_all(&self, channels: &[BoundChannel]) {
        let mut bound = self.bound.write().expect("channels lock");
        bound.clear();
        for channel in channels {
            bound.insert(fold(&channel.channel), channel.clone());
        }
        self.loaded.store(true, Ordering::Release);
    }

    /// Whether the bindings have been read (a first connection loads them).
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn bind(&self, channel: BoundChannel) {
        self.bound.write().expect("channels lock").insert(fold(&channel.channel), channel);
    }

    pub fn unbind(&self, channel: &str) -> Option<BoundChannel> {
        self.bound.write().expect("channels lock").remove(&fold(channel))
    }

    pub fn get(&self, channel: &str) -> Option<BoundChannel> {
        self.bound.read().expect("channels lock").get(&fold(channel)).cloned()
    }

    pub fn of_room(&self, room_id: Uuid) -> Option<BoundChannel> {
        self.bound.read().expect("channels lock").values().find(|c| c.room_id == room_id).cloned()
    }

    /// The names of every bound channel, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.bound.read().expect("channels lock").values().map(|c| c.channel.clone()).collect();
        names.sort();
        names
    }

    /// The names of the invite-only channels.
    pub fn invite_only(&self) -> Vec<String> {
        self.bound.read().expect("channels lock").values().filter(|c| c.invite_only).map(|c| c.channel.clone()).collect()
    }

    /// Sets a room's invite-only flag; the channel's name when the room is bound.
    pub fn set_invite_only(&self, room_id: Uuid, invite_only: bool) -> Option<String> {
        let mut bound = self.bound.write().expect("channels lock");
        let channel = bound.values_mut().find(|c| c.room_id == room_id)?;
        channel.invite_only = invite_only;
        Some(channel.channel.clone())
    }

    /// The bot sent the room's topic to `channel`.
    pub fn topic_sent(&self, channel: &str) {
        self.topic_unconfirmed.lock().expect("topics lock").insert(fold(channel));
    }

    /// The server shows the bot's topic set on `channel`.
    pub fn topic_confirmed(&self, channel: &str) {
        self.topic_unconfirmed.lock().expect("topics lock").remove(&fold(channel));
    }

    /// Whether a topic the bot sent to `channel` has not been taken yet.
    pub fn topic_unconfirmed(&self, channel: &str) -> bool {
        self.topic_unconfirmed.lock().expect("topics lock").contains(&fold(channel))
    }
}
