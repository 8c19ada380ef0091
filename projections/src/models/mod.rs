//! The read models, one directory per projection: its DDL (`schema.sql`), its writer (the
//! [`Projection`](crate::Projection): the events it reads and the statements they become) and its
//! queries (`queries.rs`: the [`ReadModels`](crate::ReadModels) methods over its tables and the
//! typed rows they return). Nothing outside this crate writes SQL over `read.*`.
//!
//! Temporal tables (`*_history`, `memberships`, `room_mutes`, `personal_mutes`, `bans`) keep a
//! `valid tstzrange` per period. A change closes the open period and opens the next one, both at
//! `greatest(event time, start of the entity's latest period)`: a clock stepping back between two
//! transactions can then never make two periods of one entity overlap (the exclusion constraints
//! would refuse it and stop the projection). A rebuild adds those constraints after its bulk
//! load, so there an overlap fails the build at its end, naming the constraint, and the old
//! generation stays live.

pub mod deliveries;
pub mod history;
pub mod last_seen;
pub mod quotes;
pub mod reply_numbers;
pub mod rooms;
pub mod users;

/// The serde name of a snake_case enum (`leaked_in_channel`), as stored in the log.
pub(crate) fn snake<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}
