-- Park the key with $4..$6 as owner unless it is parked already; either way return the owner.
-- The no-op update makes RETURNING yield the existing row on conflict.
INSERT INTO parked_keys (consumer_group, record_key, partition, owner_topic, owner_partition, owner_offset)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (consumer_group, record_key) DO UPDATE SET consumer_group = EXCLUDED.consumer_group
RETURNING owner_topic, owner_partition, owner_offset
