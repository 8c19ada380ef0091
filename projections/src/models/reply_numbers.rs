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

/// The fan-out query (see the module docs); `$1` room, `$2` sender. One row of three parallel
/// arrays: for a 10,000-member room, decoding one row of arrays is several times cheaper than
/// 10,000 rows.
pub const REPLY_NUMBERS_SQL: &str = "SELECT coalesce(array_agg(r.user_id), '{}'), coalesce(array_agg(r.phone), '{}'), coalesce(array_agg(r.nick), '{}') \
     FROM read.sms_recipients r \
     WHERE r.room_id = $1 AND r.user_id <> $2 AND NOT r.stopped \
       AND r.user_id NOT IN (SELECT m.muter FROM read.sms_personal_mutes m WHERE m.room_id = $1 AND m.mutee = $2)";

/// The fan-out list only (who and which number), without nicks: what the SMS gateway needs
/// for every message, a third less to aggregate, send and decode than [`REPLY_NUMBERS_SQL`].
pub const FAN_OUT_SQL: &str = "SELECT coalesce(array_agg(r.user_id), '{}'), coalesce(array_agg(r.phone), '{}') \
     FROM read.sms_recipients r \
     WHERE r.room_id = $1 AND r.user_id <> $2 AND NOT r.stopped \
       AND r.user_id NOT IN (SELECT m.muter FROM read.sms_personal_mutes m WHERE m.room_id = $1 AND m.mutee = $2)";

impl Projection for ReplyNumbers {
    fn name(&self) -> &'static str {
        "reply_numbers"
    }

    fn version(&self) -> i32 {
        1
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
        for envelope in events {
            match &envelope.event {
                Event::PhoneBound(e) => out.push(RECIPIENTS_PHONE, params![e.user_id, e.phone.to_string()]),
                Event::SmsStopped(e) => {
                    out.push(USER_STOPPED, params![e.user_id, true]);
                    out.push(RECIPIENTS_STOPPED, params![e.user_id, true]);
                }
                Event::SmsStarted(e) => {
                    out.push(USER_STOPPED, params![e.user_id, false]);
                    out.push(RECIPIENTS_STOPPED, params![e.user_id, false]);
                }
                Event::NickChanged(e) => out.push(RECIPIENTS_NICK, params![e.user_id, e.new.to_string()]),
                Event::MemberJoined(e) => {
                    if let (Some(user_id), Some(phone)) = (e.member.user_id, &e.phone)
                        && !e.is_bot
                    {
                        out.push(JOIN, params![e.room_id, user_id, phone.to_string(), e.member.nick.to_string(), envelope.recorded_at]);
                    }
                }
                // Kicks and bans end in MemberLeft too. Leaving clears personal mutes both ways.
                Event::MemberLeft(e) => {
                    if let Some(user_id) = e.member.user_id {
                        out.push(LEAVE, params![e.room_id, user_id]);
                        out.push(UNMUTE_ALL, params![e.room_id, user_id]);
                    }
                }
                Event::PersonalMuteSet(e) => out.push(MUTE, params![e.room_id, e.muter, e.mutee]),
                Event::PersonalMuteLifted(e) => out.push(UNMUTE, params![e.room_id, e.muter, e.mutee]),
                _ => {}
            }
        }
    }
}
