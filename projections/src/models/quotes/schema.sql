-- quotes: the quote book with full-text search; info_items: shared facts (`.info`).
-- Deleted quotes stay (deleted_at set) so ids are never reused and history keeps them.
CREATE TABLE quotes (
    quote_id    bigint      PRIMARY KEY,
    nick        text        NOT NULL,
    nick_fold   text        NOT NULL,
    text        text        NOT NULL,
    added_by    text        NOT NULL,
    added_at    timestamptz NOT NULL,
    deleted_at  timestamptz,
    deleted_by  text,
    search      tsvector    GENERATED ALWAYS AS (to_tsvector('english', nick || ' ' || text)) STORED
);

CREATE TABLE info_items (
    item_fold   text        PRIMARY KEY,
    item        text        NOT NULL,
    text        text        NOT NULL,
    created_by  text        NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    revisions   integer     NOT NULL
);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
CREATE INDEX quotes_search ON quotes USING gin (search);
CREATE INDEX quotes_nick ON quotes (nick_fold);
