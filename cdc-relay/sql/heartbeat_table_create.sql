-- --heartbeat-mode table: the heartbeat table, one row per replication slot.
-- UNLOGGED: changes of an unlogged table write no WAL record, so no logical decoding client
-- (pgoutput with any publication, FOR ALL TABLES included; test_decoding; wal2json; Debezium)
-- can ever see them. Only the beating transaction's commit record reaches the WAL; that moves
-- the walsender's position, and its keepalives carry it to the relay.
-- {heartbeat_table} is replaced by the quoted `schema.table` of --heartbeat-table (DDL takes no
-- bind parameters; both names are validated plain identifiers).
CREATE UNLOGGED TABLE IF NOT EXISTS {heartbeat_table} (
    slot_name text PRIMARY KEY,
    beat_at timestamptz NOT NULL,
    beats bigint NOT NULL DEFAULT 1
)
