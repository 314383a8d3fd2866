-- Durable per-key parking of eventing's keyed consumer runtime: the same DDL as
-- eventing/sql/parked_keys_tables.sql (eventing::kafka::keyed::PARKED_KEYS_TABLES_DDL; a test
-- compares the two).
-- Durable per-key parking of the keyed consumer runtime (eventing::kafka::keyed).
-- Services include this file in their migrations; tests create the tables with it.
--
-- parked_keys: a key whose records must wait, because its `owner` record is on a retry tier.
-- parked_records: records of a parked key that arrived while it was parked, replayed in `seq`
-- order once the owner settles.
CREATE TABLE IF NOT EXISTS parked_keys (
    consumer_group  text        NOT NULL,
    record_key      bytea       NOT NULL,
    partition       integer     NOT NULL,
    owner_topic     text        NOT NULL,
    owner_partition integer     NOT NULL,
    owner_offset    bigint      NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, record_key)
);

CREATE INDEX IF NOT EXISTS parked_keys_by_partition ON parked_keys (consumer_group, partition);

CREATE TABLE IF NOT EXISTS parked_records (
    consumer_group text        NOT NULL,
    record_key     bytea       NOT NULL,
    seq            bigserial   NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    value          bytea,
    headers        bytea       NOT NULL,
    timestamp_ms   bigint,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, record_key, seq),
    UNIQUE (consumer_group, topic, partition, "offset")
);
