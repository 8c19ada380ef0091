//! The pages, one module per area: [`home`], [`account`] (sign up, verify, log in and out),
//! [`irc`] (IRC tokens, live IRC sessions, API tokens), [`profile`] (the account, and closing it), [`rooms`] (a room's members and history), [`lookup`] (last seen, quotes).

pub mod account;
pub mod home;
pub mod irc;
pub mod lookup;
pub mod profile;
pub mod rooms;

use crate::error::PageError;

pub async fn not_found() -> PageError {
    PageError::NotFound
}
