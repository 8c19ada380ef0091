//! What every benchmark shares: a realistic event, its metadata, and how rates and latencies
//! are reported.

use std::time::Duration;

use domain::events::{MessageKind, MessagePosted};
use domain::{Actor, Event, Gateway, Metadata};
use hdrhistogram::Histogram;
use uuid::Uuid;

/// A realistic event: a chat line of typical length.
pub(crate) fn message_event(room: Uuid, n: usize) -> Event {
    Event::MessagePosted(MessagePosted {
        room_id: room,
        message_id: Uuid::now_v7(),
        author_id: Some(room),
        author_nick: "benchmarker".parse().expect("valid nick"),
        body: format!("message {n}: the quick brown fox jumps over the lazy dog, again and again").parse().expect("valid body"),
        kind: MessageKind::Say,
        gateway: Gateway::Irc,
    })
}

pub(crate) fn metadata() -> Metadata {
    Metadata::new(Actor::System, Gateway::System)
}

pub(crate) fn rate(events: usize, elapsed: Duration) -> f64 {
    (events as f64 / elapsed.as_secs_f64()).round()
}

pub(crate) fn latency_ms(h: &Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 1_000.0 * 100.0).round() / 100.0
}
