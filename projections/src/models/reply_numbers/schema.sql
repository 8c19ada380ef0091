-- reply_numbers: for each SMS room, the members who receive text by SMS. sms_recipients holds
-- one row per member; sms_room_lists holds, per room, the recipients who have not stopped as
-- three parallel arrays, refreshed by each batch that changes the room. "Who receives this
-- sender's message" is then one row (plus the sender's personal muters), however big the room:
--   SELECT user_ids, phones FROM sms_room_lists WHERE room_id = $1  -- less sender and muters
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

-- Parallel arrays, one element per recipient who has not stopped (same order in all three).
CREATE TABLE sms_room_lists (
    room_id     uuid        PRIMARY KEY,
    user_ids    uuid[]      NOT NULL,
    phones      text[]      NOT NULL,
    nicks       text[]      NOT NULL
);
-- Stored uncompressed: the lists are read far more often than written, and decompressing a big
-- room's lists cost more than reading them.
ALTER TABLE sms_room_lists ALTER user_ids SET STORAGE EXTERNAL, ALTER phones SET STORAGE EXTERNAL, ALTER nicks SET STORAGE EXTERNAL;

-- The stop state of every user, so a member joining a room later inherits it.
CREATE TABLE sms_users (
    user_id     uuid        PRIMARY KEY,
    stopped     boolean     NOT NULL DEFAULT false
);

-- The mutee is a member key, as the rooms read model writes it: an account's id, or `nick:` and
-- an IRC guest's casefolded nick. The muter is always an account (SMS members have one).
CREATE TABLE sms_personal_mutes (
    room_id     uuid        NOT NULL,
    muter       uuid        NOT NULL,
    mutee       text        NOT NULL,
    PRIMARY KEY (room_id, muter, mutee)
);
-- Who muted this sender: one probe.
CREATE INDEX sms_personal_mutes_mutee ON sms_personal_mutes (room_id, mutee);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
