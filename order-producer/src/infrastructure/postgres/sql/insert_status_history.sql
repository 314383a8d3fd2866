INSERT INTO order_status_history (order_id, from_status, to_status, reason, event_id, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6)
