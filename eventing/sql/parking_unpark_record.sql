DELETE FROM parked_records
WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND "offset" = $4
