//! Switchboard's read models. This crate owns:
//!
//! - the [`Projection`] trait and every projection ([`models`]): users, rooms (members, bans,
//!   mutes, ban requests, invites), reply-numbers, last-seen, history, quotes, deliveries — each
//!   with its own tables in its own schema per generation, exposed to readers as `read.*` views;
//! - the [`Worker`](worker::Worker), which applies a batch and its checkpoint in one transaction
//!   (exactly-once for read models), and the live [`Runners`] (catch-up then live, one active
//!   runner per projection across processes via an advisory lock, a failing event stops only its
//!   projection and is named);
//! - zero-downtime [`rebuild`]s (a new generation built side by side, readers switched over in
//!   one transaction) and [`status`] reports;
//! - historic replay ([`replay`]: time ↔ position, folding a stream up to a time or version) and
//!   the read API ([`ReadModels`]) the GraphQL layer and gateways call.
//!
//! It decides nothing (rules live in `domain`) and appends no events.

pub mod build;
pub mod db;
pub mod error;
mod locks;
pub mod models;
pub mod projection;
pub mod queries;
pub mod replay;
pub mod runner;
pub mod status;
pub mod worker;
pub mod writes;

pub use build::{BuildOptions, BuildProgress, rebuild};
pub use error::ProjectionError;
pub use projection::Projection;
pub use queries::ReadModels;
pub use replay::{AsOf, Until};
pub use runner::{RunnerOptions, RunnerState, RunnerStatus, Runners};
