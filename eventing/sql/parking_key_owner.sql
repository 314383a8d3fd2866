SELECT partition, owner_topic, owner_partition, owner_offset
FROM parked_keys
WHERE consumer_group = $1 AND record_key = $2
