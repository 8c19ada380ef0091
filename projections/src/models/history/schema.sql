-- history: every message posted in a room (say, /me action, notice), for history pages and
-- statistics. Paged by (room_id, posted_at, message_id).
CREATE TABLE messages (
    message_id  uuid        PRIMARY KEY,
    room_id     uuid        NOT NULL,
    posted_at   timestamptz NOT NULL,
    author_id   uuid,
    author_nick text        NOT NULL,
    kind        text        NOT NULL,
    gateway     text        NOT NULL,
    body        text        NOT NULL
);

-- Messages per UTC hour, room, author and gateway: what statistics over whole hours add up, so a chart
-- of a week reads one row per hour, room and author instead of every message. The unique key
-- is the writer's upsert target (NULLS NOT DISTINCT: the bot's messages have no author).
CREATE TABLE message_counts (
    hour      timestamptz NOT NULL,
    room_id   uuid        NOT NULL,
    author_id uuid,
    gateway   text        NOT NULL,
    messages  bigint      NOT NULL,
    UNIQUE NULLS NOT DISTINCT (hour, room_id, author_id, gateway)
);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
CREATE INDEX messages_room_time ON messages (room_id, posted_at, message_id);
CREATE INDEX messages_author_time ON messages (author_id, posted_at) WHERE author_id IS NOT NULL;
