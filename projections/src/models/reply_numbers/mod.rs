//! `reply_numbers`: who receives a member's message in an SMS room (the fan-out list).
//!
//! `schema.sql` creates its tables, [`writer`] fills them from the log, and [`queries`] reads them
//! (through [`ReadModels`](crate::ReadModels)).

pub mod queries;
pub mod writer;

pub use writer::ReplyNumbers;
