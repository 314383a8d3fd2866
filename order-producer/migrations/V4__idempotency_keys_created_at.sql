-- Idempotency keys are kept for a limited time (--idempotency-key-retention-hours); the
-- service's cleanup task deletes expired ones in small batches by created_at, which this index
-- serves (without it every batch would scan the whole table).
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at_idx ON idempotency_keys (created_at);
