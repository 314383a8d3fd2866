-- Step (a) for many deliveries in one statement (group commit); same semantics per row as
-- begin_payment.sql. Order ids are distinct within one call (ON CONFLICT may touch a row once).
-- $1 payment_ids, $2 order_ids, $3 customer_ids, $4 amounts, $5 currencies, $6 idempotency keys,
-- $7 counts_as_attempt, $8 consumer_group, $9 event_ids
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::numeric[], $5::varchar[],
                         $6::varchar[], $7::bool[], $9::uuid[])
        AS i(payment_id, order_id, customer_id, amount, currency, idempotency_key, counts, event_id)
), upserted AS (
    INSERT INTO payments (payment_id, order_id, customer_id, amount, currency, status,
                          idempotency_key, attempts)
    SELECT payment_id, order_id, customer_id, amount, currency, 'PENDING', idempotency_key,
           CASE WHEN counts THEN 1 ELSE 0 END
      FROM input
    ON CONFLICT (order_id) DO UPDATE
        -- excluded.attempts is 1 exactly when this delivery counts as an attempt
        SET attempts   = payments.attempts
                         + CASE WHEN payments.status = 'PENDING' THEN excluded.attempts ELSE 0 END,
            updated_at = CASE WHEN payments.status = 'PENDING' AND excluded.attempts = 1
                              THEN now() ELSE payments.updated_at END
    RETURNING payment_id, order_id, customer_id, amount, currency, status, idempotency_key,
              attempts, gateway_reference, created_at
)
SELECT u.payment_id, u.order_id, u.customer_id, u.amount, u.currency, u.status,
       u.idempotency_key, u.attempts, u.gateway_reference, u.created_at,
       -- A correlated probe per row (LIMIT 1 keeps the planner from turning it into a hashed
       -- subplan that reads every processed event of the group on each call).
       (SELECT true FROM processed_events p
         WHERE p.consumer_group = $8 AND p.event_id = i.event_id LIMIT 1) IS NOT NULL AS processed
FROM upserted u JOIN input i ON i.order_id = u.order_id
