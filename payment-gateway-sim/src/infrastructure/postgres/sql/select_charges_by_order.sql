SELECT charge_id, idempotency_key, order_id, customer_id, amount, currency, status, decline_code, created_at, replays
FROM charges
WHERE order_id = $1
ORDER BY created_at, charge_id
