//! Switchboard's test kit: what the tests and the benchmarks need and the product must not ship.
//! It owns the PostgreSQL test harness ([`TestDatabase`]: a fresh, migrated database per test),
//! the [`conformance`] suite every `EventStore` backend must pass, the realistic [`history`]
//! generator, a private ngIRCd and scripted IRC users ([`irc`]), a [`twilio`] stand-in that
//! speaks Twilio's REST protocol, a [`kurrentdb`] stand-in that speaks KurrentDB's gRPC client
//! protocol, digests of [`read_models`] to compare folds, and a headless Chromium over WebDriver
//! ([`browser`]).
//!
//! It is only ever a dev-dependency (and a dependency of the benchmark crate), never a normal
//! dependency of a crate linked into the `switchboard` binary: `.ci/run` fails when
//! `cargo tree -e normal -p switchboard` lists it. Its code may panic on anything unexpected,
//! because a failed test is the right answer there.

pub mod browser;
pub mod conformance;
pub mod database;
pub mod history;
pub mod irc;
pub mod kurrentdb;
pub mod read_models;
pub mod twilio;

pub use database::TestDatabase;
