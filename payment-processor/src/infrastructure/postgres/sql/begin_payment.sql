-- Step (a): insert the order's payment as PENDING with its gateway idempotency key, or find the
-- existing one; while PENDING and $7 (this delivery will call the gateway), count the attempt.
-- Also says whether this event id was processed before by this consumer group.
-- $1 payment_id, $2 order_id, $3 customer_id, $4 amount, $5 currency, $6 idempotency_key,
-- $7 counts_as_attempt, $8 consumer_group, $9 event_id
WITH upserted AS (
    INSERT INTO payments (payment_id, order_id, customer_id, amount, currency, status,
                          idempotency_key, attempts)
    VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, CASE WHEN $7 THEN 1 ELSE 0 END)
    ON CONFLICT (order_id) DO UPDATE
        SET attempts   = payments.attempts
                         + CASE WHEN payments.status = 'PENDING' AND $7 THEN 1 ELSE 0 END,
            updated_at = CASE WHEN payments.status = 'PENDING' AND $7 THEN now()
                              ELSE payments.updated_at END
    RETURNING payment_id, order_id, customer_id, amount, currency, status, idempotency_key,
              attempts, gateway_reference, created_at
)
SELECT u.payment_id, u.order_id, u.customer_id, u.amount, u.currency, u.status,
       u.idempotency_key, u.attempts, u.gateway_reference, u.created_at,
       EXISTS (SELECT 1 FROM processed_events p
                WHERE p.consumer_group = $8 AND p.event_id = $9) AS processed
FROM upserted u
