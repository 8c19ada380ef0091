-- Projection bookkeeping. Each projection's tables live in a schema of their own per
-- *generation* (`proj_<name>_g<n>`), written only by that projection's runner. Readers never name
-- a generation: they read views in the `read` schema, which a rebuild repoints in one
-- transaction when the new generation has caught up (zero-downtime switch-over).
--
-- btree_gist gives GiST operator classes for uuid/text so the temporal tables can have
-- exclusion constraints such as EXCLUDE USING gist (room_id WITH =, valid WITH &&).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE SCHEMA IF NOT EXISTS read;

CREATE TABLE es_projections (
    name            text        PRIMARY KEY,
    -- The version of the code that built the live generation; a new version is built side by side.
    version         integer     NOT NULL,
    -- The live generation: its tables are in schema proj_<name>_g<generation>.
    generation      integer     NOT NULL,
    -- The tables of the live generation, each exposed as read.<table>.
    tables          text[]      NOT NULL DEFAULT '{}',
    -- 'live' or 'failed' (a handler refused an event; see error and error_position).
    state           text        NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'failed')),
    error           text,
    error_position  text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- When did the log reach a time? Historic replay and the audit log's time filters need an
-- ordered index on recorded_at: the V1 BRIN index answers ranges but cannot find "the last event
-- at or before T" without scanning everything before T.
DROP INDEX es_events_recorded_brin;
CREATE INDEX es_events_recorded ON es_events (recorded_at, global_position);

-- The last position recorded at or before a time (NULL row set when the log starts later).
CREATE FUNCTION es_position_at(t timestamptz) RETURNS TABLE (log_era smallint, tx_id text, global_position bigint)
LANGUAGE sql STABLE AS $$
    SELECT e.log_era, e.tx_id::text, e.global_position
    FROM es_events e
    WHERE e.recorded_at <= t
    ORDER BY e.recorded_at DESC, e.global_position DESC
    LIMIT 1
$$;
