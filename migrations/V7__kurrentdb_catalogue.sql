-- V7: the KurrentDB event index also catalogues what the read side asks of the log.
--
-- Under PostgreSQL the audit log, projection lag, read-your-writes on replicas and as-of
-- positions are SQL over es_events. Under KurrentDB the log is elsewhere, so the index of event
-- ids carries the columns those questions filter on: type, actor, gateway, category and the
-- time the server recorded. The appender writes a row before it knows the server's time; the
-- background indexer (which reads every event back from `$all`, in order) fills the row in.
-- A row is therefore complete once the indexer's place (kurrent_index_progress) has passed it,
-- and the read side only looks at rows up to that place: gap-free, like es_events under its
-- transaction watermark. Payloads stay in KurrentDB; an audit page reads them from there.

ALTER TABLE kurrent_event_index
    ADD COLUMN event_type  text,
    ADD COLUMN actor       text,
    ADD COLUMN gateway     text,
    ADD COLUMN recorded_at timestamptz,
    ADD COLUMN category    text GENERATED ALWAYS AS (split_part(stream_id, '-', 1)) STORED;

-- The global order, and the audit log's filters in it.
CREATE INDEX kurrent_event_index_log ON kurrent_event_index (commit_position, prepare_position);
CREATE INDEX kurrent_event_index_type_log ON kurrent_event_index (event_type, commit_position, prepare_position);
CREATE INDEX kurrent_event_index_actor_time ON kurrent_event_index (actor, recorded_at);
CREATE INDEX kurrent_event_index_recorded_brin ON kurrent_event_index USING brin (recorded_at);
