//! Rule tests, one per rule, named as sentences.

mod delivery;
mod info;
mod quotes;
mod reservation;
mod room;
mod user;
