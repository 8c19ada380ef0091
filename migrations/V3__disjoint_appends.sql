-- V3: the fast path of group commit.
--
-- Nearly every group the committer forms is "disjoint": each append writes at least one event
-- and no two appends share a stream. es_append_disjoint commits such a group in two statements
-- (the locks, then one statement that checks, advances and inserts), where es_append_group
-- (V1) steps through each append in PL/pgSQL. The general function stays for every other case:
-- a group with repeated streams or empty appends, and any group that meets an event id already
-- stored (the unique index stops the fast path; es_append_group then tells a retry, which gets
-- its original result, from a mismatch). BENCHMARKS.md has the numbers.

-- The foreign key from es_events to es_streams checked every inserted event with a row lookup
-- (a trigger per row): about 8 µs of each event's cost. Both append functions create or advance
-- the stream row in the same transaction as the events, under the stream's lock, and nothing
-- deletes either, so the constraint only restated what they guarantee.
ALTER TABLE es_events DROP CONSTRAINT es_events_stream_id_fkey;

-- es_append_disjoint: appends a disjoint group (see above) in the caller's transaction.
--
-- Arguments as es_append_group's, plus e_index[j]: the event's 1-based place in its append.
-- Returns one 'ok' row per append written (its stream version and the position of its last
-- event) and one 'conflict' row (with the stream's actual version) per append whose expected
-- version was not met. Raises unique_violation if an event id is already stored: the caller
-- then runs the group through es_append_group.
--
-- Must be the first write of its transaction: the stream locks are taken before any write, so
-- that, per stream, transaction-id order is version order (see es_append_group, step 2).
CREATE FUNCTION es_append_disjoint(
    a_stream   text[],
    a_category text[],
    a_expected bigint[],
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

    -- One statement, one snapshot taken after the locks: it sees every earlier append of these
    -- streams. A stream row advances only if its version meets the expected one exactly as in
    -- es_append_group (-1 any; -3 exists: a version >= 0; -2 no stream: version -1; n exact); a
    -- missing row is created only for -1 and -2. Events are inserted for the appends that passed.
    RETURN QUERY
    WITH input AS MATERIALIZED (
        SELECT a.sid, a.cat, a.exp, a.n, a.idx::int AS idx
          FROM unnest(a_stream, a_category, a_expected, a_count) WITH ORDINALITY AS a(sid, cat, exp, n, idx)
    ), advanced AS (
        UPDATE es_streams s SET version = s.version + i.n
          FROM input i
         WHERE s.stream_id = i.sid
           AND (i.exp = -1 OR (i.exp = -3 AND s.version >= 0) OR (i.exp = -2 AND s.version = -1) OR s.version = i.exp)
        RETURNING i.idx, s.version - i.n AS base
    ), created AS (
        INSERT INTO es_streams (stream_id, category, version)
        SELECT i.sid, i.cat, i.n - 1
          FROM input i
         WHERE i.exp IN (-1, -2) AND NOT EXISTS (SELECT 1 FROM es_streams s WHERE s.stream_id = i.sid)
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
        -- A pure wake-up for subscribers; delivered only if this transaction commits.
        PERFORM pg_notify('es_events', '');
    END IF;
    IF written < cardinality(a_stream) THEN
        -- An append not written may be the retry of one stored earlier: only es_append_group
        -- tells that apart (its original result, not a conflict), so hand the group over.
        IF EXISTS (SELECT 1 FROM es_events e
                    WHERE e.event_id = ANY (e_event_id)
                      AND e.tx_id IS DISTINCT FROM pg_current_xact_id_if_assigned()) THEN
            RAISE unique_violation USING MESSAGE = 'an event id of this group is already stored';
        END IF;
        -- The appends not written (their first event is not stored): report the version they met.
        RETURN QUERY
        SELECT a.idx::int, 'conflict'::text, coalesce(s.version, -1), NULL::smallint, NULL::text, NULL::bigint
          FROM unnest(a_stream) WITH ORDINALITY AS a(sid, idx)
          LEFT JOIN es_streams s ON s.stream_id = a.sid
         WHERE NOT EXISTS (SELECT 1 FROM es_events e
                            WHERE e.event_id = e_event_id[array_position(e_append, a.idx::int)]);
    END IF;
END;
$$;

-- Generic plans, as for es_append_group (V1).
ALTER FUNCTION es_append_disjoint SET plan_cache_mode = force_generic_plan;
