-- reply_numbers: for each SMS room, the members who receive text by SMS, denormalised so that
-- "who receives this sender's message" is one indexed query:
--   SELECT phone FROM sms_recipients r WHERE room_id = $1 AND user_id <> $2 AND NOT stopped
--     AND user_id NOT IN (SELECT muter FROM sms_personal_mutes WHERE room_id = $1 AND mutee = $2)
CREATE TABLE sms_recipients (
    room_id     uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    phone       text        NOT NULL,
    nick        text        NOT NULL,
    stopped     boolean     NOT NULL,
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX sms_recipients_user ON sms_recipients (user_id);

-- The stop state of every user, so a member joining a room later inherits it.
CREATE TABLE sms_users (
    user_id     uuid        PRIMARY KEY,
    stopped     boolean     NOT NULL DEFAULT false
);

CREATE TABLE sms_personal_mutes (
    room_id     uuid        NOT NULL,
    muter       uuid        NOT NULL,
    mutee       uuid        NOT NULL,
    PRIMARY KEY (room_id, muter, mutee)
);
-- Who muted this sender: one probe, then a hashed NOT IN over the room's recipients.
CREATE INDEX sms_personal_mutes_mutee ON sms_personal_mutes (room_id, mutee);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
-- The fan-out list of a room in one index-only scan.
CREATE INDEX sms_recipients_fanout ON sms_recipients (room_id) INCLUDE (user_id, phone, nick, stopped);
