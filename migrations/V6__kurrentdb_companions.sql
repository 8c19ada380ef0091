-- V6: what the KurrentDB backend keeps in PostgreSQL, beside the read models.
--
-- With `[store] backend = "kurrentdb"` the log lives in KurrentDB, which has no lookup of an
-- event by id and deduplicates event ids only within one stream. The store needs both (Twilio
-- webhooks are idempotent on their MessageSid through `find_event`; an id is unique across the
-- whole log), so the backend indexes every event id here: written by the append that stored the
-- event, and caught up from `$all` by a background indexer (an append whose process died between
-- KurrentDB's answer and this write, or events another process or `log copy` wrote).
-- Positions are KurrentDB's two halves, commit and prepare; both are kept (one half alone does
-- not identify an event of a multi-event append). They are unsigned 64-bit on the server and
-- stored as bigint: log positions stay far below 2^63.
-- Checkpoints (projections' and log followers') stay in es_checkpoints under either backend: a
-- KurrentDB position is kept there as log_era -1, tx_id = commit, global_position = prepare
-- (PostgreSQL eras start at 1).
-- Under the PostgreSQL backend these tables stay empty.

CREATE TABLE kurrent_event_index (
    event_id         uuid   PRIMARY KEY,
    stream_id        text   NOT NULL,
    stream_version   bigint NOT NULL,
    commit_position  bigint NOT NULL,
    prepare_position bigint NOT NULL
);

-- Where the background indexer has read `$all` up to (one row).
CREATE TABLE kurrent_index_progress (
    only_row         boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    commit_position  bigint      NOT NULL,
    prepare_position bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
