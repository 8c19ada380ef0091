-- last_seen: per nick and room, the last time the nick was seen there and what they said or did.
-- room_id is the nil uuid for what happens outside rooms (a nick change).
CREATE TABLE last_seen (
    nick_fold   text        NOT NULL,
    room_id     uuid        NOT NULL,
    nick        text        NOT NULL,
    user_id     uuid,
    seen_at     timestamptz NOT NULL,
    gateway     text        NOT NULL,
    -- said | action | notice | joined | left | kicked | nick_changed
    activity    text        NOT NULL,
    -- What they said (or the new nick, the leave reason); shown only for public rooms.
    detail      text,
    PRIMARY KEY (nick_fold, room_id)
);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
CREATE INDEX last_seen_user ON last_seen (user_id) WHERE user_id IS NOT NULL;
