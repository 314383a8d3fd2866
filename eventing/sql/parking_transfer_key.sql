-- Move the key's ownership from $3..$5 to $6..$8, only while $3..$5 still owns it: a drain whose
-- view is stale (abandoned at a revocation, the partition already with another member) changes
-- nothing, and two drains cannot both move the key. Exactly one row updated = moved.
UPDATE parked_keys
SET owner_topic = $6, owner_partition = $7, owner_offset = $8, parked_at = now()
WHERE consumer_group = $1 AND record_key = $2
  AND owner_topic = $3 AND owner_partition = $4 AND owner_offset = $5
