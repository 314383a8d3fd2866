-- The outbox table, compatible with Debezium's Outbox Event Router contract (id, aggregatetype,
-- aggregateid, type, payload) plus created_at and the W3C traceparent of the request.
-- Same definition as eventing::outbox::OUTBOX_TABLE_DDL (a test compares the two).
-- Rows are deleted in the same transaction that inserts them: the WAL keeps the INSERT for the
-- CDC relay (or Debezium), so the table holds nothing between transactions and never grows.
CREATE TABLE IF NOT EXISTS outbox (
    id            uuid         PRIMARY KEY,
    aggregatetype varchar(255) NOT NULL,
    aggregateid   varchar(255) NOT NULL,
    type          varchar(255) NOT NULL,
    payload       bytea        NOT NULL,
    traceparent   varchar(55),
    created_at    timestamptz  NOT NULL DEFAULT now()
);
