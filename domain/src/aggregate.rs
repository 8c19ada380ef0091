//! The shape every consistency boundary follows: `evolve` folds facts into state and holds no
//! rules; `decide` holds the rules and never changes state.

use chrono::{DateTime, Utc};

use crate::metadata::Actor;
use crate::stream::StreamName;

/// What a decision may know besides state and command: the clock and who is asking.
/// Passed in so that decisions stay pure and tests control time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub now: DateTime<Utc>,
    pub actor: Actor,
}

impl Context {
    pub fn new(now: DateTime<Utc>, actor: Actor) -> Self {
        Self { now, actor }
    }
}

/// One consistency boundary (one stream).
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    type Event: Clone + Send + Sync + 'static;
    type Command: Send + Sync;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Folds one past event into the state. Must accept every event ever written to the stream,
    /// including ones it does not care about.
    fn evolve(self, event: &Self::Event) -> Self;

    /// Decides which events a command produces, or refuses it.
    fn decide(&self, command: &Self::Command, ctx: &Context) -> Result<Vec<Self::Event>, Self::Error>;

    /// Whether `event` can change what [`decide`](Self::decide) answers, i.e. whether
    /// [`evolve`](Self::evolve) folds it into the state. An event that cannot (a chat message
    /// in a room) is appended *inert*: a decision taken before it is still valid after it, so
    /// writers of a busy stream do not have to decide again because of each other's inert
    /// events. Only events that `evolve` ignores may answer `false`.
    fn affects_decisions(_event: &Self::Event) -> bool {
        true
    }
}

/// A command that knows which stream it addresses.
pub trait Addressed {
    fn stream(&self) -> StreamName;
}
