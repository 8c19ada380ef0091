//! `deliveries`: outbound SMS per recipient with Twilio SID and status history; inbound SMS.
//!
//! `schema.sql` creates its tables, [`writer`] fills them from the log, and [`queries`] reads them
//! (through [`ReadModels`](crate::ReadModels)).

pub mod queries;
pub mod writer;

pub use writer::Deliveries;
