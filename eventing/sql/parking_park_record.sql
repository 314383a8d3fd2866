-- Redelivery of a record parked before is harmless.
INSERT INTO parked_records (consumer_group, record_key, topic, partition, "offset", value, headers, timestamp_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (consumer_group, topic, partition, "offset") DO NOTHING
