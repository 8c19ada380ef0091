//! The channels bound to rooms, by casefolded name: read from the read model at every
//! connection and kept up to date by the bot's own `.join`/`.part` and by the relay (bindings
//! made in GraphQL).

use std::collections::HashMap;
use std::sync::RwLock;

use projections::queries::BoundChannel;
use uuid::Uuid;

use super::fold;

#[derive(Default)]
pub struct Channels {
    bound: RwLock<HashMap<String, BoundChannel>>,
}

impl Channels {
    pub fn replace_all(&self, channels: &[BoundChannel]) {
        let mut bound = self.bound.write().expect("channels lock");
        bound.clear();
        for channel in channels {
            bound.insert(fold(&channel.channel), channel.clone());
        }
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
}
