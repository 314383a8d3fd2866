-- --heartbeat-mode table: one beat of this relay's slot. $1 slot name.
-- {heartbeat_table} is replaced by the quoted `schema.table` of --heartbeat-table.
INSERT INTO {heartbeat_table} AS beat (slot_name, beat_at)
VALUES ($1, now())
ON CONFLICT (slot_name) DO UPDATE SET beat_at = EXCLUDED.beat_at, beats = beat.beats + 1
