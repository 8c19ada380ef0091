-- V1: the event store.
--
-- Three tables: es_streams (one row per stream: the concurrency anchor), es_events (the log),
-- es_checkpoints (one row per subscriber/projection). Read models live in later migrations.
--
-- Ordering and gap-freedom: events are read in (log_era, tx_id, global_position) order, and only
-- rows whose writing transaction is older than every transaction still running
-- (tx_id < pg_snapshot_xmin(pg_current_snapshot())). A transaction that commits late therefore
-- always sorts after any checkpoint already taken: no event is ever skipped. See ARCHITECTURE.md.

-- The current log era. Bumped only after a *logical* restore (pg_dump/pg_restore into a new
-- cluster), which restarts the transaction-id counter; the era keeps old positions ordered
-- before new ones. Physical backups and pg_upgrade keep the counter and need no bump.
CREATE TABLE es_log (
    singleton   boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
    current_era smallint NOT NULL DEFAULT 1
);
INSERT INTO es_log DEFAULT VALUES;

CREATE TABLE es_streams (
    -- Appends hold the stream's advisory lock (see es_append_group) and compare `version` with
    -- the expected version before writing.
    stream_id  text        PRIMARY KEY,
    category   text        NOT NULL,
    -- Version of the last event written; -1 for a stream with no events yet.
    version    bigint      NOT NULL DEFAULT -1,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE es_events (
    log_era         smallint    NOT NULL,
    -- Top-level transaction id of the writer; assigned by PostgreSQL, never by the client.
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Tie-break inside one transaction only; alone it is NOT a safe checkpoint (late commits).
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    stream_id       text        NOT NULL REFERENCES es_streams (stream_id),
    category        text        NOT NULL,
    stream_version  bigint      NOT NULL,
    -- The client's idempotency key: re-appending the same ids returns the original result.
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  smallint    NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    -- Extracted for the audit log's actor filter.
    actor           text GENERATED ALWAYS AS (metadata ->> 'actor') STORED,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (stream_id, stream_version),
    UNIQUE (event_id)
);

-- The global order ($all).
CREATE UNIQUE INDEX es_events_log ON es_events (log_era, tx_id, global_position);
-- Filtered catch-up and rebuilds by event type.
CREATE INDEX es_events_type_log ON es_events (event_type, log_era, tx_id, global_position);
-- Audit log: "what did this actor do, and when".
CREATE INDEX es_events_actor_time ON es_events (actor, recorded_at);
-- Time → position lookups for historic replay; BRIN because recorded_at grows with the log.
CREATE INDEX es_events_recorded_brin ON es_events USING brin (recorded_at);

CREATE TABLE es_checkpoints (
    subscriber      text        PRIMARY KEY,
    log_era         smallint    NOT NULL DEFAULT 0,
    tx_id           xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- es_append_group: appends a group of independent appends in the caller's transaction.
--
-- Concurrent appends are batched by the client into one transaction (group commit: one fsync
-- for many appends), yet each append keeps its own expected-version check and its own outcome:
-- one append's conflict does not fail the others. The work is set-based: a handful of statements
-- per group whatever its size (per-statement overhead, not the fsync, dominated a per-append loop).
--
-- Arguments are parallel arrays. Per append i: a_stream[i], a_category[i], a_expected[i]
-- (-1 any, -2 no stream, -3 stream exists, n >= 0 exact version). Per event j: e_append[j]
-- (1-based append index; events of one append are contiguous and in order), e_event_id[j],
-- e_type[j], e_schema[j], e_payload[j], e_metadata[j].
--
-- One row per append comes back: outcome 'ok' | 'duplicate' (all ids already stored in this
-- stream, in order: the original result) | 'conflict' (expected version not met) |
-- 'idempotency_mismatch' (some ids stored, others not, or stored elsewhere), the stream's
-- version afterwards (or the actual version on conflict), and the position of the last event.
--
-- It must be the first write of its transaction (see step 2).
CREATE FUNCTION es_append_group(
    a_stream   text[],
    a_category text[],
    a_expected bigint[],
    e_append   int[],
    e_event_id uuid[],
    e_type     text[],
    e_schema   smallint[],
    e_payload  jsonb[],
    e_metadata jsonb[]
) RETURNS TABLE (
    append_index    int,
    outcome         text,
    stream_version  bigint,
    log_era         smallint,
    tx_id           text,
    global_position bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n_appends  int := coalesce(array_length(a_stream, 1), 0);
    n_events   int := coalesce(array_length(e_append, 1), 0);
    era        smallint;
    i          int;
    j          int;
    k          int;
    lo         int;
    hi         int;
    cur        bigint;
    lock_key   bigint;
    dup_count  int;
    dup_ok     boolean;
    dup_ver    bigint;
    dup_era    smallint;
    dup_tx     text;
    dup_pos    bigint;
    -- Per append: its event range, and whether it is settled before the insert.
    first_ev   int[] := array_fill(0, ARRAY[n_appends]);
    last_ev    int[] := array_fill(-1, ARRAY[n_appends]);
    settled    boolean[] := array_fill(false, ARRAY[n_appends]);
    -- Per event: the version it gets, NULL when its append is not written.
    ev_version bigint[] := array_fill(NULL::bigint, ARRAY[n_events]);
    -- The group's distinct streams and their versions as the appends advance them.
    streams    text[];
    versions   bigint[];
    -- Appends that write: index, stream, version of their last event.
    ok_index   int[] := '{}';
    ok_stream  text[] := '{}';
    ok_cat     text[] := '{}';
    ok_last    bigint[] := '{}';
BEGIN
    SELECT l.current_era INTO era FROM es_log l;

    FOR j IN 1 .. n_events LOOP
        IF first_ev[e_append[j]] = 0 THEN first_ev[e_append[j]] := j; END IF;
        last_ev[e_append[j]] := j;
    END LOOP;

    -- 1. Idempotency, before any write. Fast path: none of the ids is stored (the usual case).
    IF EXISTS (SELECT 1 FROM es_events e WHERE e.event_id = ANY (e_event_id)) THEN
        FOR i IN 1 .. n_appends LOOP
            lo := first_ev[i];
            hi := last_ev[i];
            CONTINUE WHEN lo = 0;
            -- Same stream, and versions in the same order as the ids (constant offset).
            SELECT count(*),
                   bool_and(e.stream_id = a_stream[i])
                     AND min(e.stream_version - ids.ord) = max(e.stream_version - ids.ord),
                   max(e.stream_version), max(e.log_era), max(e.tx_id::text), max(e.global_position)
              INTO dup_count, dup_ok, dup_ver, dup_era, dup_tx, dup_pos
              FROM unnest(e_event_id[lo:hi]) WITH ORDINALITY AS ids(id, ord)
              JOIN es_events e ON e.event_id = ids.id;
            IF dup_count = hi - lo + 1 AND dup_ok THEN
                settled[i] := true;
                RETURN QUERY SELECT i, 'duplicate'::text, dup_ver, dup_era, dup_tx, dup_pos;
            ELSIF dup_count > 0 THEN
                settled[i] := true;
                RETURN QUERY SELECT i, 'idempotency_mismatch'::text, NULL::bigint, NULL::smallint,
                                    NULL::text, NULL::bigint;
            END IF;
        END LOOP;
    END IF;

    -- 2. Lock every stream of the group, in one sorted pass (two groups never wait on each
    --    other in opposite orders), BEFORE the first write.
    --
    --    Why advisory locks and not SELECT … FOR UPDATE on es_streams: a row lock assigns the
    --    transaction id before it waits, so a writer could hold an older xid than the writer
    --    that got the lock first, and the log (ordered by xid) would deliver that stream's
    --    versions out of order. Advisory locks assign no xid; the xid comes with the first
    --    write below, while every stream lock is held, so on each stream xid order equals
    --    version order. Waiting without an xid also keeps the subscribers' watermark moving.
    FOR lock_key IN
        SELECT DISTINCT hashtextextended(t.sid, 0) FROM unnest(a_stream) AS t(sid) ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
    END LOOP;

    -- 3. Current versions (a fresh snapshot: sees every commit made before our locks).
    SELECT array_agg(t.sid), array_agg(coalesce(s.version, -1))
      INTO streams, versions
      FROM (SELECT DISTINCT u.sid FROM unnest(a_stream) AS u(sid)) t
      LEFT JOIN es_streams s ON s.stream_id = t.sid;

    -- 4. Check each append in order, in memory; later appends to the same stream see the
    --    versions earlier ones reach.
    FOR i IN 1 .. n_appends LOOP
        CONTINUE WHEN settled[i];
        k := array_position(streams, a_stream[i]);
        cur := versions[k];
        IF (a_expected[i] = -2 AND cur <> -1)
           OR (a_expected[i] = -3 AND cur = -1)
           OR (a_expected[i] >= 0 AND cur <> a_expected[i]) THEN
            RETURN QUERY SELECT i, 'conflict'::text, cur, NULL::smallint, NULL::text, NULL::bigint;
            CONTINUE;
        END IF;
        IF first_ev[i] = 0 THEN
            -- An empty append only checks the expected version.
            RETURN QUERY SELECT i, 'ok'::text, cur, NULL::smallint, NULL::text, NULL::bigint;
            CONTINUE;
        END IF;
        FOR j IN first_ev[i] .. last_ev[i] LOOP
            ev_version[j] := cur + (j - first_ev[i] + 1);
        END LOOP;
        versions[k] := cur + (last_ev[i] - first_ev[i] + 1);
        ok_index := ok_index || i;
        ok_stream := ok_stream || a_stream[i];
        ok_cat := ok_cat || a_category[i];
        ok_last := ok_last || versions[k];
    END LOOP;

    IF cardinality(ok_index) = 0 THEN
        RETURN;
    END IF;

    -- 5. Stream rows first (the events reference them): create new streams, set the versions
    --    reached. We hold every stream's lock, so no other append races these rows.
    INSERT INTO es_streams AS s (stream_id, category, version)
    SELECT DISTINCT ON (t.sid) t.sid, t.cat, t.v
      FROM unnest(ok_stream, ok_cat, ok_last) AS t(sid, cat, v)
     ORDER BY t.sid, t.v DESC
    ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version;

    -- 6. All accepted events in one insert; the primary key (stream_id, stream_version) is a
    --    second safety net behind the locks. Each writing append gets the position of its
    --    last event.
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO es_events (log_era, stream_id, category, stream_version, event_id,
                               event_type, schema_version, payload, metadata)
        SELECT era, a_stream[ev.app], a_category[ev.app], ev_version[ev.ord], ev.id, ev.typ,
               ev.sv, ev.pl, ev.md
          FROM unnest(e_append, e_event_id, e_type, e_schema, e_payload, e_metadata)
               WITH ORDINALITY AS ev(app, id, typ, sv, pl, md, ord)
         WHERE ev_version[ev.ord] IS NOT NULL
         ORDER BY ev.ord
        RETURNING es_events.stream_id, es_events.stream_version, es_events.global_position
    )
    SELECT a.idx, 'ok'::text, a.last_v, era, pg_current_xact_id()::text, ins.global_position
      FROM unnest(ok_index, ok_stream, ok_last) AS a(idx, sid, last_v)
      JOIN inserted ins ON ins.stream_id = a.sid AND ins.stream_version = a.last_v;

    -- A pure wake-up for subscribers; delivered only if this transaction commits.
    PERFORM pg_notify('es_events', '');
END;
$$;

-- The array arguments make PostgreSQL's plan cache keep re-planning each statement for every
-- call (custom plans look cheaper than the generic one on paper); the generic plans are right
-- for every group size and save about 0.1–0.15 ms per call (BENCHMARKS.md).
ALTER FUNCTION es_append_group SET plan_cache_mode = force_generic_plan;
