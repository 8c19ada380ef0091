//! The `history` projection: the events it reads and the statements they become.

use domain::{Event, events};
use store::Envelope;

use crate::models::snake;
use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct History;

/// Inserts the messages and counts the ones that are new into their hour (a message delivered
/// twice is neither stored nor counted twice: only the rows the insert returns are counted).
const INSERT: &str = "WITH new AS ( \
         INSERT INTO messages (message_id, room_id, posted_at, author_id, author_nick, kind, gateway, body) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[]) \
         ON CONFLICT (message_id) DO NOTHING \
         RETURNING posted_at, room_id, author_id, gateway) \
     INSERT INTO message_counts (hour, room_id, author_id, gateway, messages) \
     SELECT date_trunc('hour', posted_at, 'UTC'), room_id, author_id, gateway, count(*) FROM new GROUP BY 1, 2, 3, 4 \
     ON CONFLICT (hour, room_id, author_id, gateway) DO UPDATE SET messages = message_counts.messages + excluded.messages";

impl Projection for History {
    fn name(&self) -> &'static str {
        "history"
    }

    fn version(&self) -> i32 {
        // 2: `message_counts`, the hourly counts statistics read; 3: counted per gateway too.
        3
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[events::MessagePosted::EVENT_TYPE]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        let n = events.len();
        let (mut ids, mut rooms, mut times, mut authors, mut nicks, mut kinds, mut gateways, mut bodies) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for envelope in events {
            if let Event::MessagePosted(e) = &envelope.event {
                ids.push(e.message_id);
                rooms.push(e.room_id);
                times.push(envelope.recorded_at);
                authors.push(e.author_id);
                nicks.push(e.author_nick.to_string());
                kinds.push(snake(&e.kind));
                gateways.push(e.gateway.to_string());
                bodies.push(e.body.to_string());
            }
        }
        if !ids.is_empty() {
            out.push(INSERT, params![ids, rooms, times, authors, nicks, kinds, gateways, bodies]);
        }
    }
}
