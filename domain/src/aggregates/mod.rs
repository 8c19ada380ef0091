//! One aggregate per stream category. Each folds the shared [`crate::Event`] enum (ignoring
//! variants of other streams) and holds its rules in `decide`.

pub mod delivery;
pub mod info;
pub mod quotes;
pub mod reservation;
pub mod room;
pub mod user;

pub use delivery::{Delivery, DeliveryCommand, DeliveryError};
pub use info::{InfoCommand, InfoError, InfoItem};
pub use quotes::{QuoteBook, QuoteCommand, QuoteError};
pub use reservation::{AccountName, AccountNameCommand, NickCommand, NickReservation, PhoneCommand, PhoneReservation, ReservationError};
pub use room::{Joining, MemberKey, Room, RoomCommand, RoomError, Speaker};
pub use user::{LoginOutcome, PhoneOutcome, User, UserCommand, UserError, login_outcome, phone_outcome};

#[cfg(test)]
mod tests;
