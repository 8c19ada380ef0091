-- users: who everyone is now, with their IRC sessions and API/IRC tokens; plus the temporal
-- history of nicks, levels and privacy ("as of T" is one GiST lookup on `valid`).
CREATE TABLE users (
    user_id         uuid        PRIMARY KEY,
    nick            text        NOT NULL,
    nick_fold       text        NOT NULL UNIQUE,
    registered_via  text        NOT NULL,
    level           smallint    NOT NULL DEFAULT 0,
    private         boolean     NOT NULL DEFAULT true,
    about           text,
    phone           text,
    sms_stopped     boolean     NOT NULL DEFAULT false,
    username        text,
    email           text,
    email_verified  boolean     NOT NULL DEFAULT false,
    irc_nick        text,
    irc_mask        text,
    login_locked_until timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX users_username ON users (lower(username)) WHERE username IS NOT NULL;

CREATE TABLE irc_sessions (
    session_id  uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    nick        text        NOT NULL,
    mask        text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    end_reason  text
);

CREATE TABLE api_tokens (
    token_id    uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    token_hash  text        NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE irc_tokens (
    token_id    uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    token_hash  text        NOT NULL,
    purpose     text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    revoked_why text
);

CREATE TABLE nick_history (
    user_id     uuid        NOT NULL,
    nick        text        NOT NULL,
    nick_fold   text        NOT NULL,
    valid       tstzrange   NOT NULL
);
-- What the handlers look periods up by (the exclusion constraint is added after a bulk load).
CREATE INDEX nick_history_key ON nick_history (user_id);

CREATE TABLE level_history (
    user_id     uuid        NOT NULL,
    level       smallint    NOT NULL,
    by_actor    text        NOT NULL,
    valid       tstzrange   NOT NULL
);
-- What the handlers look periods up by (the exclusion constraint is added after a bulk load).
CREATE INDEX level_history_key ON level_history (user_id);

CREATE TABLE privacy_history (
    user_id     uuid        NOT NULL,
    private     boolean     NOT NULL,
    valid       tstzrange   NOT NULL
);
-- What the handlers look periods up by (the exclusion constraint is added after a bulk load).
CREATE INDEX privacy_history_key ON privacy_history (user_id);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
CREATE INDEX users_level ON users (level);
CREATE INDEX irc_sessions_open ON irc_sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX irc_tokens_user ON irc_tokens (user_id);
-- Who had a nick at T. Not an exclusion constraint: the release by one user and the claim by
-- the next are recorded by different transactions whose clocks may disagree by microseconds.
CREATE INDEX nick_history_nick ON nick_history USING gist (nick_fold, valid);
-- No two periods of one user overlap: checked by every write once added (see rooms/schema.sql).
ALTER TABLE nick_history ADD CONSTRAINT nick_history_no_overlap EXCLUDE USING gist (user_id WITH =, valid WITH &&);
ALTER TABLE level_history ADD CONSTRAINT level_history_no_overlap EXCLUDE USING gist (user_id WITH =, valid WITH &&);
ALTER TABLE privacy_history ADD CONSTRAINT privacy_history_no_overlap EXCLUDE USING gist (user_id WITH =, valid WITH &&);
