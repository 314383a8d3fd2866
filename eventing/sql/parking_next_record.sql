SELECT topic, partition, "offset", value, headers, timestamp_ms
FROM parked_records
WHERE consumer_group = $1 AND record_key = $2
ORDER BY seq
LIMIT 1
