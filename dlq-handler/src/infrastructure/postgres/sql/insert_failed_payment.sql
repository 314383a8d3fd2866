-- The order never got a payment row (its OrderCreated was dead-lettered before): insert it
-- FAILED with the processor's idempotency key, so a later delivery of the same OrderCreated
-- finds it settled and never charges. No row back: the processor inserted it meanwhile.
-- $1 payment_id, $2 order_id, $3 customer_id, $4 amount, $5 currency, $6 idempotency_key,
-- $7 failure_reason, $8 failure_detail
INSERT INTO payments (payment_id, order_id, customer_id, amount, currency, status,
                      idempotency_key, attempts, failure_reason, failure_detail)
VALUES ($1, $2, $3, $4, $5, 'FAILED', $6, 0, $7, $8)
ON CONFLICT (order_id) DO NOTHING
RETURNING payment_id
