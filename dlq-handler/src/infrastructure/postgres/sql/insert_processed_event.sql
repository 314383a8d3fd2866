-- This dead letter (the event id of its OrderCreated) handled by this consumer group; no row
-- back: handled before. $1 consumer_group, $2 event_id
INSERT INTO processed_events (consumer_group, event_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING event_id
