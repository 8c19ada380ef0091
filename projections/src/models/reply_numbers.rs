//! `reply_numbers`: who receives a member's message in an SMS room (the fan-out list).
//!
//! A member receives SMS when they joined by SMS (with their phone number), have not
//! stopped, and have not personally muted the sender. Room mutes and bans are the sender's side
//! and are checked by the gateway before fanning out.

use domain::Event;
use store::Envelope;

use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct ReplyNumbers;

const USER_STOPPED: &str =
    "INSERT INTO sms_users (user_id, stopped) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET stopped = excluded.stopped";
const RECIPIENTS_STOPPED: &str = "UPDATE sms_recipients SET stopped = $2 WHERE user_id = $1";
const RECIPIENTS_PHONE: &str = "UPDATE sms_recipients SET phone = $2 WHERE user_id = $1";
const RECIPIENTS_NICK: &str = "UPDATE sms_recipients SET nick = $2 WHERE user_id = $1";
/// A member who joined by SMS (the join carries their phone), with their stop state.
const JOIN: &str = "INSERT INTO sms_recipients (room_id, user_id, phone, nick, stopped, joined_at) \
     SELECT $1, $2, $3, $4, coalesce(u.stopped, false), $5 \
     FROM (SELECT 1) one LEFT JOIN sms_users u ON u.user_id = $2 \
     ON CONFLICT (room_id, user_id) DO UPDATE SET phone = excluded.phone, nick = excluded.nick";
const LEAVE: &str = "DELETE FROM sms_recipients WHERE room_id = $1 AND user_id = $2";
const MUTE: &str = "INSERT INTO sms_personal_mutes (room_id, muter, mutee) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const UNMUTE_ALL: &str = "DELETE FROM sms_personal_mutes WHERE room_id = $1 AND (muter = $2 OR mutee = $2)";
const UNMUTE: &str = "DELETE FROM sms_personal_mutes WHERE room_id = $1 AND muter = $2 AND mutee = $3";

/// Rewrites the lists of the rooms a batch changed: `$1` rooms joined or left, `$2` users whose
/// stop state, phone or nick changed (every room they are in). One statement per batch: a room
/// with 10,000 members costs one aggregate per batch that touches it, not one per event.
const REFRESH_LISTS: &str = "WITH touched AS ( \
         SELECT unnest($1::uuid[]) AS room_id \
         UNION SELECT r.room_id FROM sms_recipients r WHERE r.user_id = ANY ($2::uuid[])), \
     lists AS ( \
         SELECT t.room_id, \
                coalesce(array_agg(r.user_id) FILTER (WHERE r.user_id IS NOT NULL), '{}') AS user_ids, \
                coalesce(array_agg(r.phone) FILTER (WHERE r.user_id IS NOT NULL), '{}') AS phones, \
                coalesce(array_agg(r.nick) FILTER (WHERE r.user_id IS NOT NULL), '{}') AS nicks \
         FROM touched t LEFT JOIN sms_recipients r ON r.room_id = t.room_id AND NOT r.stopped \
         GROUP BY t.room_id) \
     INSERT INTO sms_room_lists (room_id, user_ids, phones, nicks) SELECT * FROM lists \
     ON CONFLICT (room_id) DO UPDATE SET user_ids = excluded.user_ids, phones = excluded.phones, nicks = excluded.nicks";

/// A room's list and the members who muted `$2` (the sender) there: one row. The caller leaves
/// out the sender and the muters ([`Recipients::receivers`]). `$3`: whether to return the nicks
/// (the SMS fan-out has no use for them; not asked for, they are not even read).
pub const ROOM_LIST_SQL: &str = "SELECT l.user_ids, l.phones, CASE WHEN $3 THEN l.nicks ELSE '{}'::text[] END, \
         coalesce((SELECT array_agg(m.muter) FROM read.sms_personal_mutes m WHERE m.room_id = $1 AND m.mutee = $2), '{}') \
     FROM read.sms_room_lists l WHERE l.room_id = $1";

/// The same list computed from `sms_recipients`, for readers of a version 1 generation (live
/// while version 2 is being built after an upgrade; it has no `sms_room_lists`). Sender and
/// muters are already left out; the muters column is empty.
pub const ROOM_LIST_FROM_RECIPIENTS_SQL: &str = "SELECT coalesce(array_agg(r.user_id), '{}'), coalesce(array_agg(r.phone), '{}'), \
         coalesce(array_agg(r.nick), '{}'), '{}'::uuid[] \
     FROM read.sms_recipients r \
     WHERE r.room_id = $1 AND r.user_id <> $2 AND NOT r.stopped \
       AND r.user_id NOT IN (SELECT m.muter FROM read.sms_personal_mutes m WHERE m.room_id = $1 AND m.mutee = $2)";

/// A room's recipient list as stored, with the sender's muters.
pub struct Recipients {
    pub user_ids: Vec<uuid::Uuid>,
    pub phones: Vec<String>,
    /// Empty when not asked for.
    pub nicks: Vec<String>,
    pub muters: Vec<uuid::Uuid>,
}

impl Recipients {
    /// `(user_id, phone, nick)` of everyone listed but the sender and those who muted them; the
    /// nick is empty when it was not asked for.
    pub fn receivers(self, sender: uuid::Uuid) -> impl Iterator<Item = (uuid::Uuid, String, String)> {
        let muters = self.muters;
        let nicks = self.nicks.into_iter().chain(std::iter::repeat_with(String::new));
        self.user_ids
            .into_iter()
            .zip(self.phones)
            .zip(nicks)
            .filter(move |((id, _), _)| *id != sender && !muters.contains(id))
            .map(|((id, phone), nick)| (id, phone, nick))
    }
}

impl Projection for ReplyNumbers {
    fn name(&self) -> &'static str {
        "reply_numbers"
    }

    fn version(&self) -> i32 {
        // 2: per-room recipient lists (sms_room_lists).
        2
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            "user.phone_bound",
            "user.sms_stopped",
            "user.sms_started",
            "user.nick_changed",
            "room.member_joined",
            "room.member_left",
            "room.personal_mute_set",
            "room.personal_mute_lifted",
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("../sql/reply_numbers.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        // What the batch changed, for the list refresh at its end.
        let mut rooms = std::collections::BTreeSet::new();
        let mut users = std::collections::BTreeSet::new();
        for envelope in events {
            match &envelope.event {
                Event::PhoneBound(e) => {
                    out.push(RECIPIENTS_PHONE, params![e.user_id, e.phone.to_string()]);
                    users.insert(e.user_id);
                }
                Event::SmsStopped(e) => {
                    out.push(USER_STOPPED, params![e.user_id, true]);
                    out.push(RECIPIENTS_STOPPED, params![e.user_id, true]);
                    users.insert(e.user_id);
                }
                Event::SmsStarted(e) => {
                    out.push(USER_STOPPED, params![e.user_id, false]);
                    out.push(RECIPIENTS_STOPPED, params![e.user_id, false]);
                    users.insert(e.user_id);
                }
                Event::NickChanged(e) => {
                    out.push(RECIPIENTS_NICK, params![e.user_id, e.new.to_string()]);
                    users.insert(e.user_id);
                }
                Event::MemberJoined(e) => {
                    if let (Some(user_id), Some(phone)) = (e.member.user_id, &e.phone)
                        && !e.is_bot
                    {
                        out.push(JOIN, params![e.room_id, user_id, phone.to_string(), e.member.nick.to_string(), envelope.recorded_at]);
                        rooms.insert(e.room_id);
                    }
                }
                // Kicks and bans end in MemberLeft too. Leaving clears personal mutes both ways.
                Event::MemberLeft(e) => {
                    if let Some(user_id) = e.member.user_id {
                        out.push(LEAVE, params![e.room_id, user_id]);
                        out.push(UNMUTE_ALL, params![e.room_id, user_id]);
                        rooms.insert(e.room_id);
                    }
                }
                Event::PersonalMuteSet(e) => out.push(MUTE, params![e.room_id, e.muter, e.mutee]),
                Event::PersonalMuteLifted(e) => out.push(UNMUTE, params![e.room_id, e.muter, e.mutee]),
                _ => {}
            }
        }
        if !rooms.is_empty() || !users.is_empty() {
            let (rooms, users): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) = (rooms.into_iter().collect(), users.into_iter().collect());
            out.push(REFRESH_LISTS, params![rooms, users]);
        }
    }
}
