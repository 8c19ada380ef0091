//! The `switchboard` application: its settings ([`settings`]), where its database comes from
//! ([`database`]: a configured server or the embedded private cluster), the one place that wires
//! the event store, projections, gateways and API together ([`app::Application`]), and the
//! operator commands of the binary ([`operations`]). `src/main.rs` is only the command line.
//! Business rules live in `domain`, storage in `store`, read models in `projections`, the IRC
//! and SMS sides in `gateways`, HTTP in `api`; nothing here decides or stores anything itself.

pub mod app;
pub mod database;
pub mod operations;
pub mod settings;

pub use app::Application;
