-- Store a record behind its key, only while the key is parked: a stale in-memory "parked" entry
-- (the key released meanwhile by a drain of another member) must not leave a row that nobody
-- drains. FOR SHARE holds the key row until commit, so a concurrent release (which locks the row
-- FOR UPDATE before it checks for records) waits and then sees this record.
-- Returns true if the record is stored behind its key: inserted now, or by an earlier delivery
-- (the outer EXISTS reads the snapshot from before the insert); false if the key is not parked.
WITH inserted AS (
    INSERT INTO parked_records (consumer_group, record_key, topic, partition, "offset", value, headers, timestamp_ms)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8
    WHERE EXISTS (
        SELECT 1 FROM parked_keys
        WHERE consumer_group = $1 AND record_key = $2
        FOR SHARE
    )
    ON CONFLICT (consumer_group, topic, partition, "offset") DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM inserted)
    OR EXISTS (
        SELECT 1 FROM parked_records
        WHERE consumer_group = $1 AND topic = $3 AND partition = $4 AND "offset" = $5
    )
