//! `delivery-<id>`: one outbound SMS and its status history.
//!
//! Twilio's status callbacks arrive out of order and more than once; the status only moves
//! forward (queued → sent → delivered / undelivered / failed) and a stale callback records nothing.

use uuid::Uuid;

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::values::PhoneNumber;

/// Twilio error 21610: the recipient replied STOP to this sender; sending again is refused.
pub const TWILIO_OPTED_OUT: u32 = 21610;

#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryCommand {
    Queue(DeliveryQueued),
    /// Twilio accepted the message and gave it a SID.
    Submit {
        twilio_sid: String,
        status: DeliveryStatus,
    },
    /// A status callback.
    RecordStatus {
        status: DeliveryStatus,
        error_code: Option<u32>,
    },
    /// Retries are exhausted or the error is not retryable.
    FailPermanently {
        error_code: Option<u32>,
        reason: String,
    },
    MarkOptedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("this delivery is already queued")]
    AlreadyQueued,
    #[error("no such delivery")]
    NotQueued,
    #[error("this delivery was already submitted as {0}")]
    AlreadySubmitted(String),
    #[error("this delivery was already delivered")]
    AlreadyDelivered,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivery {
    pub delivery_id: Option<Uuid>,
    pub recipient: Option<Uuid>,
    pub to: Option<PhoneNumber>,
    pub twilio_sid: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub failed_permanently: bool,
    pub opted_out: bool,
}

impl Delivery {
    fn opted_out_event(&self, delivery_id: Uuid) -> Option<Event> {
        match (self.opted_out, self.recipient, &self.to) {
            (false, Some(recipient), Some(to)) => {
                Some(Event::DeliveryRecipientOptedOut(DeliveryRecipientOptedOut { delivery_id, recipient, to: to.clone() }))
            }
            _ => None,
        }
    }
}

impl Aggregate for Delivery {
    type Event = Event;
    type Command = DeliveryCommand;
    type Error = DeliveryError;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::DeliveryQueued(e) => {
                self.delivery_id = Some(e.delivery_id);
                self.recipient = Some(e.recipient);
                self.to = Some(e.to.clone());
                self.status = Some(DeliveryStatus::Queued);
            }
            Event::DeliverySubmitted(e) => {
                self.twilio_sid = Some(e.twilio_sid.clone());
                self.status = Some(e.status);
            }
            Event::DeliveryStatusChanged(e) => self.status = Some(e.status),
            Event::DeliveryFailedPermanently(_) => self.failed_permanently = true,
            Event::DeliveryRecipientOptedOut(_) => self.opted_out = true,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &DeliveryCommand, _ctx: &Context) -> Result<Vec<Event>, DeliveryError> {
        if let DeliveryCommand::Queue(queued) = command {
            if self.delivery_id.is_some() {
                return Err(DeliveryError::AlreadyQueued);
            }
            return Ok(vec![Event::DeliveryQueued(queued.clone())]);
        }
        let delivery_id = self.delivery_id.ok_or(DeliveryError::NotQueued)?;
        let current = self.status.unwrap_or(DeliveryStatus::Queued);
        match command {
            DeliveryCommand::Queue(_) => unreachable!("handled above"),
            DeliveryCommand::Submit { twilio_sid, status } => match &self.twilio_sid {
                Some(sid) if sid == twilio_sid => Ok(vec![]),
                Some(sid) => Err(DeliveryError::AlreadySubmitted(sid.clone())),
                // A callback can beat the API response; never move the status backwards.
                None => Ok(vec![Event::DeliverySubmitted(DeliverySubmitted {
                    delivery_id,
                    twilio_sid: twilio_sid.clone(),
                    status: if status.rank() < current.rank() { current } else { *status },
                })]),
            },
            DeliveryCommand::RecordStatus { status, error_code } => {
                if status.rank() <= current.rank() {
                    return Ok(vec![]);
                }
                let mut events =
                    vec![Event::DeliveryStatusChanged(DeliveryStatusChanged { delivery_id, status: *status, error_code: *error_code })];
                if *error_code == Some(TWILIO_OPTED_OUT) {
                    events.extend(self.opted_out_event(delivery_id));
                }
                Ok(events)
            }
            DeliveryCommand::FailPermanently { error_code, reason } => {
                if current == DeliveryStatus::Delivered {
                    return Err(DeliveryError::AlreadyDelivered);
                }
                if self.failed_permanently {
                    return Ok(vec![]);
                }
                let mut events = vec![Event::DeliveryFailedPermanently(DeliveryFailedPermanently {
                    delivery_id,
                    error_code: *error_code,
                    reason: reason.clone(),
                })];
                if *error_code == Some(TWILIO_OPTED_OUT) {
                    events.extend(self.opted_out_event(delivery_id));
                }
                Ok(events)
            }
            DeliveryCommand::MarkOptedOut => Ok(self.opted_out_event(delivery_id).into_iter().collect()),
        }
    }
}
