SELECT from_status, to_status, reason, event_id, occurred_at
FROM order_status_history WHERE order_id = $1 ORDER BY id
