-- --heartbeat-mode logical-message: a non-transactional logical decoding message. Every logical
-- decoding client of the database receives it (Debezium publishes it to `<topic.prefix>.message`).
SELECT pg_logical_emit_message(false, 'cdc-relay-heartbeat', '')
