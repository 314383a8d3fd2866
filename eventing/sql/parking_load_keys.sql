SELECT record_key, partition, owner_topic, owner_partition, owner_offset
FROM parked_keys
WHERE consumer_group = $1 AND partition = ANY($2)
