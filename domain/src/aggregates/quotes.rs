//! `quotes-all`: the quote book. One stream so that ids are sequential and duplicates are
//! checked against every quote at once.

use std::collections::BTreeMap;

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::metadata::Actor;
use crate::values::{DisplayNick, Level, QuoteText};

#[derive(Debug, Clone, PartialEq)]
pub enum QuoteCommand {
    /// `.quote add <nick> <text>`; the adder is `ctx.actor`.
    Add { nick: DisplayNick, text: QuoteText, caller_level: Level },
    /// `.quote del <id>`.
    Delete { quote_id: u64, caller_level: Level },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("you need level {needed} for that; you have {have}")]
    InsufficientLevel { needed: Level, have: Level },
    #[error("that quote of {nick} is already in the book as #{existing}")]
    Duplicate { nick: DisplayNick, existing: u64 },
    #[error("no quote #{0}")]
    NotFound(u64),
    #[error("only the one who added quote #{0} or an operator may delete it")]
    NotAllowed(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub nick: DisplayNick,
    pub text: QuoteText,
    pub added_by: Actor,
    pub deleted: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct QuoteBook {
    /// Every quote ever added, deleted ones included: ids are never reused.
    pub quotes: BTreeMap<u64, Quote>,
    /// The highest id handed out so far.
    pub last_id: u64,
}

impl QuoteBook {
    /// A live quote with the same nick and the same text up to case and whitespace.
    fn duplicate_of(&self, nick: &DisplayNick, text: &QuoteText) -> Option<u64> {
        let (fold, key) = (nick.casefold(), text.dedup_key());
        self.quotes.iter().find(|(_, q)| !q.deleted && q.nick.casefold() == fold && q.text.dedup_key() == key).map(|(id, _)| *id)
    }
}

impl Aggregate for QuoteBook {
    type Event = Event;
    type Command = QuoteCommand;
    type Error = QuoteError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::QuoteAdded(e) => {
                self.last_id = self.last_id.max(e.quote_id);
                self.quotes
                    .insert(e.quote_id, Quote { nick: e.nick.clone(), text: e.text.clone(), added_by: e.added_by.clone(), deleted: false });
            }
            Event::QuoteDeleted(e) => {
                if let Some(q) = self.quotes.get_mut(&e.quote_id) {
                    q.deleted = true;
                }
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &QuoteCommand, ctx: &Context) -> Result<Vec<Event>, QuoteError> {
        let system = ctx.actor == Actor::System;
        match command {
            QuoteCommand::Add { nick, text, caller_level } => {
                if !system && *caller_level < Level::Member {
                    return Err(QuoteError::InsufficientLevel { needed: Level::Member, have: *caller_level });
                }
                if let Some(existing) = self.duplicate_of(nick, text) {
                    return Err(QuoteError::Duplicate { nick: nick.clone(), existing });
                }
                Ok(vec![Event::QuoteAdded(QuoteAdded {
                    quote_id: self.last_id + 1,
                    nick: nick.clone(),
                    text: text.clone(),
                    added_by: ctx.actor.clone(),
                    added_at: ctx.now,
                })])
            }
            QuoteCommand::Delete { quote_id, caller_level } => {
                let quote = self.quotes.get(quote_id).filter(|q| !q.deleted).ok_or(QuoteError::NotFound(*quote_id))?;
                let own = matches!(ctx.actor, Actor::User(_)) && quote.added_by == ctx.actor;
                if !(own || system || *caller_level >= Level::Operator) {
                    return Err(QuoteError::NotAllowed(*quote_id));
                }
                Ok(vec![Event::QuoteDeleted(QuoteDeleted { quote_id: *quote_id, by: ctx.actor.clone() })])
            }
        }
    }
}
