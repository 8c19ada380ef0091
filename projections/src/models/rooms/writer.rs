//! The `rooms` projection: the events it reads and the statements they become.

use chrono::{DateTime, Utc};
use domain::events::{self, BanTarget, ChannelMode, Invitee, MemberRef, Mutee};
use domain::{Event, MemberKey};
use store::Envelope;
use uuid::Uuid;

use crate::models::snake;
use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct Rooms;

const CREATE: &str = "INSERT INTO rooms (room_id, name, invite_only, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)";
const RENAME: &str = "UPDATE rooms SET name = $2, updated_at = $3 WHERE room_id = $1";
const INVITE_ONLY: &str = "UPDATE rooms SET invite_only = $2, updated_at = $3 WHERE room_id = $1";
const TOPIC: &str = "UPDATE rooms SET topic = $2, updated_at = $3 WHERE room_id = $1";
const TOPIC_HISTORY: &str = "INSERT INTO room_topics (room_id, topic, set_at) VALUES ($1, $2, $3)";
const BIND_IRC: &str = "INSERT INTO room_irc_channels (channel_fold, channel, room_id, channel_key, bound_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (channel_fold) DO UPDATE SET channel = excluded.channel, room_id = excluded.room_id, \
         channel_key = excluded.channel_key, bound_at = excluded.bound_at";
const UNBIND_IRC: &str = "DELETE FROM room_irc_channels WHERE channel_fold = $1 AND room_id = $2";
const BIND_SMS: &str = "INSERT INTO room_sms_numbers (number, room_id, bound_at) VALUES ($1, $2, $3) \
     ON CONFLICT (number) DO UPDATE SET room_id = excluded.room_id, bound_at = excluded.bound_at";
const UNBIND_SMS: &str = "DELETE FROM room_sms_numbers WHERE number = $1 AND room_id = $2";

const JOIN: &str = "INSERT INTO members (room_id, member_key, user_id, nick, gateway, mask, phone, is_bot, joined_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (room_id, member_key) DO UPDATE SET nick = excluded.nick, gateway = excluded.gateway, mask = excluded.mask, \
         phone = excluded.phone, is_bot = excluded.is_bot";
const LEAVE: &str = "DELETE FROM members WHERE room_id = $1 AND member_key = $2";
const MEMBERSHIP_CLOSE: &str = "UPDATE memberships SET valid = tstzrange(lower(valid), greatest(lower(valid), $3)), left_reason = $4 \
     WHERE room_id = $1 AND member_key = $2 AND upper_inf(valid)";
/// Opens a period unless one is open (a join while present, e.g. a second IRC connection, keeps
/// the membership it extends).
const MEMBERSHIP_OPEN: &str = "INSERT INTO memberships (room_id, member_key, user_id, nick, gateway, valid) \
     SELECT $1, $2, $4, $5, $6, tstzrange(greatest($3, max(lower(valid))), NULL) FROM memberships WHERE room_id = $1 AND member_key = $2 \
     HAVING NOT coalesce(bool_or(upper_inf(valid)), false)";
/// A guest who logged in becomes the account's member row ($3 the account key), keeping how and
/// when they came in; a member by SMS already keyed by the account keeps that row.
const IDENTIFY_MEMBER: &str = "INSERT INTO members (room_id, member_key, user_id, nick, gateway, mask, phone, is_bot, voice, op, joined_at) \
     SELECT room_id, $3, $4, nick, gateway, mask, phone, is_bot, voice, op, joined_at FROM members WHERE room_id = $1 AND member_key = $2 \
     ON CONFLICT (room_id, member_key) DO NOTHING";
const RENAME_MEMBER: &str = "UPDATE members SET nick = $2 WHERE user_id = $1";
const MODE_VOICE: &str = "UPDATE members SET voice = $3 WHERE room_id = $1 AND lower(nick) = $2";
const MODE_OP: &str = "UPDATE members SET op = $3 WHERE room_id = $1 AND lower(nick) = $2";

const BAN: &str = "INSERT INTO bans (ban_id, room_id, target_user, target_mask, reason, by_actor, banned_at, until, valid) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, tstzrange($7, CASE WHEN $8::timestamptz IS NULL THEN NULL ELSE greatest($7, $8) END))";
const UNBAN: &str = "UPDATE bans SET lifted_at = $2, lifted_by = $3, \
         valid = tstzrange(lower(valid), greatest(lower(valid), least(upper(valid), $2))) \
     WHERE ban_id = $1 AND lifted_at IS NULL";

const MUTE_CLOSE: &str = "UPDATE room_mutes SET valid = tstzrange(lower(valid), greatest(lower(valid), least(upper(valid), $3))), \
         lifted_by = coalesce(lifted_by, $4) \
     WHERE room_id = $1 AND member_key = $2 AND (upper_inf(valid) OR upper(valid) > $3)";
const MUTE_OPEN: &str = "INSERT INTO room_mutes (room_id, member_key, user_id, nick, by_actor, until, valid) \
     SELECT $1, $2, $4, $5, $6, $7, tstzrange(start, CASE WHEN $7::timestamptz IS NULL THEN NULL ELSE greatest(start, $7) END) \
     FROM (SELECT greatest($3, max(lower(valid))) AS start FROM room_mutes WHERE room_id = $1 AND member_key = $2) s";
/// The guest's mute in force at $4 carries over to the account ($3), unless the account has one
/// in force (then [`MUTE_IDENTIFY_EXTEND`] keeps the one that ends later).
const MUTE_IDENTIFY_CARRY: &str = "INSERT INTO room_mutes (room_id, member_key, user_id, nick, by_actor, until, valid) \
     SELECT room_id, $3, $5, nick, by_actor, until, tstzrange(greatest($4, lower(valid)), upper(valid)) FROM room_mutes \
     WHERE room_id = $1 AND member_key = $2 AND (upper_inf(valid) OR upper(valid) > $4) \
       AND NOT EXISTS (SELECT 1 FROM room_mutes a WHERE a.room_id = $1 AND a.member_key = $3 AND (upper_inf(a.valid) OR upper(a.valid) > $4))";
const MUTE_IDENTIFY_EXTEND: &str = "UPDATE room_mutes a \
     SET valid = tstzrange(lower(a.valid), CASE WHEN upper_inf(a.valid) OR upper_inf(g.valid) THEN NULL ELSE greatest(upper(a.valid), upper(g.valid)) END), \
         until = CASE WHEN a.until IS NULL OR g.until IS NULL THEN NULL ELSE greatest(a.until, g.until) END \
     FROM room_mutes g \
     WHERE a.room_id = $1 AND a.member_key = $3 AND (upper_inf(a.valid) OR upper(a.valid) > $4) \
       AND g.room_id = $1 AND g.member_key = $2 AND (upper_inf(g.valid) OR upper(g.valid) > $4)";
const PERSONAL_CLOSE: &str = "UPDATE personal_mutes SET valid = tstzrange(lower(valid), greatest(lower(valid), $4)) \
     WHERE room_id = $1 AND muter = $2 AND mutee_key = $3 AND upper_inf(valid)";
/// Leaving a room clears the personal mutes of the one who left (`$3`, their key) and, for an
/// account (`$2`), those they set (as the Room aggregate does).
const PERSONAL_CLOSE_ALL: &str = "UPDATE personal_mutes SET valid = tstzrange(lower(valid), greatest(lower(valid), $4)) \
     WHERE room_id = $1 AND (muter = $2 OR mutee_key = $3) AND upper_inf(valid)";
const PERSONAL_OPEN: &str = "INSERT INTO personal_mutes (room_id, muter, mutee_key, mutee, mutee_nick, valid) \
     SELECT $1, $2, $3, $5, $6, tstzrange(greatest($4, max(lower(valid))), NULL) FROM personal_mutes \
     WHERE room_id = $1 AND muter = $2 AND mutee_key = $3";
/// The open mutes of a guest (`$2`) who logs in as `$4` (key `$3`) carry over to the account,
/// except the account's own and those it already has.
const PERSONAL_IDENTIFY_CARRY: &str = "INSERT INTO personal_mutes (room_id, muter, mutee_key, mutee, mutee_nick, valid) \
     SELECT g.room_id, g.muter, $3, $4, NULL, tstzrange(greatest($5, lower(g.valid), \
            (SELECT max(lower(a.valid)) FROM personal_mutes a WHERE a.room_id = $1 AND a.muter = g.muter AND a.mutee_key = $3)), NULL) \
     FROM personal_mutes g \
     WHERE g.room_id = $1 AND g.mutee_key = $2 AND upper_inf(g.valid) AND g.muter <> $4 \
       AND NOT EXISTS (SELECT 1 FROM personal_mutes a WHERE a.room_id = $1 AND a.muter = g.muter AND a.mutee_key = $3 AND upper_inf(a.valid))";
const PERSONAL_CLOSE_OF: &str = "UPDATE personal_mutes SET valid = tstzrange(lower(valid), greatest(lower(valid), $3)) \
     WHERE room_id = $1 AND mutee_key = $2 AND upper_inf(valid)";

const REQUEST: &str = "INSERT INTO ban_requests (request_id, room_id, target_user, target_mask, reason, by_actor, requested_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const DECIDE: &str = "UPDATE ban_requests SET status = $2, decided_by = $3, decided_at = $4, ban_id = $5 WHERE request_id = $1";
const INVITE: &str =
    "INSERT INTO invites (invite_id, room_id, invitee_phone, invitee_user, by_actor, issued_at) VALUES ($1, $2, $3, $4, $5, $6)";
const ACCEPT: &str = "UPDATE invites SET accepted_by = $2, accepted_at = $3 WHERE invite_id = $1";

impl Projection for Rooms {
    fn name(&self) -> &'static str {
        "rooms"
    }

    fn version(&self) -> i32 {
        // 2: memberships found by room and time with a GiST index (memberships_room_valid); the
        // no-overlap constraints of memberships and room mutes key on a digest of (room, member).
        // 3: every topic a room had (room_topics), for the room as it was.
        // 4: personal mutes of IRC guests (personal_mutes keyed by member key).
        // 5: members in join order by room (memberships_room_start, members_room_joined), for pages.
        5
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            events::RoomCreated::EVENT_TYPE,
            events::RoomRenamed::EVENT_TYPE,
            events::InviteOnlyChanged::EVENT_TYPE,
            events::IrcChannelBound::EVENT_TYPE,
            events::IrcChannelUnbound::EVENT_TYPE,
            events::SmsNumberBound::EVENT_TYPE,
            events::SmsNumberUnbound::EVENT_TYPE,
            events::TopicSet::EVENT_TYPE,
            events::MemberJoined::EVENT_TYPE,
            events::MemberLeft::EVENT_TYPE,
            events::MemberIdentified::EVENT_TYPE,
            events::RoomMuteSet::EVENT_TYPE,
            events::RoomMuteLifted::EVENT_TYPE,
            events::PersonalMuteSet::EVENT_TYPE,
            events::PersonalMuteLifted::EVENT_TYPE,
            events::UserBanned::EVENT_TYPE,
            events::UserUnbanned::EVENT_TYPE,
            events::BanRequested::EVENT_TYPE,
            events::BanRequestApproved::EVENT_TYPE,
            events::BanRequestRejected::EVENT_TYPE,
            events::InviteIssued::EVENT_TYPE,
            events::InviteAccepted::EVENT_TYPE,
            events::ChannelModeChanged::EVENT_TYPE,
            events::NickChanged::EVENT_TYPE,
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        for envelope in events {
            apply_one(envelope, out);
        }
    }
}

/// The members table's key: the user id, or the casefolded nick of an IRC guest.
pub fn member_key(member: &MemberRef) -> String {
    MemberKey::of(member).to_string()
}

fn target_columns(target: &BanTarget) -> (Option<Uuid>, Option<String>) {
    match target {
        BanTarget::User { user_id } => (Some(*user_id), None),
        BanTarget::Mask { mask } => (None, Some(mask.to_string())),
    }
}

fn apply_one(envelope: &Envelope<Event>, out: &mut Writes) {
    let at: DateTime<Utc> = envelope.recorded_at;
    match &envelope.event {
        Event::RoomCreated(e) => out.push(CREATE, params![e.room_id, e.name.to_string(), e.invite_only, e.created_by.to_string(), at]),
        Event::RoomRenamed(e) => out.push(RENAME, params![e.room_id, e.new.to_string(), at]),
        Event::InviteOnlyChanged(e) => out.push(INVITE_ONLY, params![e.room_id, e.invite_only, at]),
        Event::TopicSet(e) => {
            out.push(TOPIC, params![e.room_id, e.topic.to_string(), at]);
            out.push(TOPIC_HISTORY, params![e.room_id, e.topic.to_string(), at]);
        }
        Event::IrcChannelBound(e) => {
            out.push(BIND_IRC, params![e.channel.casefold(), e.channel.to_string(), e.room_id, e.key.clone(), at]);
        }
        Event::IrcChannelUnbound(e) => out.push(UNBIND_IRC, params![e.channel.casefold(), e.room_id]),
        Event::SmsNumberBound(e) => out.push(BIND_SMS, params![e.number.to_string(), e.room_id, at]),
        Event::SmsNumberUnbound(e) => out.push(UNBIND_SMS, params![e.number.to_string(), e.room_id]),
        Event::MemberJoined(e) => {
            let key = member_key(&e.member);
            let gateway = e.gateway.to_string();
            out.push(
                JOIN,
                params![
                    e.room_id,
                    key.clone(),
                    e.member.user_id,
                    e.member.nick.to_string(),
                    gateway.clone(),
                    e.mask.as_ref().map(|m| m.to_string()),
                    e.phone.as_ref().map(|p| p.to_string()),
                    e.is_bot,
                    at
                ],
            );
            out.push(MEMBERSHIP_OPEN, params![e.room_id, key, at, e.member.user_id, e.member.nick.to_string(), gateway]);
        }
        // A kick is recorded as MemberKicked (who, why, by whom) followed by MemberLeft.
        Event::MemberLeft(e) => leave(out, e.room_id, &e.member, at, snake(&e.reason)),
        Event::MemberIdentified(e) => {
            let guest = member_key(&MemberRef { user_id: None, nick: e.nick.clone() });
            let account = e.user_id.to_string();
            out.push(IDENTIFY_MEMBER, params![e.room_id, guest.clone(), account.clone(), e.user_id]);
            out.push(LEAVE, params![e.room_id, guest.clone()]);
            out.push(MEMBERSHIP_CLOSE, params![e.room_id, guest.clone(), at, Some("identified".to_owned())]);
            out.push(
                MEMBERSHIP_OPEN,
                params![e.room_id, account.clone(), at, Some(e.user_id), e.nick.to_string(), domain::Gateway::Irc.to_string()],
            );
            out.push(MUTE_IDENTIFY_EXTEND, params![e.room_id, guest.clone(), account.clone(), at]);
            out.push(MUTE_IDENTIFY_CARRY, params![e.room_id, guest.clone(), account, at, e.user_id]);
            out.push(MUTE_CLOSE, params![e.room_id, guest.clone(), at, None::<String>]);
            out.push(PERSONAL_IDENTIFY_CARRY, params![e.room_id, guest.clone(), e.user_id.to_string(), e.user_id, at]);
            out.push(PERSONAL_CLOSE_OF, params![e.room_id, guest, at]);
        }
        Event::NickChanged(e) => out.push(RENAME_MEMBER, params![e.user_id, e.new.to_string()]),
        Event::ChannelModeChanged(e) => {
            let (sql, on) = match e.mode {
                ChannelMode::Voice => (MODE_VOICE, true),
                ChannelMode::Devoice => (MODE_VOICE, false),
                ChannelMode::Op => (MODE_OP, true),
                ChannelMode::Deop => (MODE_OP, false),
            };
            out.push(sql, params![e.room_id, e.nick.casefold(), on]);
        }
        Event::UserBanned(e) => {
            let (user, mask) = target_columns(&e.target);
            out.push(
                BAN,
                params![e.ban_id, e.room_id, user, mask, e.reason.as_ref().map(|r| r.to_string()), e.by.to_string(), at, e.until],
            );
        }
        Event::UserUnbanned(e) => out.push(UNBAN, params![e.ban_id, at, e.by.to_string()]),
        Event::RoomMuteSet(e) => {
            let key = member_key(&e.target);
            out.push(MUTE_CLOSE, params![e.room_id, key.clone(), at, e.by.to_string()]);
            out.push(MUTE_OPEN, params![e.room_id, key, at, e.target.user_id, e.target.nick.to_string(), e.by.to_string(), e.until]);
        }
        Event::RoomMuteLifted(e) => out.push(MUTE_CLOSE, params![e.room_id, member_key(&e.target), at, e.by.to_string()]),
        Event::PersonalMuteSet(e) => {
            let key = MemberKey::of_mutee(&e.mutee).to_string();
            let (user, nick) = match &e.mutee {
                Mutee::User(id) => (Some(*id), None),
                Mutee::Guest { nick } => (None, Some(nick.to_string())),
            };
            out.push(PERSONAL_CLOSE, params![e.room_id, e.muter, key.clone(), at]);
            out.push(PERSONAL_OPEN, params![e.room_id, e.muter, key, at, user, nick]);
        }
        Event::PersonalMuteLifted(e) => {
            out.push(PERSONAL_CLOSE, params![e.room_id, e.muter, MemberKey::of_mutee(&e.mutee).to_string(), at])
        }
        Event::BanRequested(e) => {
            let (user, mask) = target_columns(&e.target);
            out.push(REQUEST, params![e.request_id, e.room_id, user, mask, e.reason.to_string(), e.by.to_string(), at]);
        }
        Event::BanRequestApproved(e) => out.push(DECIDE, params![e.request_id, "approved", e.by.to_string(), at, Some(e.ban_id)]),
        Event::BanRequestRejected(e) => out.push(DECIDE, params![e.request_id, "rejected", e.by.to_string(), at, None::<Uuid>]),
        Event::InviteIssued(e) => {
            let (phone, user) = match &e.invitee {
                Invitee::Phone { phone } => (Some(phone.to_string()), None),
                Invitee::User { user_id } => (None, Some(*user_id)),
            };
            out.push(INVITE, params![e.invite_id, e.room_id, phone, user, e.by.to_string(), at]);
        }
        Event::InviteAccepted(e) => out.push(ACCEPT, params![e.invite_id, e.user_id, at]),
        _ => {}
    }
}

fn leave(out: &mut Writes, room_id: Uuid, member: &MemberRef, at: DateTime<Utc>, reason: String) {
    let key = member_key(member);
    out.push(LEAVE, params![room_id, key.clone()]);
    out.push(MEMBERSHIP_CLOSE, params![room_id, key.clone(), at, Some(reason)]);
    out.push(PERSONAL_CLOSE_ALL, params![room_id, member.user_id, key, at]);
}
