INSERT INTO ignored_payment_results
    (consumer_group, event_id, event_type, order_id, reason, detail, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
