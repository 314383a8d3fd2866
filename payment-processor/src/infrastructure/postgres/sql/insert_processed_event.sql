-- $1 consumer_group, $2 event_id; a second insert of the same pair is a no-op.
INSERT INTO processed_events (consumer_group, event_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
