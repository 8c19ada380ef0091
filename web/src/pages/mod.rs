//! The pages, one module per area: [`home`], [`account`] (sign up, verify, log in and out),
//! [`irc`] (IRC tokens, live IRC sessions, API tokens), [`profile`] (the account, and closing it),
//! [`rooms`] (a room's members and history), [`lookup`] (last seen, quotes), [`staff`] (the
//! moderation desk), [`history`] (a room as it was, its conversation, statistics as charts),
//! [`live`] (the live event log, for superusers).

pub mod account;
pub mod history;
pub mod home;
pub mod irc;
pub mod live;
pub mod lookup;
pub mod profile;
pub mod rooms;
pub mod staff;

use crate::error::PageError;

pub async fn not_found() -> PageError {
    PageError::NotFound
}
