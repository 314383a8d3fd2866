-- Delete one batch of expired idempotency keys ($1 expired-before cutoff, $2 batch size), as
-- its own short statement so locks are held for one batch only. Rows locked by an in-flight
-- claim are skipped (SKIP LOCKED: the cleanup never waits for a request, nor a request for long
-- on the cleanup); the outer created_at test re-checks a row a claim took over meanwhile.
DELETE FROM idempotency_keys
WHERE ctid IN (
    SELECT ctid FROM idempotency_keys
    WHERE created_at < $1
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
AND created_at < $1
