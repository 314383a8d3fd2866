UPDATE idempotency_keys SET response_status = $2, response = $3, order_id = $4 WHERE key = $1
