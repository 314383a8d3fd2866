-- Claim an Idempotency-Key ($1 key, $2 request hash, $3 now, $4 expired-before cutoff).
-- A new key is inserted; an EXPIRED row (created before $4, not deleted yet) is taken over as if
-- it were new. Either way 1 row is affected and the key is reserved by this transaction.
-- A live row is left unchanged (0 rows) but still locked by ON CONFLICT DO UPDATE, so it cannot
-- be deleted by the cleanup before this transaction reads its response. A concurrent claim of
-- the same key waits for this transaction, then re-checks the WHERE on the committed row.
INSERT INTO idempotency_keys AS k (key, request_hash, created_at)
VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE
SET request_hash = EXCLUDED.request_hash,
    response_status = NULL,
    response = NULL,
    order_id = NULL,
    created_at = EXCLUDED.created_at
WHERE k.created_at < $4
