//! The demo room: a channel named in the settings is bound to a room at start, so a fresh
//! `scripts/run` has somewhere to talk without any set-up through GraphQL.

use domain::{Actor, Gateway, IrcChannel, Level, Metadata, Room, RoomCommand, RoomName, StreamName};
use store::{CommandExecutor, ExecuteError};
use uuid::Uuid;

use projections::ReadModels;
use store::SharedStore;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0} is not a valid channel name")]
    BadChannel(String),
    #[error("the demo room could not be created: {0}")]
    Room(String),
}

/// The room a demo channel is bound to: derived from the channel's name, so every process and
/// every start finds the same one.
pub fn room_of(channel: &IrcChannel) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("switchboard:irc-demo:{}", channel.casefold()).as_bytes())
}

/// Creates the room and binds `channel` unless that is done already, then waits (bounded) until
/// the rooms read model knows, since the bot reads its channels from there. The room id is
/// derived from the channel name, so running this on every start (or from two processes) is
/// harmless.
pub async fn ensure_channel(store: &SharedStore, read: &ReadModels, channel: &str) -> Result<Uuid, DemoError> {
    let irc_channel = IrcChannel::parse(channel).map_err(|_| DemoError::BadChannel(channel.to_owned()))?;
    let name = RoomName::parse(channel.trim_start_matches(['#', '&'])).map_err(|_| DemoError::BadChannel(channel.to_owned()))?;
    let room_id = room_of(&irc_channel);
    let executor = CommandExecutor::new(store.clone());
    let stream = StreamName::room(room_id);
    let metadata = Metadata::new(Actor::System, Gateway::System);
    let (room, _) = executor.load::<Room>(&stream).await.map_err(|e| DemoError::Room(e.to_string()))?;
    if room.room_id.is_none() {
        let create = RoomCommand::Create { room_id, name, invite_only: false, caller_level: Level::Superuser };
        executor.execute::<Room>(&stream, &create, metadata.clone()).await.map_err(|e: ExecuteError<_>| DemoError::Room(e.to_string()))?;
    }
    if room.irc_channel.is_none() {
        let bind = RoomCommand::BindIrcChannel { channel: irc_channel, key: None, caller_level: Level::Superuser };
        let bound =
            executor.execute::<Room>(&stream, &bind, metadata).await.map_err(|e: ExecuteError<_>| DemoError::Room(e.to_string()))?;
        read.wait_for(bound.position(), &["rooms"], std::time::Duration::from_secs(10))
            .await
            .map_err(|e| DemoError::Room(e.to_string()))?;
    }
    Ok(room_id)
}
