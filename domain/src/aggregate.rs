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
}

/// A command that knows which stream it addresses.
pub trait Addressed {
    fn stream(&self) -> StreamName;
}
