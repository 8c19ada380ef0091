//! `info-<fold>`: one shared fact (keyword → text), its creator and every version.

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::metadata::Actor;
use crate::values::{InfoKey, InfoText, Level};

#[derive(Debug, Clone, PartialEq)]
pub enum InfoCommand {
    /// `.info add <item> <text>`.
    Add { item: InfoKey, text: InfoText, caller_level: Level },
    /// `.info set <item> <text>`.
    Replace { text: InfoText, caller_level: Level },
    /// `.info del <item>`.
    Delete { caller_level: Level },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    #[error("you need level {needed} for that; you have {have}")]
    InsufficientLevel { needed: Level, have: Level },
    #[error("the item {0} already exists; use `.info set` to replace it")]
    AlreadyExists(InfoKey),
    #[error("unknown item")]
    NotFound,
    #[error("only the item's creator or an operator may change it")]
    NotAllowed,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct InfoItem {
    /// `None` until added, and again after deletion.
    pub item: Option<InfoKey>,
    pub text: Option<InfoText>,
    pub creator: Option<Actor>,
    /// Versions written so far, deleted ones included (history keeps them all).
    pub versions: u32,
}

impl InfoItem {
    fn require_level(ctx: &Context, caller_level: Level, needed: Level) -> Result<(), InfoError> {
        if ctx.actor != Actor::System && caller_level < needed {
            return Err(InfoError::InsufficientLevel { needed, have: caller_level });
        }
        Ok(())
    }

    /// Replace and delete: the creator, an operator, or the system.
    fn require_owner(&self, ctx: &Context, caller_level: Level) -> Result<InfoKey, InfoError> {
        Self::require_level(ctx, caller_level, Level::Member)?;
        let item = self.item.clone().ok_or(InfoError::NotFound)?;
        let creator = matches!(ctx.actor, Actor::User(_)) && self.creator.as_ref() == Some(&ctx.actor);
        if !(creator || ctx.actor == Actor::System || caller_level >= Level::Operator) {
            return Err(InfoError::NotAllowed);
        }
        Ok(item)
    }
}

impl Aggregate for InfoItem {
    type Event = Event;
    type Command = InfoCommand;
    type Error = InfoError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::InfoItemAdded(e) => {
                self.item = Some(e.item.clone());
                self.text = Some(e.text.clone());
                self.creator = Some(e.by.clone());
                self.versions += 1;
            }
            Event::InfoItemReplaced(e) => {
                self.text = Some(e.text.clone());
                self.versions += 1;
            }
            Event::InfoItemDeleted(_) => {
                self.item = None;
                self.text = None;
                self.creator = None;
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &InfoCommand, ctx: &Context) -> Result<Vec<Event>, InfoError> {
        match command {
            InfoCommand::Add { item, text, caller_level } => {
                Self::require_level(ctx, *caller_level, Level::Member)?;
                if let Some(existing) = &self.item {
                    return Err(InfoError::AlreadyExists(existing.clone()));
                }
                Ok(vec![Event::InfoItemAdded(InfoItemAdded { item: item.clone(), text: text.clone(), by: ctx.actor.clone() })])
            }
            InfoCommand::Replace { text, caller_level } => {
                let item = self.require_owner(ctx, *caller_level)?;
                if self.text.as_ref() == Some(text) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::InfoItemReplaced(InfoItemReplaced { item, text: text.clone(), by: ctx.actor.clone() })])
            }
            InfoCommand::Delete { caller_level } => {
                let item = self.require_owner(ctx, *caller_level)?;
                Ok(vec![Event::InfoItemDeleted(InfoItemDeleted { item, by: ctx.actor.clone() })])
            }
        }
    }
}
