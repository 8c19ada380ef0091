//! A deterministic generator of a realistic, valid chat history, for the benchmarks and property
//! tests of the read models.
//!
//! It owns [`HistoryConfig`] (how big a history), [`HistoryGenerator`] (an iterator of
//! [`GeneratedAppend`]s: one stream and the events of one append, already stamped with metadata)
//! and the small in-memory model that keeps the history valid.
//!
//! Why it exists: read models have to be measured and tested on something that looks like
//! production — most events are messages in a few busy rooms, with the rarer facts (joins, kicks,
//! bans, mutes, nick changes, quotes, invitations, SMS opt-outs) interleaved — and that breaks
//! none of the domain's rules, so that what the projections build from it (member lists, active
//! bans, quote books, nick histories) means something.
//!
//! How it stays valid without `decide`: calling the aggregates for a million events would be far
//! too slow (and needs every command's lookups), so the generator keeps its own model of exactly
//! the state those rules read — members per room and how they joined, room and personal mutes,
//! bans, open ban requests, pending invitations, nicks, phones, levels, the quote book — and only
//! emits what the aggregates would have decided, in the shape they would have decided it
//! (a kick is `room.member_kicked` + `room.member_left` in one append, a join that consumes an
//! invitation is `room.invite_accepted` + `room.member_joined`, a registration reserves the nick
//! before `user.registered`, …). The tests fold the output with the aggregates' own `evolve` and
//! check every event against the state it would have been decided on.
//!
//! Shape: phase 1 registers the users (some with a phone, a couple of superusers, some staff and
//! operators), creates the rooms (each bound to an IRC channel, with the bot in it; `sms_rooms`
//! of them also bound to an SMS number; some invite-only) and fills them; phase 2 is a weighted
//! random mix of steps (see `config.rs`), about 85% of them messages.
//!
//! Determinism: every random choice and every id (event ids, correlation ids, room, user, message,
//! ban ids) comes from one `StdRng` seeded with [`HistoryConfig::seed`]. Event ids are shaped like
//! UUIDv7 with a fixed epoch plus one millisecond per event, so they ascend like the ids of
//! `NewEvent::from_domain` and the store's unique index sees production-like inserts. Metadata is
//! built field by field instead of with `Metadata::new`, which would draw a `Uuid::now_v7()`.
//! The one non-deterministic input is the base time of the times inside payloads (`until`,
//! `added_at`), captured with `Utc::now()` in [`HistoryGenerator::new`] so that they lie near the
//! `recorded_at` of a benchmark's appends. The simulated clock advances one millisecond per event
//! and timed bans and mutes last at least an hour, so in practice they all stay in force until
//! lifted (the model still honours expiry, as the aggregates do).
//!
//! The generator is the only writer of its streams: append each item in order with
//! `ExpectedVersion::Any`. Appending the same seed twice into one store repeats the event ids,
//! which the store answers as idempotent retries (nothing new is written): use another seed or a
//! fresh database.

#[cfg(test)]
mod checks;
mod config;
mod moderation;
mod quotes;
mod rooms;
mod simulation;
mod users;
mod words;

pub use config::HistoryConfig;

use chrono::Utc;
use domain::StreamName;
use store::NewEvent;

use simulation::Sim;

/// One append: a stream and the events for it, already stamped with metadata and ids.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedAppend {
    pub stream: StreamName,
    pub events: Vec<NewEvent>,
}

/// Yields the history one append at a time, in the order the application would have written it.
/// Never yields an empty append; yields exactly [`HistoryConfig::events`] events in all.
pub struct HistoryGenerator {
    /// Events still to hand out.
    remaining: usize,
    stage: Stage,
    sim: Sim,
}

impl HistoryGenerator {
    pub fn new(config: HistoryConfig) -> Self {
        Self { remaining: config.events, stage: Stage::Users(0), sim: Sim::new(config, Utc::now()) }
    }

    /// Runs the next setup item or steady-state step; it may queue nothing (a stage ending).
    fn advance(&mut self) {
        let sim = &mut self.sim;
        self.stage = match self.stage {
            Stage::Users(i) if i < sim.users_wanted => {
                sim.register_user();
                Stage::Users(i + 1)
            }
            Stage::Users(_) => Stage::Rooms(0),
            Stage::Rooms(r) if r < sim.sms_plan.len() => {
                sim.create_room(r);
                Stage::Rooms(r + 1)
            }
            Stage::Rooms(_) => Stage::Fill(0),
            Stage::Fill(r) if r < sim.rooms.len() => {
                sim.fill_room(r);
                Stage::Fill(r + 1)
            }
            Stage::Fill(_) => Stage::Steady,
            Stage::Steady => {
                sim.step();
                Stage::Steady
            }
        };
    }
}

impl Iterator for HistoryGenerator {
    type Item = GeneratedAppend;

    fn next(&mut self) -> Option<GeneratedAppend> {
        if self.remaining == 0 {
            return None;
        }
        while self.sim.out.is_empty() {
            self.advance();
        }
        let mut append = self.sim.out.pop_front()?;
        // Stopping mid-append is accepted: the count matters more than the last command.
        append.events.truncate(self.remaining);
        self.remaining -= append.events.len();
        Some(append)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every append carries at least one event.
        (usize::from(self.remaining > 0), Some(self.remaining))
    }
}

/// Where the generator is: setup (phase 1) item by item, then the steady state (phase 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Users(usize),
    Rooms(usize),
    /// Initial members of each room.
    Fill(usize),
    Steady,
}
