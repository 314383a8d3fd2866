INSERT INTO idempotency_keys (key, request_hash, created_at)
VALUES ($1, $2, $3)
ON CONFLICT (key) DO NOTHING
