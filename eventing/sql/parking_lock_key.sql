-- First statement of a release: lock the key row, so the DELETE that follows (a new statement,
-- hence a new snapshot) sees every record parked behind the key up to now, including one whose
-- insert held the row FOR SHARE while we waited.
SELECT 1 FROM parked_keys WHERE consumer_group = $1 AND record_key = $2 FOR UPDATE
