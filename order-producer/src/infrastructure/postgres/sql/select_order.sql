SELECT id, customer_id, currency, total_amount, status, payment_id, created_at, updated_at
FROM orders WHERE id = $1
