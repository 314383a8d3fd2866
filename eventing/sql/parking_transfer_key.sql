UPDATE parked_keys
SET owner_topic = $3, owner_partition = $4, owner_offset = $5, parked_at = now()
WHERE consumer_group = $1 AND record_key = $2
