//! The `switchboard` binary's library part: what the command line and the benchmarks
//! (`switchboard-bench`) share — the [`settings`] (file + environment), opening the
//! [`database`] (configured or embedded), the [`operations`] behind `projections status`,
//! `rebuild`, `schema`, `sms` and `admin`, and [`logging`]. It wires the product crates together
//! and must not hold test- or bench-only code: that lives in `testkit` and `bench`.

pub mod database;
pub mod logging;
pub mod operations;
pub mod settings;
