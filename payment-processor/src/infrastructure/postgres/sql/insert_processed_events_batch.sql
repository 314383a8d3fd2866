-- $1 consumer_group, $2 event_ids; pairs already recorded are skipped.
INSERT INTO processed_events (consumer_group, event_id)
SELECT $1, e FROM unnest($2::uuid[]) AS e
ON CONFLICT DO NOTHING
