UPDATE orders
SET status = $2, payment_id = $3, updated_at = $4, version = version + 1
WHERE id = $1 AND status = $5
