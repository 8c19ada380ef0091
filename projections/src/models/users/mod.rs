//! `users`: identity, nick, phone, level, privacy, web account, IRC identity and session state;
//! IRC sessions and tokens, API tokens; temporal nick, level and privacy history.
//!
//! `schema.sql` creates its tables, [`writer`] fills them from the log, and [`queries`] reads them
//! (through [`ReadModels`](crate::ReadModels)).

pub mod queries;
pub mod writer;

pub use writer::Users;
