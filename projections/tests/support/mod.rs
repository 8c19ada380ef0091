//! Shared by the projection tests: a store on a fresh database, event helpers, table snapshots.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use domain::events::*;
use domain::{Actor, DisplayNick, Event, EventCodec, Gateway, Metadata, Nick, PhoneNumber, RoomName, StreamName};
use projections::{Projection, RunnerOptions, Runners};
use store::{AppendResult, EventStore, ExpectedVersion, NewEvent, PgEventStore, Position};
use testkit::TestDatabase;
use tokio_postgres::Client;
use uuid::Uuid;

pub struct Harness {
    pub db: TestDatabase,
    pub store: PgEventStore,
    /// The furthest position any append through the harness returned.
    last: std::sync::Mutex<Position>,
}

impl Harness {
    pub async fn new() -> Self {
        let db = TestDatabase::create().await;
        let store = db.store().await;
        Self { db, store, last: std::sync::Mutex::new(Position::START) }
    }

    pub async fn client(&self) -> Client {
        self.db.client().await
    }

    pub fn start(&self, projections: Vec<Arc<dyn Projection>>) -> Runners {
        let options =
            RunnerOptions { poll_interval: Duration::from_millis(100), standby_retry: Duration::from_millis(200), ..Default::default() };
        Runners::start(self.store.clone(), self.db.config.clone(), projections, options)
    }

    pub async fn append(&self, stream: StreamName, events: Vec<Event>, actor: Actor) -> AppendResult {
        let metadata = Metadata::new(actor, Gateway::Api);
        let events: Vec<NewEvent> = events.iter().map(|e| NewEvent::from_domain(e, metadata.clone())).collect();
        let appended = self.store.append(&stream, ExpectedVersion::Any, events).await.expect("append");
        self.seen(appended.position);
        appended
    }

    pub fn seen(&self, position: Position) {
        let mut last = self.last.lock().unwrap();
        *last = (*last).max(position);
    }

    /// The last position written through the harness: what a read-your-writes wait waits for.
    /// (Not `EventStore::head`: that is the gap-free watermark, which any open transaction in
    /// the cluster holds back, so right after an append it may still be behind it.)
    pub async fn head(&self) -> Position {
        *self.last.lock().unwrap()
    }

    /// Every read-model table (through the `read` views): row count and a digest of the rows.
    pub async fn snapshot(&self) -> BTreeMap<String, (i64, String)> {
        let client = self.client().await;
        let tables: Vec<String> =
            client.query("SELECT unnest(tables) FROM es_projections ORDER BY 1", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        let mut out = BTreeMap::new();
        for table in tables {
            let row = client
                .query_one(
                    &format!("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM read.{table} t"),
                    &[],
                )
                .await
                .unwrap();
            out.insert(table, (row.get(0), row.get(1)));
        }
        out
    }
}

pub fn nick(s: &str) -> Nick {
    Nick::parse(s).unwrap()
}

pub fn member(user_id: Uuid, n: &str) -> MemberRef {
    MemberRef { user_id: Some(user_id), nick: DisplayNick::from(nick(n)) }
}

pub fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

/// A room created by the system, open to all.
pub fn created(room_id: Uuid, name: &str) -> Event {
    Event::RoomCreated(RoomCreated { room_id, name: RoomName::parse(name).unwrap(), invite_only: false, created_by: Actor::System })
}

pub fn registered(user_id: Uuid, n: &str, gateway: Gateway) -> Event {
    Event::UserRegistered(UserRegistered { user_id, nick: nick(n), gateway })
}

pub fn joined(room_id: Uuid, user_id: Uuid, n: &str, phone_number: Option<&str>) -> Event {
    Event::MemberJoined(MemberJoined {
        room_id,
        member: member(user_id, n),
        mask: None,
        phone: phone_number.map(phone),
        gateway: if phone_number.is_some() { Gateway::Sms } else { Gateway::Irc },
        invite_id: None,
        is_bot: false,
    })
}

pub fn said(room_id: Uuid, user_id: Uuid, n: &str, body: &str) -> Event {
    Event::MessagePosted(MessagePosted {
        room_id,
        message_id: Uuid::new_v4(),
        author_id: Some(user_id),
        author_nick: DisplayNick::from(nick(n)),
        body: domain::MessageBody::parse(body).unwrap(),
        kind: MessageKind::Say,
        gateway: Gateway::Irc,
    })
}

pub fn event_type(e: &Event) -> &'static str {
    e.event_type()
}
