//! Switchboard's read models (skeleton; built in the projections milestone). It will own the
//! projection runner (catch-up then live from `store::EventStore::subscribe_all`, one runner per
//! projection via an advisory lock, each batch and its `es_checkpoints` row in one transaction),
//! the read-model tables (users, last-seen, quotes, rooms, bans, mutes, reply-numbers,
//! deliveries, history), temporal "as of" tables, and zero-downtime rebuilds.
//!
//! It must not decide anything (rules live in `domain`) nor append events.
