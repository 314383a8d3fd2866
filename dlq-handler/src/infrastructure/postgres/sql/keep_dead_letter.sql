-- Keep a dead letter for an operator; a redelivery of the same record is a no-op.
-- $1 topic, $2 partition, $3 offset, $4 cause, $5 detail, $6 dlq_reason, $7 order_id,
-- $8 record_key, $9 value, $10 headers (jsonb)
INSERT INTO kept_dead_letters (topic, partition, "offset", cause, detail, dlq_reason, order_id,
                               record_key, value, headers)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (topic, partition, "offset") DO NOTHING
RETURNING "offset"
