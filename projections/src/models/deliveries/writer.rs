//! The `deliveries` projection: the events it reads and the statements they become.

use domain::Event;
use domain::events::{self, DeliveryStatus};
use store::Envelope;

use crate::models::snake;
use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct Deliveries;

const QUEUED: &str = "INSERT INTO deliveries (delivery_id, room_id, recipient, to_number, from_number, body, cause_message_id, \
         cause_event_id, segment, segments, queued_at, status, status_rank, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', 0, $11)";
const STATUS: &str = "UPDATE deliveries SET status = $2, status_rank = $3, error_code = coalesce($4, error_code), updated_at = $5 \
     WHERE delivery_id = $1 AND status_rank <= $3";
const SUBMITTED: &str = "UPDATE deliveries SET twilio_sid = $2, updated_at = $3 WHERE delivery_id = $1";
const FAILED: &str =
    "UPDATE deliveries SET status = $2, status_rank = 3, error_code = $3, failure = $4, updated_at = $5 WHERE delivery_id = $1";
const HISTORY: &str = "INSERT INTO delivery_statuses (delivery_id, status, error_code, at) VALUES ($1, $2, $3, $4)";
const INBOUND: &str = "INSERT INTO inbound_sms (message_sid, from_number, to_number, body, room_id, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_sid) DO NOTHING";

fn rank(status: DeliveryStatus) -> i16 {
    i16::from(status.rank())
}

impl Projection for Deliveries {
    fn name(&self) -> &'static str {
        "deliveries"
    }

    fn version(&self) -> i32 {
        1
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            events::InboundSmsReceived::EVENT_TYPE,
            events::DeliveryQueued::EVENT_TYPE,
            events::DeliverySubmitted::EVENT_TYPE,
            events::DeliveryStatusChanged::EVENT_TYPE,
            events::DeliveryFailedPermanently::EVENT_TYPE,
            events::DeliveryRecipientOptedOut::EVENT_TYPE,
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        for envelope in events {
            let at = envelope.recorded_at;
            match &envelope.event {
                Event::InboundSmsReceived(e) => {
                    out.push(INBOUND, params![e.message_sid.clone(), e.from.to_string(), e.to.to_string(), e.body.clone(), e.room_id, at])
                }
                Event::DeliveryQueued(e) => {
                    out.push(
                        QUEUED,
                        params![
                            e.delivery_id,
                            e.room_id,
                            e.recipient,
                            e.to.to_string(),
                            e.from.to_string(),
                            e.body.clone(),
                            e.cause_message_id,
                            e.cause_event_id,
                            e.segment as i32,
                            e.segments as i32,
                            at
                        ],
                    );
                    out.push(HISTORY, params![e.delivery_id, "queued", None::<i32>, at]);
                }
                Event::DeliverySubmitted(e) => {
                    out.push(SUBMITTED, params![e.delivery_id, e.twilio_sid.clone(), at]);
                    out.push(STATUS, params![e.delivery_id, snake(&e.status), rank(e.status), None::<i32>, at]);
                    out.push(HISTORY, params![e.delivery_id, snake(&e.status), None::<i32>, at]);
                }
                Event::DeliveryStatusChanged(e) => {
                    let code = e.error_code.map(|c| c as i32);
                    out.push(STATUS, params![e.delivery_id, snake(&e.status), rank(e.status), code, at]);
                    out.push(HISTORY, params![e.delivery_id, snake(&e.status), code, at]);
                }
                Event::DeliveryFailedPermanently(e) => {
                    let code = e.error_code.map(|c| c as i32);
                    out.push(FAILED, params![e.delivery_id, "failed", code, Some(e.reason.clone()), at]);
                    out.push(HISTORY, params![e.delivery_id, "failed", code, at]);
                }
                Event::DeliveryRecipientOptedOut(e) => {
                    out.push(FAILED, params![e.delivery_id, "opted_out", Some(21610i32), None::<String>, at]);
                    out.push(HISTORY, params![e.delivery_id, "opted_out", Some(21610i32), at]);
                }
                _ => {}
            }
        }
    }
}
