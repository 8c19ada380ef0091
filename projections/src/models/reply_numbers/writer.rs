//! The `reply_numbers` projection: the events it reads and the statements they become.
//!
//! A member receives SMS when they joined by SMS (with their phone number), have not
//! stopped, and have not personally muted the sender (a member by account, or an IRC guest by
//! nick). Room mutes and bans are the sender's side and are checked by the gateway before
//! fanning out.

use domain::events::MemberRef;
use domain::{Event, MemberKey, events};
use store::Envelope;

use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct ReplyNumbers;

const USER_STOPPED: &str =
    "INSERT INTO sms_users (user_id, stopped) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET stopped = excluded.stopped";
const RECIPIENTS_STOPPED: &str = "UPDATE sms_recipients SET stopped = $2 WHERE user_id = $1";
const RECIPIENT_STOPPED_IN_ROOM: &str = "UPDATE sms_recipients SET stopped = $3 WHERE user_id = $1 AND room_id = $2";
const RECIPIENTS_PHONE: &str = "UPDATE sms_recipients SET phone = $2 WHERE user_id = $1";
const RECIPIENTS_NICK: &str = "UPDATE sms_recipients SET nick = $2 WHERE user_id = $1";
/// A member who joined by SMS (the join carries their phone), with their stop state.
const JOIN: &str = "INSERT INTO sms_recipients (room_id, user_id, phone, nick, stopped, joined_at) \
     SELECT $1, $2, $3, $4, coalesce(u.stopped, false), $5 \
     FROM (SELECT 1) one LEFT JOIN sms_users u ON u.user_id = $2 \
     ON CONFLICT (room_id, user_id) DO UPDATE SET phone = excluded.phone, nick = excluded.nick";
const LEAVE: &str = "DELETE FROM sms_recipients WHERE room_id = $1 AND user_id = $2";
const MUTE: &str = "INSERT INTO sms_personal_mutes (room_id, muter, mutee) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// Leaving clears the mutes of the one who left (`$3`, their key) and, for an account (`$2`),
/// those they set.
const UNMUTE_ALL: &str = "DELETE FROM sms_personal_mutes WHERE room_id = $1 AND (muter = $2 OR mutee = $3)";
const UNMUTE: &str = "DELETE FROM sms_personal_mutes WHERE room_id = $1 AND muter = $2 AND mutee = $3";
/// A guest (`$2`) who logs in as `$3` stays muted under the account, except by themselves.
const MUTES_IDENTIFIED: &str = "INSERT INTO sms_personal_mutes (room_id, muter, mutee) \
     SELECT room_id, muter, $3::uuid::text FROM sms_personal_mutes WHERE room_id = $1 AND mutee = $2 AND muter <> $3 \
     ON CONFLICT DO NOTHING";
const MUTES_OF_GUEST_DROPPED: &str = "DELETE FROM sms_personal_mutes WHERE room_id = $1 AND mutee = $2";

/// Rewrites the lists of the rooms a batch changed: `$1` rooms joined or left, `$2` users whose
/// stop state, phone or nick changed (every room they are in). One statement per batch: a room
/// with 10,000 members costs one aggregate per batch that touches it, not one per event. The
/// lists are in user-id order, so every fold of a log gives the same rows (the rows' physical
/// order, which an unordered aggregate follows, differs between folds).
const REFRESH_LISTS: &str = "WITH touched AS ( \
         SELECT unnest($1::uuid[]) AS room_id \
         UNION SELECT r.room_id FROM sms_recipients r WHERE r.user_id = ANY ($2::uuid[])), \
     lists AS ( \
         SELECT t.room_id, \
                coalesce(array_agg(r.user_id ORDER BY r.user_id) FILTER (WHERE r.user_id IS NOT NULL), '{}') AS user_ids, \
                coalesce(array_agg(r.phone ORDER BY r.user_id) FILTER (WHERE r.user_id IS NOT NULL), '{}') AS phones, \
                coalesce(array_agg(r.nick ORDER BY r.user_id) FILTER (WHERE r.user_id IS NOT NULL), '{}') AS nicks \
         FROM touched t LEFT JOIN sms_recipients r ON r.room_id = t.room_id AND NOT r.stopped \
         GROUP BY t.room_id) \
     INSERT INTO sms_room_lists (room_id, user_ids, phones, nicks) SELECT * FROM lists \
     ON CONFLICT (room_id) DO UPDATE SET user_ids = excluded.user_ids, phones = excluded.phones, nicks = excluded.nicks";

impl Projection for ReplyNumbers {
    fn name(&self) -> &'static str {
        "reply_numbers"
    }

    fn version(&self) -> i32 {
        // 2: per-room recipient lists (sms_room_lists).
        // 3: personal mutes of IRC guests; the mutee is a member key.
        3
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            events::PhoneBound::EVENT_TYPE,
            events::SmsStopped::EVENT_TYPE,
            events::SmsStarted::EVENT_TYPE,
            events::NickChanged::EVENT_TYPE,
            events::MemberJoined::EVENT_TYPE,
            events::MemberLeft::EVENT_TYPE,
            events::MemberIdentified::EVENT_TYPE,
            events::PersonalMuteSet::EVENT_TYPE,
            events::PersonalMuteLifted::EVENT_TYPE,
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
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
                // A stop in one room is that room's; one for every room (`room_id: None`) is also
                // inherited by rooms joined later. A start in a room lifts a stop for every room
                // too (User::evolve), so the later joins no longer inherit it.
                Event::SmsStopped(e) => {
                    match e.room_id {
                        Some(room_id) => out.push(RECIPIENT_STOPPED_IN_ROOM, params![e.user_id, room_id, true]),
                        None => {
                            out.push(USER_STOPPED, params![e.user_id, true]);
                            out.push(RECIPIENTS_STOPPED, params![e.user_id, true]);
                        }
                    }
                    users.insert(e.user_id);
                }
                Event::SmsStarted(e) => {
                    out.push(USER_STOPPED, params![e.user_id, false]);
                    match e.room_id {
                        Some(room_id) => out.push(RECIPIENT_STOPPED_IN_ROOM, params![e.user_id, room_id, false]),
                        None => out.push(RECIPIENTS_STOPPED, params![e.user_id, false]),
                    }
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
                    let key = MemberKey::of(&e.member).to_string();
                    match e.member.user_id {
                        Some(user_id) => {
                            out.push(LEAVE, params![e.room_id, user_id]);
                            out.push(UNMUTE_ALL, params![e.room_id, user_id, key]);
                            rooms.insert(e.room_id);
                        }
                        None => out.push(MUTES_OF_GUEST_DROPPED, params![e.room_id, key]),
                    }
                }
                Event::MemberIdentified(e) => {
                    let guest = MemberKey::of(&MemberRef { user_id: None, nick: e.nick.clone() }).to_string();
                    out.push(MUTES_IDENTIFIED, params![e.room_id, guest.clone(), e.user_id]);
                    out.push(MUTES_OF_GUEST_DROPPED, params![e.room_id, guest]);
                }
                Event::PersonalMuteSet(e) => out.push(MUTE, params![e.room_id, e.muter, MemberKey::of_mutee(&e.mutee).to_string()]),
                Event::PersonalMuteLifted(e) => out.push(UNMUTE, params![e.room_id, e.muter, MemberKey::of_mutee(&e.mutee).to_string()]),
                _ => {}
            }
        }
        if !rooms.is_empty() || !users.is_empty() {
            let (rooms, users): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) = (rooms.into_iter().collect(), users.into_iter().collect());
            out.push(REFRESH_LISTS, params![rooms, users]);
        }
    }
}
