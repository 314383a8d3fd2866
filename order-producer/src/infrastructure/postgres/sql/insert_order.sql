INSERT INTO orders (id, customer_id, currency, total_amount, status, payment_id, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
