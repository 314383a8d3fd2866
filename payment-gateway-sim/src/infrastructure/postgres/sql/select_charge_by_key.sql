SELECT charge_id, idempotency_key, order_id, customer_id, amount, currency, status, decline_code, created_at, replays
FROM charges
WHERE idempotency_key = $1
