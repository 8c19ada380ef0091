//! Uniqueness reservations: `nick-<fold>`, `phone-<hash>` and `account-<fold>`.
//!
//! Each is a tiny stream whose expected version makes "is this taken?" and "take it" one atomic
//! step. The caller reserves first, then writes to the user stream; a reservation left behind by
//! a failed second step is harmless (it names its holder and the holder may retry).

use uuid::Uuid;

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::values::{Nick, PhoneNumber, Username};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationError {
    #[error("the nick {nick} is taken")]
    NickTaken { nick: Nick },
    #[error("that phone number is already a member")]
    PhoneTaken,
    #[error("the username {username} is taken")]
    UsernameTaken { username: Username },
    #[error("only the holder may release this reservation")]
    NotHolder,
}

/// Shared decision of every reservation: free → reserve; held by the same user → nothing to do;
/// held by someone else → refuse.
fn reserve(
    holder: Option<Uuid>,
    user_id: Uuid,
    taken: impl FnOnce() -> ReservationError,
    event: impl FnOnce() -> Event,
) -> Result<Vec<Event>, ReservationError> {
    match holder {
        None => Ok(vec![event()]),
        Some(h) if h == user_id => Ok(vec![]),
        Some(_) => Err(taken()),
    }
}

/// Releasing a free reservation is a no-op; releasing someone else's is refused.
fn release(holder: Option<Uuid>, user_id: Uuid, event: impl FnOnce() -> Event) -> Result<Vec<Event>, ReservationError> {
    match holder {
        None => Ok(vec![]),
        Some(h) if h == user_id => Ok(vec![event()]),
        Some(_) => Err(ReservationError::NotHolder),
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum NickCommand {
    Reserve { nick: Nick, user_id: Uuid },
    Release { nick: Nick, user_id: Uuid },
}

/// `nick-<fold>`: who holds this nick, case-insensitively.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NickReservation {
    pub holder: Option<Uuid>,
    /// As the holder spelled it.
    pub nick: Option<Nick>,
}

impl Aggregate for NickReservation {
    type Event = Event;
    type Command = NickCommand;
    type Error = ReservationError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::NickReserved(e) => {
                self.holder = Some(e.user_id);
                self.nick = Some(e.nick.clone());
            }
            Event::NickReleased(_) => {
                self.holder = None;
                self.nick = None;
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &NickCommand, _ctx: &Context) -> Result<Vec<Event>, ReservationError> {
        match command {
            NickCommand::Reserve { nick, user_id } => reserve(
                self.holder,
                *user_id,
                || ReservationError::NickTaken { nick: self.nick.clone().unwrap_or_else(|| nick.clone()) },
                || Event::NickReserved(NickReserved { nick: nick.clone(), user_id: *user_id }),
            ),
            NickCommand::Release { nick, user_id } => {
                release(self.holder, *user_id, || Event::NickReleased(NickReleased { nick: nick.clone(), user_id: *user_id }))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum PhoneCommand {
    Reserve { phone: PhoneNumber, user_id: Uuid },
    Release { phone: PhoneNumber, user_id: Uuid },
}

/// `phone-<hash>`: which user a phone number belongs to.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PhoneReservation {
    pub holder: Option<Uuid>,
}

impl Aggregate for PhoneReservation {
    type Event = Event;
    type Command = PhoneCommand;
    type Error = ReservationError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::PhoneReserved(e) => self.holder = Some(e.user_id),
            Event::PhoneReleased(_) => self.holder = None,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &PhoneCommand, _ctx: &Context) -> Result<Vec<Event>, ReservationError> {
        match command {
            PhoneCommand::Reserve { phone, user_id } => reserve(
                self.holder,
                *user_id,
                || ReservationError::PhoneTaken,
                || Event::PhoneReserved(PhoneReserved { phone: phone.clone(), user_id: *user_id }),
            ),
            PhoneCommand::Release { phone, user_id } => {
                release(self.holder, *user_id, || Event::PhoneReleased(PhoneReleased { phone: phone.clone(), user_id: *user_id }))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum AccountNameCommand {
    Reserve { username: Username, user_id: Uuid },
    Release { username: Username, user_id: Uuid },
}

/// `account-<fold>`: which user a web username belongs to.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AccountName {
    pub holder: Option<Uuid>,
    pub username: Option<Username>,
}

impl Aggregate for AccountName {
    type Event = Event;
    type Command = AccountNameCommand;
    type Error = ReservationError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::AccountNameReserved(e) => {
                self.holder = Some(e.user_id);
                self.username = Some(e.username.clone());
            }
            Event::AccountNameReleased(_) => {
                self.holder = None;
                self.username = None;
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &AccountNameCommand, _ctx: &Context) -> Result<Vec<Event>, ReservationError> {
        match command {
            AccountNameCommand::Reserve { username, user_id } => reserve(
                self.holder,
                *user_id,
                || ReservationError::UsernameTaken { username: self.username.clone().unwrap_or_else(|| username.clone()) },
                || Event::AccountNameReserved(AccountNameReserved { username: username.clone(), user_id: *user_id }),
            ),
            AccountNameCommand::Release { username, user_id } => release(self.holder, *user_id, || {
                Event::AccountNameReleased(AccountNameReleased { username: username.clone(), user_id: *user_id })
            }),
        }
    }
}
