//! The `last_seen` projection: the events it reads and the statements they become.
//!
//! Only the latest activity per (nick, room) matters, so a batch is folded in memory first and
//! written as one set-based upsert: the hot path (every message) costs a few microseconds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::events::{self, MessageKind};
use domain::{Event, Gateway};
use store::Envelope;
use uuid::Uuid;

use super::Activity;
use crate::models::snake;
use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct LastSeen;

const UPSERT: &str = "INSERT INTO last_seen (nick_fold, room_id, nick, user_id, seen_at, gateway, activity, detail) \
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[], $8::text[]) \
     ON CONFLICT (nick_fold, room_id) DO UPDATE SET nick = excluded.nick, user_id = excluded.user_id, seen_at = excluded.seen_at, \
         gateway = excluded.gateway, activity = excluded.activity, detail = excluded.detail";

struct Seen {
    nick: String,
    user_id: Option<Uuid>,
    at: DateTime<Utc>,
    gateway: Gateway,
    activity: Activity,
    detail: Option<String>,
}

impl Projection for LastSeen {
    fn name(&self) -> &'static str {
        "last_seen"
    }

    fn version(&self) -> i32 {
        1
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            events::MessagePosted::EVENT_TYPE,
            events::MemberJoined::EVENT_TYPE,
            events::MemberLeft::EVENT_TYPE,
            events::MemberKicked::EVENT_TYPE,
            events::NickChanged::EVENT_TYPE,
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        // Key → (order of first appearance, latest sighting): later events overwrite earlier ones.
        let mut latest: HashMap<(String, Uuid), Seen> = HashMap::new();
        let mut order: Vec<(String, Uuid)> = Vec::new();
        let mut see = |fold: String, room: Uuid, seen: Seen| {
            let key = (fold, room);
            if !latest.contains_key(&key) {
                order.push(key.clone());
            }
            latest.insert(key, seen);
        };
        for envelope in events {
            let at = envelope.recorded_at;
            match &envelope.event {
                Event::MessagePosted(e) => {
                    let activity = match e.kind {
                        MessageKind::Say => Activity::Said,
                        MessageKind::Action => Activity::Action,
                        MessageKind::Notice => Activity::Notice,
                    };
                    let seen = Seen {
                        nick: e.author_nick.to_string(),
                        user_id: e.author_id,
                        at,
                        gateway: e.gateway,
                        activity,
                        detail: Some(e.body.to_string()),
                    };
                    see(e.author_nick.casefold(), e.room_id, seen);
                }
                Event::MemberJoined(e) => {
                    let seen = Seen {
                        nick: e.member.nick.to_string(),
                        user_id: e.member.user_id,
                        at,
                        gateway: e.gateway,
                        activity: Activity::Joined,
                        detail: None,
                    };
                    see(e.member.nick.casefold(), e.room_id, seen);
                }
                Event::MemberLeft(e) => {
                    let seen = Seen {
                        nick: e.member.nick.to_string(),
                        user_id: e.member.user_id,
                        at,
                        gateway: envelope.metadata.gateway,
                        activity: Activity::Left,
                        detail: Some(snake(&e.reason)),
                    };
                    see(e.member.nick.casefold(), e.room_id, seen);
                }
                Event::MemberKicked(e) => {
                    let seen = Seen {
                        nick: e.member.nick.to_string(),
                        user_id: e.member.user_id,
                        at,
                        gateway: envelope.metadata.gateway,
                        activity: Activity::Kicked,
                        detail: e.reason.as_ref().map(|r| r.to_string()),
                    };
                    see(e.member.nick.casefold(), e.room_id, seen);
                }
                Event::NickChanged(e) => {
                    let gateway = match envelope.metadata.gateway {
                        Gateway::System => Gateway::Api,
                        other => other,
                    };
                    let seen = Seen {
                        nick: e.old.to_string(),
                        user_id: Some(e.user_id),
                        at,
                        gateway,
                        activity: Activity::NickChanged,
                        detail: Some(e.new.to_string()),
                    };
                    see(e.old.casefold(), Uuid::nil(), seen);
                }
                _ => {}
            }
        }
        if order.is_empty() {
            return;
        }
        let n = order.len();
        let (mut folds, mut rooms, mut nicks, mut users, mut times, mut gateways, mut activities, mut details) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for key in order {
            let seen = latest.remove(&key).expect("every ordered key has a sighting");
            folds.push(key.0);
            rooms.push(key.1);
            nicks.push(seen.nick);
            users.push(seen.user_id);
            times.push(seen.at);
            gateways.push(seen.gateway.as_str().to_owned());
            activities.push(seen.activity.as_str().to_owned());
            details.push(seen.detail);
        }
        out.push(UPSERT, params![folds, rooms, nicks, users, times, gateways, activities, details]);
    }
}
