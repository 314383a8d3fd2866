INSERT INTO charges (charge_id, idempotency_key, order_id, customer_id, amount, currency, status, decline_code)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING charge_id, idempotency_key, order_id, customer_id, amount, currency, status, decline_code, created_at, replays
