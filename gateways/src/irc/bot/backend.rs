//! The seam between the command handlers and the rest of Switchboard: the few operations
//! handlers need from the command executor, the room workers and the read models, and nothing
//! else. [`Live`] is the real one; the handlers' unit tests fold the domain's aggregates in
//! memory behind the same trait, so the rules they meet are the real ones.
//!
//! Every write is decided as `actor` on the IRC gateway. Refusals come back as
//! [`Failure::Say`] with the domain's words; storage trouble as [`Failure::Internal`].

use std::future::Future;
use std::time::Duration;

use domain::{
    Actor, Event, Gateway, InfoCommand, InfoItem, InfoKey, Metadata, QuoteBook, QuoteCommand, Room, RoomCommand, StreamName, TokenHash,
    User, UserCommand,
};
use projections::ReadModels;
use projections::queries::{InfoEntry, Quote, Sighting};
use store::{CommandExecutor, Position};
use uuid::Uuid;

use super::Store;
use super::handlers::Failure;
use crate::irc::rooms::{RoomWorkers, Written};

/// The read models the bot reads (projection names).
const USERS: &str = "users";
const ROOMS: &str = "rooms";
const LAST_SEEN: &str = "last_seen";
const QUOTES: &str = "quotes";
/// The read models that JOIN, PART and talk on a channel change (written by the room workers,
/// asynchronously); the others change only by the bot's own awaited writes.
const FED_BY_CHANNEL_LINES: [&str; 2] = [ROOMS, LAST_SEEN];

/// How long a read waits for the read model to reach what the bot wrote; a read model further
/// behind than this (a rebuild) is read as it is.
const READ_YOUR_WRITES_PATIENCE: Duration = Duration::from_secs(5);

/// What command handlers may do: decide commands, load a few aggregates, read a few read models.
pub trait Backend: Send + Sync {
    /// A user's current state (a level changed a moment ago in GraphQL counts).
    fn user(&self, user_id: Uuid) -> impl Future<Output = Result<User, Failure>> + Send;
    /// The account holding `nick` (its reservation), if any.
    fn nick_holder(&self, nick: &str) -> impl Future<Output = Result<Option<Uuid>, Failure>> + Send;
    /// Decides a command on a user's stream; the new events and the state after them.
    fn execute_user(
        &self,
        user_id: Uuid,
        command: &UserCommand,
        actor: Actor,
    ) -> impl Future<Output = Result<(Vec<Event>, User), Failure>> + Send;
    fn execute_quotes(&self, command: &QuoteCommand, actor: Actor) -> impl Future<Output = Result<Vec<Event>, Failure>> + Send;
    fn execute_info(&self, item: &InfoKey, command: &InfoCommand, actor: Actor)
    -> impl Future<Output = Result<Vec<Event>, Failure>> + Send;
    /// Decides a command on a room, in order with the channel's lines queued before it.
    fn execute_room(&self, room_id: Uuid, command: RoomCommand, actor: Actor) -> impl Future<Output = Result<Vec<Event>, Failure>> + Send;
    /// The room after everything queued before.
    fn room(&self, room_id: Uuid) -> impl Future<Output = Result<Room, Failure>> + Send;
    /// Whose IRC token this is, as the read model knows it now: one look, no waiting. A token
    /// issued a moment ago may not be there yet; it belongs to the account holding the nick it
    /// is used from (the domain checks that), which callers look up instead.
    fn token_owner(&self, token: &TokenHash) -> impl Future<Output = Result<Option<Uuid>, Failure>> + Send;
    /// The account whose registered IRC nick (or account nick) is `nick`.
    fn user_by_irc_nick(&self, nick: &str) -> impl Future<Output = Result<Option<Uuid>, Failure>> + Send;
    /// Whether two accounts are members of one room now (a private person's profile is shown
    /// to them).
    fn share_a_room(&self, a: Uuid, b: Uuid) -> impl Future<Output = Result<bool, Failure>> + Send;
    /// Whether `user_id` is a member of `room_id` now.
    fn is_member(&self, room_id: Uuid, user_id: Uuid) -> impl Future<Output = Result<bool, Failure>> + Send;
    fn last_seen(&self, nick: &str) -> impl Future<Output = Result<Option<Sighting>, Failure>> + Send;
    fn random_quote(&self) -> impl Future<Output = Result<Option<Quote>, Failure>> + Send;
    fn quote(&self, id: i64) -> impl Future<Output = Result<Option<Quote>, Failure>> + Send;
    fn search_quotes(&self, words: &str, limit: i64) -> impl Future<Output = Result<Vec<Quote>, Failure>> + Send;
    fn info_item(&self, item: &str) -> impl Future<Output = Result<Option<InfoEntry>, Failure>> + Send;
}

/// The real backend: the executor on the event store, the bot's room workers, the read models.
#[derive(Clone)]
pub struct Live {
    pub executor: CommandExecutor<Store>,
    pub rooms: RoomWorkers,
    pub read: ReadModels,
    /// Advanced by every write here and by the room workers; reads wait for it.
    pub written: Written,
}

impl Live {
    /// Waits until `projection` has reached everything the bot wrote so far, including, for the
    /// read models channel lines feed, the lines still queued for the room workers.
    async fn caught_up(&self, projection: &str) {
        if FED_BY_CHANNEL_LINES.contains(&projection) {
            self.rooms.settled().await;
        }
        let written = self.written.newest();
        if written == Position::START {
            return;
        }
        if let Err(e) = self.read.wait_for(written, &[projection], READ_YOUR_WRITES_PATIENCE).await {
            tracing::warn!(error = %e, projection, "read model behind the bot's own writes; reading it as it is");
        }
    }
}

fn irc(actor: Actor) -> Metadata {
    Metadata::new(actor, Gateway::Irc)
}

impl Backend for Live {
    async fn user(&self, user_id: Uuid) -> Result<User, Failure> {
        Ok(self.executor.load::<User>(&StreamName::user(user_id)).await?.0)
    }

    async fn nick_holder(&self, nick: &str) -> Result<Option<Uuid>, Failure> {
        let stream = StreamName::nick(&nick.to_ascii_lowercase());
        Ok(self.executor.load::<domain::NickReservation>(&stream).await?.0.holder)
    }

    async fn execute_user(&self, user_id: Uuid, command: &UserCommand, actor: Actor) -> Result<(Vec<Event>, User), Failure> {
        let done = self.executor.execute::<User>(&StreamName::user(user_id), command, irc(actor)).await?;
        self.written.advance(done.position());
        Ok((done.events, done.state))
    }

    async fn execute_quotes(&self, command: &QuoteCommand, actor: Actor) -> Result<Vec<Event>, Failure> {
        let done = self.executor.execute::<QuoteBook>(&StreamName::quotes(), command, irc(actor)).await?;
        self.written.advance(done.position());
        Ok(done.events)
    }

    async fn execute_info(&self, item: &InfoKey, command: &InfoCommand, actor: Actor) -> Result<Vec<Event>, Failure> {
        let done = self.executor.execute::<InfoItem>(&StreamName::info(&item.casefold()), command, irc(actor)).await?;
        self.written.advance(done.position());
        Ok(done.events)
    }

    async fn execute_room(&self, room_id: Uuid, command: RoomCommand, actor: Actor) -> Result<Vec<Event>, Failure> {
        Ok(self.rooms.execute(room_id, command, irc(actor)).await?.0)
    }

    async fn room(&self, room_id: Uuid) -> Result<Room, Failure> {
        Ok(self.rooms.snapshot(room_id).await?)
    }

    async fn token_owner(&self, token: &TokenHash) -> Result<Option<Uuid>, Failure> {
        Ok(self.read.irc_token_owner(token.as_str()).await?)
    }

    async fn user_by_irc_nick(&self, nick: &str) -> Result<Option<Uuid>, Failure> {
        self.caught_up(USERS).await;
        Ok(self.read.user_by_irc_nick(nick).await?)
    }

    async fn share_a_room(&self, a: Uuid, b: Uuid) -> Result<bool, Failure> {
        self.caught_up(ROOMS).await;
        Ok(self.read.share_a_room(a, b).await?)
    }

    async fn is_member(&self, room_id: Uuid, user_id: Uuid) -> Result<bool, Failure> {
        self.caught_up(ROOMS).await;
        Ok(self.read.is_member(room_id, user_id).await?)
    }

    async fn last_seen(&self, nick: &str) -> Result<Option<Sighting>, Failure> {
        self.caught_up(LAST_SEEN).await;
        Ok(self.read.last_seen(nick).await?)
    }

    async fn random_quote(&self) -> Result<Option<Quote>, Failure> {
        self.caught_up(QUOTES).await;
        Ok(self.read.random_quote().await?)
    }

    async fn quote(&self, id: i64) -> Result<Option<Quote>, Failure> {
        self.caught_up(QUOTES).await;
        Ok(self.read.quote(id).await?)
    }

    async fn search_quotes(&self, words: &str, limit: i64) -> Result<Vec<Quote>, Failure> {
        self.caught_up(QUOTES).await;
        Ok(self.read.search_quotes(words, limit).await?)
    }

    async fn info_item(&self, item: &str) -> Result<Option<InfoEntry>, Failure> {
        self.caught_up(QUOTES).await;
        Ok(self.read.info_item(item).await?)
    }
}
