-- rooms: rooms and their bindings, topics over time, current members, bans, mutes, ban
-- requests, invites, channel modes. memberships, bans, room_mutes and personal_mutes are temporal (valid tstzrange), so the
-- members/bans/mutes of a room as of T are one GiST lookup each.
CREATE TABLE rooms (
    room_id     uuid        PRIMARY KEY,
    name        text        NOT NULL,
    invite_only boolean     NOT NULL,
    topic       text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE room_irc_channels (
    channel_fold text       PRIMARY KEY,
    channel     text        NOT NULL,
    room_id     uuid        NOT NULL,
    channel_key text,
    bound_at    timestamptz NOT NULL
);

CREATE TABLE room_sms_numbers (
    number      text        PRIMARY KEY,
    room_id     uuid        NOT NULL,
    bound_at    timestamptz NOT NULL
);

-- Every topic a room had, from the moment it was set: the topic of the room as it was at T is
-- the newest one set at or before T.
CREATE TABLE room_topics (
    room_id     uuid        NOT NULL,
    topic       text        NOT NULL,
    set_at      timestamptz NOT NULL
);

-- member_key: the user id, or `nick:<casefolded nick>` for IRC guests without an account.
CREATE TABLE members (
    room_id     uuid        NOT NULL,
    member_key  text        NOT NULL,
    user_id     uuid,
    nick        text        NOT NULL,
    gateway     text        NOT NULL,
    mask        text,
    phone       text,
    is_bot      boolean     NOT NULL,
    voice       boolean     NOT NULL DEFAULT false,
    op          boolean     NOT NULL DEFAULT false,
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (room_id, member_key)
);
CREATE INDEX members_user ON members (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX members_nick ON members (room_id, lower(nick));

CREATE TABLE memberships (
    room_id     uuid        NOT NULL,
    member_key  text        NOT NULL,
    user_id     uuid,
    nick        text        NOT NULL,
    gateway     text        NOT NULL,
    left_reason text,
    valid       tstzrange   NOT NULL
);
-- What the handlers look periods up by (the exclusion constraint is added after a bulk load).
CREATE INDEX memberships_key ON memberships (member_key, room_id);

CREATE TABLE bans (
    ban_id      uuid        PRIMARY KEY,
    room_id     uuid        NOT NULL,
    target_user uuid,
    target_mask text,
    reason      text,
    by_actor    text        NOT NULL,
    banned_at   timestamptz NOT NULL,
    until       timestamptz,
    lifted_at   timestamptz,
    lifted_by   text,
    -- In force from banned_at until lifted or expired.
    valid       tstzrange   NOT NULL
);

CREATE TABLE room_mutes (
    room_id     uuid        NOT NULL,
    member_key  text        NOT NULL,
    user_id     uuid,
    nick        text        NOT NULL,
    by_actor    text        NOT NULL,
    until       timestamptz,
    lifted_by   text,
    -- In force from when it was set until lifted or expired.
    valid       tstzrange   NOT NULL
);
-- What the handlers look periods up by (the exclusion constraint is added after a bulk load).
CREATE INDEX room_mutes_key ON room_mutes (member_key, room_id);

-- The muter is always an account (SMS members have one); the mutee is any member, keyed as in
-- members (mutee_key), with their account or, for an IRC guest, their nick as written.
CREATE TABLE personal_mutes (
    room_id     uuid        NOT NULL,
    muter       uuid        NOT NULL,
    mutee_key   text        NOT NULL,
    mutee       uuid,
    mutee_nick  text,
    valid       tstzrange   NOT NULL
);
-- What the handlers look periods up by (the exclusion constraint is added after a bulk load).
CREATE INDEX personal_mutes_key ON personal_mutes (muter, mutee_key, room_id);
-- Leaving a room ends the open mutes by and of the one who left.
CREATE INDEX personal_mutes_open_muter ON personal_mutes (room_id, muter) WHERE upper_inf(valid);
CREATE INDEX personal_mutes_open_mutee ON personal_mutes (room_id, mutee_key) WHERE upper_inf(valid);

CREATE TABLE ban_requests (
    request_id  uuid        PRIMARY KEY,
    room_id     uuid        NOT NULL,
    target_user uuid,
    target_mask text,
    reason      text        NOT NULL,
    by_actor    text        NOT NULL,
    requested_at timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'rejected')),
    decided_by  text,
    decided_at  timestamptz,
    ban_id      uuid
);

CREATE TABLE invites (
    invite_id   uuid        PRIMARY KEY,
    room_id     uuid        NOT NULL,
    invitee_phone text,
    invitee_user uuid,
    by_actor    text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    accepted_by uuid,
    accepted_at timestamptz
);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
CREATE INDEX room_irc_channels_room ON room_irc_channels (room_id);
CREATE INDEX room_sms_numbers_room ON room_sms_numbers (room_id);
CREATE INDEX room_topics_room_time ON room_topics (room_id, set_at);
-- "Members of a room as of T": the room's periods containing T, straight from a GiST index, so
-- the cost follows the room's size at T, not its whole history. The price: joins and leaves,
-- far rarer than messages, each write a GiST entry rather than a btree entry; a rebuild builds
-- the index once after the load. Figures: BENCHMARKS.md, "Projections: as-of queries".
CREATE INDEX memberships_room_valid ON memberships USING gist (room_id, valid);
-- A page of a room's members in join order (`members_page`): an ordered walk from the cursor that
-- stops at the time asked for, skipping the periods that ended before it (BENCHMARKS.md, scale:
-- what that costs late in a long history).
CREATE INDEX memberships_room_start ON memberships (room_id, lower(valid), member_key);
CREATE INDEX members_room_joined ON members (room_id, joined_at, member_key);
CREATE INDEX bans_room_valid ON bans USING gist (room_id, valid);
CREATE INDEX bans_user ON bans (target_user) WHERE target_user IS NOT NULL;
CREATE INDEX room_mutes_room_valid ON room_mutes USING gist (room_id, valid);
CREATE INDEX personal_mutes_room_valid ON personal_mutes USING gist (room_id, valid);
CREATE INDEX ban_requests_open ON ban_requests (room_id) WHERE status = 'open';
CREATE INDEX invites_room ON invites (room_id);
-- No two periods of one key overlap. Checked by every write once added; a bulk load adds them
-- at its end (one GiST build and check instead of a GiST search and insert per row, the larger
-- part of a join's cost). The key is (room, member): it enters as one 128-bit digest of both
-- (md5 as a uuid; the room id's text has a fixed length, so the concatenation is unambiguous).
-- btree_gist's text keys make every search slow, and the digest refuses everything the
-- key would. Two different keys would also need equal digests to be refused; guests choose their
-- nicks, so the digest must be one nobody can collide on purpose within nick characters (a
-- 64-bit hash could be, by a birthday search). No room_id column of its own: with one, the
-- planner takes this index for "members of a room as of T" and, unable to prune by a non-leading
-- column, scans most of it instead of using memberships_room_valid.
ALTER TABLE memberships ADD CONSTRAINT memberships_no_overlap EXCLUDE USING gist ((md5(room_id::text || member_key)::uuid) WITH =, valid WITH &&);
ALTER TABLE room_mutes ADD CONSTRAINT room_mutes_no_overlap EXCLUDE USING gist ((md5(room_id::text || member_key)::uuid) WITH =, valid WITH &&);
ALTER TABLE personal_mutes ADD CONSTRAINT personal_mutes_no_overlap EXCLUDE USING gist ((md5(room_id::text || muter::text || mutee_key)::uuid) WITH =, valid WITH &&);
