//! The bridge towards SMS: what is said in a room from elsewhere (IRC talk and `/me`, the bot
//! speaking through `.say` or GraphQL's `sendToRoom`) reaches the room's SMS members as
//! `[nick] text`, one delivery per recipient of the reply-numbers read model (a room bound to
//! both an IRC channel and a number is a bridge: docs/commands.md#bridged-rooms). Texts that came in by SMS are fanned
//! out by the processor, not here.
//!
//! A subscriber with its own checkpoint (`gateway:sms:bridge`); delivery ids derive from the
//! message's event id and the recipient, so a replay after a crash queues nothing twice. A first
//! start begins at the log's head: old history is never texted to anyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::events::{DeliveryQueued, GuestTextingLimited, MemberRef, MessageKind, MessagePosted, SmsNumberBound, SmsNumberUnbound};
use domain::{Actor, Delivery, DeliveryCommand, DeliveryError, Event, EventCodec, Gateway, MemberKey, Metadata, PhoneNumber, StreamName};
use futures::StreamExt;
use projections::ReadModels;
use store::executor::derive_event_id;
use store::{CommandExecutor, EventStore, ExecuteError, ExpectedVersion, Filter, FirstStart, NewEvent, RecordedEvent, SharedStore};
use tokio::sync::watch;
use uuid::Uuid;

use super::limits::{CostLimits, Spend, Spending};
use super::processor::{MAX_SMS_CHARS, ProcessError, split};

pub const SUBSCRIBER: &str = "gateway:sms:bridge";

#[derive(Clone)]
pub struct SmsBridge {
    store: SharedStore,
    executor: CommandExecutor<dyn EventStore>,
    read: ReadModels,
    /// Each room's SMS number (or none), so talk in IRC-only rooms costs no query per line. Kept
    /// current by the binding events, which the bridge follows in log order with the messages.
    numbers: Arc<Mutex<HashMap<Uuid, Option<PhoneNumber>>>>,
    /// What each IRC guest has had texted.
    spending: Spending,
}

impl SmsBridge {
    /// A bridge that appends to and follows `store` and asks `read` for what it needs of the
    /// read models.
    pub fn new(store: SharedStore, read: ReadModels) -> Self {
        Self {
            executor: CommandExecutor::new(store.clone()),
            store,
            read,
            numbers: Arc::default(),
            spending: Spending::new(CostLimits::default()),
        }
    }

    /// The same bridge with other cost limits (IRC guests' lines an hour).
    pub fn with_limits(mut self, limits: CostLimits) -> Self {
        self.spending = Spending::new(limits);
        self
    }

    /// Follows the log until `shutdown`; errors end the run (the caller restarts it after a pause).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> Result<(), ProcessError> {
        let filter = Filter::event_types([MessagePosted::EVENT_TYPE, SmsNumberBound::EVENT_TYPE, SmsNumberUnbound::EVENT_TYPE]);
        store::follow(&*self.store, SUBSCRIBER, filter, FirstStart::Head, shutdown, |recorded| async move { self.handle(&recorded).await })
            .await
    }

    /// Texts one posted message to the room's SMS members (idempotent).
    pub async fn handle(&self, recorded: &RecordedEvent) -> Result<(), ProcessError> {
        let message = match Event::decode_json(&recorded.event_type, recorded.schema_version, recorded.payload.as_str()) {
            Ok(Event::MessagePosted(message)) if message.gateway != Gateway::Sms => message,
            Ok(Event::SmsNumberBound(bound)) => {
                self.numbers.lock().expect("numbers lock").insert(bound.room_id, Some(bound.number));
                return Ok(());
            }
            Ok(Event::SmsNumberUnbound(unbound)) => {
                self.numbers.lock().expect("numbers lock").insert(unbound.room_id, None);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let cached = self.numbers.lock().expect("numbers lock").get(&message.room_id).cloned();
        let number = match cached {
            Some(number) => number,
            None => {
                let number = self.read.sms_number_of(message.room_id).await?.and_then(|n| PhoneNumber::parse(&n).ok());
                self.numbers.lock().expect("numbers lock").insert(message.room_id, number.clone());
                number
            }
        };
        let Some(from) = number else { return Ok(()) };
        // An IRC guest (no account: nobody to hold to account) costs texts to every phone with
        // each line, so their lines are texted only up to an hourly bound.
        if message.author_id.is_none() && message.gateway == Gateway::Irc && recorded.metadata.actor == Actor::Anonymous {
            let guest = message.author_nick.as_str().to_lowercase();
            let at = recorded.recorded_at;
            if !self.spending.try_spend(Spend::GuestLine, message.room_id, &guest, recorded.event_id, at, 1) {
                if self.spending.first_refusal(Spend::GuestLine, message.room_id, &guest, at) {
                    self.tell_guest(recorded, &message).await?;
                }
                return Ok(());
            }
        }
        if let Err(e) = self.read.wait_for(recorded.position, &["reply_numbers"], Duration::from_secs(5)).await {
            tracing::warn!(error = %e, "bridging before the reply-numbers read model caught up");
        }
        // Members are muted by account, IRC guests by nick.
        let author = MemberKey::of(&MemberRef { user_id: message.author_id, nick: message.author_nick.clone() });
        let recipients = self.read.fan_out(message.room_id, &author).await?;
        let text = bridged_text(&message);
        let parts = split(&text, MAX_SMS_CHARS);
        let metadata = recorded.metadata.caused_by(recorded.event_id, domain::Actor::System, Gateway::Sms);
        let queued: Vec<Result<(), ProcessError>> = futures::stream::iter(recipients.into_iter().filter_map(|(recipient, phone)| {
            let to = PhoneNumber::parse(&phone).ok()?;
            let (parts, metadata, from, message) = (&parts, &metadata, &from, &message);
            Some(async move {
                for (i, part) in parts.iter().enumerate() {
                    let delivery_id = Uuid::new_v5(&recorded.event_id, format!("bridge:{}:{i}", recipient).as_bytes());
                    let queued = DeliveryQueued {
                        delivery_id,
                        room_id: message.room_id,
                        recipient,
                        to: to.clone(),
                        from: from.clone(),
                        body: part.clone(),
                        cause_message_id: Some(message.message_id),
                        cause_event_id: Some(recorded.event_id),
                        segment: i as u32 + 1,
                        segments: parts.len() as u32,
                    };
                    let stream = StreamName::delivery(delivery_id);
                    match self.executor.execute::<Delivery>(&stream, &DeliveryCommand::Queue(queued), metadata.clone()).await {
                        Ok(_) | Err(ExecuteError::Rejected(DeliveryError::AlreadyQueued)) => {}
                        Err(e) => return Err(ProcessError::from(e)),
                    }
                }
                Ok(())
            })
        }))
        .buffer_unordered(64)
        .collect()
        .await;
        queued.into_iter().collect()
    }
}

impl SmsBridge {
    /// Records that the guest's lines stop being texted, for the IRC relay to tell them
    /// (once: the event id derives from the line's, so a replay appends nothing).
    async fn tell_guest(&self, recorded: &RecordedEvent, message: &MessagePosted) -> Result<(), ProcessError> {
        let limited = Event::GuestTextingLimited(GuestTextingLimited {
            room_id: message.room_id,
            nick: message.author_nick.clone(),
            limit: self.spending.limits().guest_lines_per_hour,
        });
        let metadata: Metadata = recorded.metadata.caused_by(recorded.event_id, Actor::System, Gateway::Sms);
        let event = NewEvent::with_id(derive_event_id(Uuid::new_v5(&recorded.event_id, b"guest-limit"), 0), &limited, metadata);
        self.store.append(&StreamName::sms_limits(message.room_id), ExpectedVersion::Any, vec![event]).await?;
        Ok(())
    }
}

/// How a message from elsewhere reads in a text.
pub fn bridged_text(message: &MessagePosted) -> String {
    match message.kind {
        MessageKind::Action => format!("* {} {}", message.author_nick, message.body),
        _ => format!("[{}] {}", message.author_nick, message.body),
    }
}
