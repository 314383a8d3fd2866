-- Release only the owner's own parking, and only once no parked record is left.
DELETE FROM parked_keys k
WHERE k.consumer_group = $1 AND k.record_key = $2
  AND k.owner_topic = $3 AND k.owner_partition = $4 AND k.owner_offset = $5
  AND NOT EXISTS (SELECT 1 FROM parked_records r WHERE r.consumer_group = $1 AND r.record_key = $2)
