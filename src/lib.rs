//! The `switchboard` application: its [`settings`] (file + environment), where its [`database`]
//! comes from (a configured server or the embedded private cluster), [`logging`], the one place
//! that wires the event store, projections, gateways and API together ([`app::Application`]),
//! the [`operations`] behind `projections status`, `rebuild`, `schema`, `sms`, `twilio` and `admin`, and
//! the checks of [`doctor`].
//! `src/main.rs` is only the command line; the benchmarks (`switchboard-bench`) use this library
//! too. Business rules live in `domain`, storage in `store`, read models in `projections`, the
//! IRC and SMS sides in `gateways`, HTTP in `api`, the web pages in `web`: nothing here decides or stores anything
//! itself, and no test- or bench-only code belongs here (that is `testkit` and `bench`).

pub mod app;
pub mod database;
pub mod doctor;
pub mod logging;
pub mod operations;
pub mod settings;

pub use app::Application;
