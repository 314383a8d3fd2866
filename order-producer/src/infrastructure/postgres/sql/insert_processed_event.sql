INSERT INTO processed_events (consumer_group, event_id, processed_at)
VALUES ($1, $2, $3)
ON CONFLICT (consumer_group, event_id) DO NOTHING
