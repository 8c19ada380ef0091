//! `quotes`: the quote book (full-text searchable) and the info items.
//!
//! `schema.sql` creates its tables, [`writer`] fills them from the log, and [`queries`] reads them
//! (through [`ReadModels`](crate::ReadModels)).

pub mod queries;
pub mod writer;

pub use writer::Quotes;
