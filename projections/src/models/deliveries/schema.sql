-- deliveries: each outbound SMS (one per recipient and segment) with its Twilio SID and status
-- history; inbound_sms: every SMS received.
CREATE TABLE deliveries (
    delivery_id     uuid        PRIMARY KEY,
    room_id         uuid        NOT NULL,
    recipient       uuid        NOT NULL,
    to_number       text        NOT NULL,
    from_number     text        NOT NULL,
    body            text        NOT NULL,
    cause_message_id uuid,
    cause_event_id  uuid,
    segment         integer     NOT NULL,
    segments        integer     NOT NULL,
    queued_at       timestamptz NOT NULL,
    twilio_sid      text,
    -- queued | sent | delivered | undelivered | failed | opted_out
    status          text        NOT NULL,
    -- Statuses only move forward (Twilio callbacks may arrive out of order).
    status_rank     smallint    NOT NULL,
    error_code      integer,
    failure         text,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX deliveries_sid ON deliveries (twilio_sid) WHERE twilio_sid IS NOT NULL;

CREATE TABLE delivery_statuses (
    delivery_id     uuid        NOT NULL,
    status          text        NOT NULL,
    error_code      integer,
    at              timestamptz NOT NULL
);

CREATE TABLE inbound_sms (
    message_sid     text        PRIMARY KEY,
    from_number     text        NOT NULL,
    to_number       text        NOT NULL,
    body            text        NOT NULL,
    room_id         uuid,
    received_at     timestamptz NOT NULL
);

-- @reader-indexes: built after a rebuild's bulk load (see Projection::schema).
CREATE INDEX deliveries_recipient ON deliveries (recipient, queued_at DESC);
CREATE INDEX deliveries_room ON deliveries (room_id, queued_at);
CREATE INDEX delivery_statuses_delivery ON delivery_statuses (delivery_id, at);
CREATE INDEX inbound_sms_from ON inbound_sms (from_number, received_at);
