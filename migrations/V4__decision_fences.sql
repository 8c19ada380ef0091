-- V4: decision fences — appends that need only "nothing that matters changed", not "nothing
-- changed".
--
-- A busy room's stream is mostly chat messages, and no room decision depends on a message (the
-- room aggregate's fold ignores them). An exact expected version made every post contend with
-- every other post for the stream's next version, so a room taking hundreds of posts a second
-- refused some after the executor's retries ran out. Each stream now also records its *fence*:
-- the version of the last event written by an append that was not marked inert. An append may
-- expect the fence instead of the version: it is accepted when no fencing event was written
-- after the version it decided on, whatever inert events were written since. A ban or a mute is
-- a fencing event, so a post decided before it is still refused at append time and decided
-- again on the new state; posts no longer refuse each other.
--
-- The append functions take two more per-append arrays:
--   a_fence[i]  NULL: no fence check; n >= 0: the stream's fence must be <= n (and its version
--               >= n: the decision saw version n, which must still exist). Used with -3 in
--               a_expected (the stream exists).
--   a_inert[i]  true: the append's events leave the fence where it was (chat messages).

-- Existing streams: every event written so far counts as fencing (the safe side).
ALTER TABLE es_streams ADD COLUMN fence bigint NOT NULL DEFAULT -1;
UPDATE es_streams SET fence = version;
COMMENT ON COLUMN es_streams.fence IS
    'Version of the last event written by an append not marked inert; -1 for none. Checked, '
    'under the stream''s lock, by appends that expect a fence (see V4).';

DROP FUNCTION es_append_disjoint(text[], text[], bigint[], int[], int[], int[], uuid[], text[], smallint[], jsonb[], jsonb[]);
DROP FUNCTION es_append_group(text[], text[], bigint[], int[], uuid[], text[], smallint[], jsonb[], jsonb[]);

-- es_append_disjoint: as in V3, with the fence checked and advanced in the same statement.
CREATE FUNCTION es_append_disjoint(
    a_stream   text[],
    a_category text[],
    a_expected bigint[],
    a_fence    bigint[],
    a_inert    boolean[],
    a_count    int[],
    e_append   int[],
    e_index    int[],
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
    written int;
BEGIN
    PERFORM pg_advisory_xact_lock(k)
       FROM (SELECT DISTINCT hashtextextended(s, 0) AS k FROM unnest(a_stream) AS s ORDER BY 1) AS locks;

    -- One statement, one snapshot taken after the locks (see V3). A stream row advances only if
    -- its version meets the expected one and its fence the expected fence; the fence moves to
    -- the append's last version unless the append is inert.
    RETURN QUERY
    WITH input AS MATERIALIZED (
        SELECT a.sid, a.cat, a.exp, a.fen, a.inert, a.n, a.idx::int AS idx
          FROM unnest(a_stream, a_category, a_expected, a_fence, a_inert, a_count)
               WITH ORDINALITY AS a(sid, cat, exp, fen, inert, n, idx)
    ), advanced AS (
        UPDATE es_streams s
           SET version = s.version + i.n,
               fence = CASE WHEN i.inert THEN s.fence ELSE s.version + i.n END
          FROM input i
         WHERE s.stream_id = i.sid
           AND (i.exp = -1 OR (i.exp = -3 AND s.version >= 0) OR (i.exp = -2 AND s.version = -1) OR s.version = i.exp)
           AND (i.fen IS NULL OR (s.fence <= i.fen AND s.version >= i.fen))
        RETURNING i.idx, s.version - i.n AS base
    ), created AS (
        INSERT INTO es_streams (stream_id, category, version, fence)
        SELECT i.sid, i.cat, i.n - 1, CASE WHEN i.inert THEN -1 ELSE i.n - 1 END
          FROM input i
         WHERE i.exp IN (-1, -2) AND i.fen IS NULL
           AND NOT EXISTS (SELECT 1 FROM es_streams s WHERE s.stream_id = i.sid)
        RETURNING es_streams.stream_id
    ), accepted AS (
        SELECT a.idx, a.base FROM advanced a
        UNION ALL
        SELECT array_position(a_stream, c.stream_id), -1 FROM created c
    ), inserted AS (
        INSERT INTO es_events (log_era, stream_id, category, stream_version, event_id,
                               event_type, schema_version, payload, metadata)
        SELECT (SELECT l.current_era FROM es_log l), a_stream[ev.app], a_category[ev.app],
               ok.base + ev.k, ev.id, ev.typ, ev.sv, ev.pl, ev.md
          FROM unnest(e_append, e_index, e_event_id, e_type, e_schema, e_payload, e_metadata)
               WITH ORDINALITY AS ev(app, k, id, typ, sv, pl, md, ord)
          JOIN accepted ok ON ok.idx = ev.app
         ORDER BY ev.ord
        RETURNING es_events.stream_id, es_events.stream_version, es_events.log_era,
                  es_events.tx_id, es_events.global_position
    )
    SELECT array_position(a_stream, ins.stream_id), 'ok'::text, max(ins.stream_version),
           max(ins.log_era), max(ins.tx_id)::text, max(ins.global_position)
      FROM inserted ins
     GROUP BY ins.stream_id;

    GET DIAGNOSTICS written = ROW_COUNT;
    IF written > 0 THEN
        PERFORM pg_notify('es_events', '');
    END IF;
    IF written < cardinality(a_stream) THEN
        -- As in V3: a retry of a stored append is told apart by es_append_group.
        IF EXISTS (SELECT 1 FROM es_events e
                    WHERE e.event_id = ANY (e_event_id)
                      AND e.tx_id IS DISTINCT FROM pg_current_xact_id_if_assigned()) THEN
            RAISE unique_violation USING MESSAGE = 'an event id of this group is already stored';
        END IF;
        RETURN QUERY
        SELECT a.idx::int, 'conflict'::text, coalesce(s.version, -1), NULL::smallint, NULL::text, NULL::bigint
          FROM unnest(a_stream) WITH ORDINALITY AS a(sid, idx)
          LEFT JOIN es_streams s ON s.stream_id = a.sid
         WHERE NOT EXISTS (SELECT 1 FROM es_events e
                            WHERE e.event_id = e_event_id[array_position(e_append, a.idx::int)]);
    END IF;
END;
$$;

ALTER FUNCTION es_append_disjoint SET plan_cache_mode = force_generic_plan;

-- es_append_group: as in V1, with the fence kept beside each stream's version in memory.
CREATE FUNCTION es_append_group(
    a_stream   text[],
    a_category text[],
    a_expected bigint[],
    a_fence    bigint[],
    a_inert    boolean[],
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
    first_ev   int[] := array_fill(0, ARRAY[n_appends]);
    last_ev    int[] := array_fill(-1, ARRAY[n_appends]);
    settled    boolean[] := array_fill(false, ARRAY[n_appends]);
    ev_version bigint[] := array_fill(NULL::bigint, ARRAY[n_events]);
    -- The group's distinct streams, their versions and fences as the appends advance them.
    streams    text[];
    versions   bigint[];
    fences     bigint[];
    ok_index   int[] := '{}';
    ok_stream  text[] := '{}';
    ok_cat     text[] := '{}';
    ok_last    bigint[] := '{}';
    ok_fence   bigint[] := '{}';
BEGIN
    SELECT l.current_era INTO era FROM es_log l;

    FOR j IN 1 .. n_events LOOP
        IF first_ev[e_append[j]] = 0 THEN first_ev[e_append[j]] := j; END IF;
        last_ev[e_append[j]] := j;
    END LOOP;

    -- 1. Idempotency, before any write (as in V1).
    IF EXISTS (SELECT 1 FROM es_events e WHERE e.event_id = ANY (e_event_id)) THEN
        FOR i IN 1 .. n_appends LOOP
            lo := first_ev[i];
            hi := last_ev[i];
            CONTINUE WHEN lo = 0;
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

    -- 2. Lock every stream of the group in sorted order before the first write (see V1).
    FOR lock_key IN
        SELECT DISTINCT hashtextextended(t.sid, 0) FROM unnest(a_stream) AS t(sid) ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
    END LOOP;

    -- 3. Current versions and fences (a fresh snapshot, after the locks).
    SELECT array_agg(t.sid), array_agg(coalesce(s.version, -1)), array_agg(coalesce(s.fence, -1))
      INTO streams, versions, fences
      FROM (SELECT DISTINCT u.sid FROM unnest(a_stream) AS u(sid)) t
      LEFT JOIN es_streams s ON s.stream_id = t.sid;

    -- 4. Check each append in order; later appends to the same stream see what earlier ones
    --    reach.
    FOR i IN 1 .. n_appends LOOP
        CONTINUE WHEN settled[i];
        k := array_position(streams, a_stream[i]);
        cur := versions[k];
        IF (a_expected[i] = -2 AND cur <> -1)
           OR (a_expected[i] = -3 AND cur = -1)
           OR (a_expected[i] >= 0 AND cur <> a_expected[i])
           OR (a_fence[i] IS NOT NULL AND (fences[k] > a_fence[i] OR cur < a_fence[i])) THEN
            RETURN QUERY SELECT i, 'conflict'::text, cur, NULL::smallint, NULL::text, NULL::bigint;
            CONTINUE;
        END IF;
        IF first_ev[i] = 0 THEN
            RETURN QUERY SELECT i, 'ok'::text, cur, NULL::smallint, NULL::text, NULL::bigint;
            CONTINUE;
        END IF;
        FOR j IN first_ev[i] .. last_ev[i] LOOP
            ev_version[j] := cur + (j - first_ev[i] + 1);
        END LOOP;
        versions[k] := cur + (last_ev[i] - first_ev[i] + 1);
        IF NOT a_inert[i] THEN
            fences[k] := versions[k];
        END IF;
        ok_index := ok_index || i;
        ok_stream := ok_stream || a_stream[i];
        ok_cat := ok_cat || a_category[i];
        ok_last := ok_last || versions[k];
        ok_fence := ok_fence || fences[k];
    END LOOP;

    IF cardinality(ok_index) = 0 THEN
        RETURN;
    END IF;

    -- 5. Stream rows: the last writing append of each stream carries its version and fence.
    INSERT INTO es_streams AS s (stream_id, category, version, fence)
    SELECT DISTINCT ON (t.sid) t.sid, t.cat, t.v, t.f
      FROM unnest(ok_stream, ok_cat, ok_last, ok_fence) AS t(sid, cat, v, f)
     ORDER BY t.sid, t.v DESC
    ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, fence = EXCLUDED.fence;

    -- 6. All accepted events in one insert (as in V1).
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

    PERFORM pg_notify('es_events', '');
END;
$$;

ALTER FUNCTION es_append_group SET plan_cache_mode = force_generic_plan;
