//! Outbound delivery: a subscriber on the log (`delivery.queued`, from its own checkpoint) that
//! sends each queued SMS through Twilio and records what happened on the delivery's stream.
//!
//! - Order: each recipient's texts are sent in log order, the next only once Twilio accepted
//!   (or refused for good) the one before, so ten lines said in a row, or the parts of one long
//!   message, reach a phone in the order they were said. Different recipients are served in
//!   parallel (bounded): a fan-out to a thousand members is a thousand one-text lanes. The
//!   checkpoint moves past a batch when all of its lanes are settled.
//! - Rate limit: per sender number (configurable messages/s), as Twilio queues or refuses
//!   faster sending from one long code.
//! - Retries: 429, 5xx, timeouts and network errors are retried with exponential backoff and
//!   jitter; a refusal (21211 invalid number, 21610 unsubscribed, …) fails the delivery for
//!   good, and 21610 also marks the recipient stopped.
//! - Exactly once at Twilio: a delivery with a SID is never sent again, and the delivery id is
//!   Twilio's idempotency token, so a crash between Twilio's answer and our record does not
//!   send twice either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::events::{DeliveryQueued, DeliveryStatus, SmsStopReason};
use domain::{Delivery, DeliveryCommand, Event, EventCodec, Gateway, Metadata, StreamName, User, UserCommand};
use futures::StreamExt;
use rand::Rng;
use store::{CommandExecutor, EventStore, ExecuteError, Filter, RecordedEvent, SharedStore, StoreError};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::twilio::{TwilioClient, TwilioError};

/// The checkpoint row of this subscriber in `es_checkpoints`.
pub const SUBSCRIBER: &str = "gateway:sms:outbound";

#[derive(Debug, Clone)]
pub struct OutboundOptions {
    /// Deliveries sent at once.
    pub concurrency: usize,
    /// Messages per second per sender number; `None`: no limit.
    pub per_number_per_second: Option<f64>,
    /// Attempts per delivery before the subscriber stops (and restarts from its checkpoint).
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            per_number_per_second: Some(1.0),
            max_attempts: 8,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("delivery {delivery_id}: Twilio still failing after {attempts} attempts: {last}")]
    GaveUp { delivery_id: Uuid, attempts: u32, last: TwilioError },
    #[error("delivery {0}: {1}")]
    Record(Uuid, String),
}

#[derive(Clone)]
pub struct DeliverySender {
    store: SharedStore,
    executor: CommandExecutor<dyn EventStore>,
    twilio: TwilioClient,
    options: OutboundOptions,
    /// Per sender number: the earliest moment the next message may go.
    next_slot: Arc<Mutex<HashMap<String, Instant>>>,
}

impl DeliverySender {
    pub fn new(store: SharedStore, twilio: TwilioClient, options: OutboundOptions) -> Self {
        let executor = CommandExecutor::new(store.clone());
        Self { store, executor, twilio, options, next_slot: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Follows the log until `shutdown`. A delivery that keeps failing transiently stops the
    /// loop with an error; the caller restarts it after a pause, from the checkpoint.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), OutboundError> {
        let after = self.store.load_checkpoint(SUBSCRIBER).await?;
        let mut batches = self.store.subscribe_all(after, Filter::event_types([DeliveryQueued::EVENT_TYPE])).ready_chunks(256);
        loop {
            let batch = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
                batch = batches.next() => batch,
            };
            let Some(batch) = batch else { return Ok(()) };
            let events: Vec<RecordedEvent> = batch.into_iter().collect::<Result<_, _>>()?;
            let Some(last) = events.last().map(|e| e.position) else { continue };
            let outcomes: Vec<Result<(), OutboundError>> = futures::stream::iter(lanes(events).into_iter().map(|lane| {
                let sender = self.clone();
                async move {
                    for (recorded, queued) in lane {
                        sender.deliver(&recorded, &queued).await?;
                    }
                    Ok(())
                }
            }))
            .buffer_unordered(self.options.concurrency.max(1))
            .collect()
            .await;
            outcomes.into_iter().collect::<Result<(), _>>()?;
            self.store.save_checkpoint(SUBSCRIBER, last).await?;
        }
    }

    /// Sends one queued delivery unless it was already settled.
    async fn deliver(&self, recorded: &RecordedEvent, queued: &DeliveryQueued) -> Result<(), OutboundError> {
        let stream = StreamName::delivery(queued.delivery_id);
        let (state, _) = self.executor.load::<Delivery>(&stream).await?;
        if state.twilio_sid.is_some() || state.failed_permanently {
            return Ok(());
        }
        let metadata = recorded.metadata.caused_by(recorded.event_id, domain::Actor::System, Gateway::Sms);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_slot(queued.from.as_str()).await;
            match self.twilio.send(queued.from.as_str(), queued.to.as_str(), &queued.body, &queued.delivery_id.to_string()).await {
                Ok(created) => {
                    let status = parse_status(&created.status).unwrap_or(DeliveryStatus::Queued);
                    self.record(&stream, queued.delivery_id, DeliveryCommand::Submit { twilio_sid: created.sid, status }, &metadata)
                        .await?;
                    count_status(status);
                    return Ok(());
                }
                Err(error) if error.is_retryable() => {
                    if attempt >= self.options.max_attempts {
                        return Err(OutboundError::GaveUp { delivery_id: queued.delivery_id, attempts: attempt, last: error });
                    }
                    tracing::warn!(delivery = %queued.delivery_id, attempt, %error, "Twilio send failed; retrying");
                    metrics::counter!("switchboard_sms_send_retries_total").increment(1);
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(error) => return self.fail(&stream, queued, error, &metadata).await,
            }
        }
    }

    async fn fail(
        &self,
        stream: &StreamName,
        queued: &DeliveryQueued,
        error: TwilioError,
        metadata: &Metadata,
    ) -> Result<(), OutboundError> {
        tracing::info!(delivery = %queued.delivery_id, %error, "delivery failed permanently");
        let command = DeliveryCommand::FailPermanently { error_code: error.code(), reason: error.to_string() };
        self.record(stream, queued.delivery_id, command, metadata).await?;
        count_status(DeliveryStatus::Failed);
        if error.code() == Some(domain::aggregates::delivery::TWILIO_OPTED_OUT) && !queued.recipient.is_nil() {
            // The opt-out is the carrier's for this room's number only: the member's other rooms
            // text from other numbers.
            let stop = UserCommand::StopSms { reason: SmsStopReason::OptedOut, room_id: Some(queued.room_id) };
            self.executor
                .execute::<User>(&StreamName::user(queued.recipient), &stop, metadata.clone())
                .await
                .map_err(|e| OutboundError::Record(queued.delivery_id, e.to_string()))?;
        }
        Ok(())
    }

    async fn record(
        &self,
        stream: &StreamName,
        delivery_id: Uuid,
        command: DeliveryCommand,
        metadata: &Metadata,
    ) -> Result<(), OutboundError> {
        match self.executor.execute::<Delivery>(stream, &command, metadata.clone()).await {
            Ok(_) => Ok(()),
            Err(ExecuteError::Store(e)) => Err(e.into()),
            Err(e) => Err(OutboundError::Record(delivery_id, e.to_string())),
        }
    }

    /// Exponential backoff with full jitter, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.options.first_backoff.saturating_mul(1 << attempt.min(16)).min(self.options.max_backoff);
        exp.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    async fn wait_for_slot(&self, from: &str) {
        let Some(rate) = self.options.per_number_per_second.filter(|r| *r > 0.0) else { return };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let slot = {
            let mut slots = self.next_slot.lock().expect("rate limiter lock");
            let now = Instant::now();
            let slot = slots.get(from).copied().unwrap_or(now).max(now);
            slots.insert(from.to_owned(), slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// A batch's deliveries by recipient, each lane in log order, the lanes in the order their
/// first delivery came. A later text to a phone waits in its lane behind the earlier ones
/// (also behind one being retried: that wait is what keeps the order).
fn lanes(events: Vec<RecordedEvent>) -> Vec<Vec<(RecordedEvent, DeliveryQueued)>> {
    let mut lanes: Vec<Vec<(RecordedEvent, DeliveryQueued)>> = Vec::new();
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for recorded in events {
        let Ok(Event::DeliveryQueued(queued)) =
            Event::decode_json(&recorded.event_type, recorded.schema_version, recorded.payload.as_str())
        else {
            continue;
        };
        let lane = *lane_of.entry(queued.to.as_str().to_owned()).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push((recorded, queued));
    }
    lanes
}

/// A delivery reached `status` (`switchboard_sms_deliveries_total`): counted where the status is
/// recorded, by the sender and by the status callback.
pub fn count_status(status: DeliveryStatus) {
    metrics::counter!("switchboard_sms_deliveries_total", "status" => status.as_str()).increment(1);
}

/// Twilio's message statuses in our progression (`accepted`, `sending`, … count as queued).
pub fn parse_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "queued" | "accepted" | "scheduled" | "sending" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" | "read" => DeliveryStatus::Delivered,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_statuses_map_onto_the_forward_only_progression() {
        assert_eq!(parse_status("sending"), Some(DeliveryStatus::Queued));
        assert_eq!(parse_status("delivered"), Some(DeliveryStatus::Delivered));
        assert_eq!(parse_status("undelivered"), Some(DeliveryStatus::Undelivered));
        assert_eq!(parse_status("bogus"), None);
    }
}
