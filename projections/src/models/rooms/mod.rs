//! `rooms`: rooms, their IRC/SMS bindings, members (now and over time), bans, room and personal
//! mutes, ban requests, invites and channel modes.
//!
//! `schema.sql` creates its tables, [`writer`] fills them from the log, and [`queries`] reads them
//! (through [`ReadModels`](crate::ReadModels)).

pub mod queries;
pub mod writer;

pub use writer::Rooms;
