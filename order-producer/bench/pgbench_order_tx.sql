-- The SQL transaction of POST /orders (no idempotency key), for
--   pgbench -n -c N -T D -f order-producer/bench/pgbench_order_tx.sql "$ORDERS_DATABASE_URL"
-- Same statements as the service: order insert, item inserts (2 lines, one unnest insert),
-- first status-history entry, outbox insert, outbox delete, commit. The payload is a dummy of
-- the size of an encoded OrderCreated with 2 lines (~150 bytes). Ids: uuids derived from a
-- random 63-bit number (pgbench variables are numbers; collisions are negligible).
\set n random(1, 9223372036854775806)
\set qty random(1, 5)
BEGIN;
INSERT INTO orders (id, customer_id, currency, total_amount, status, payment_id, created_at, updated_at)
VALUES (md5('o' || :n)::uuid, 'pgbench', 'EUR', 19.99 * :qty + 39.98, 'PENDING_PAYMENT', NULL, now(), now());
INSERT INTO order_items (order_id, line_no, sku, quantity, unit_price)
SELECT md5('o' || :n)::uuid, line.line_no, line.sku, line.quantity, line.unit_price
FROM unnest(ARRAY[1, 2], ARRAY['SKU-0', 'SKU-1'], ARRAY[:qty, 2], ARRAY[19.99, 19.99]::numeric[])
     AS line (line_no, sku, quantity, unit_price);
INSERT INTO order_status_history (order_id, from_status, to_status, reason, event_id, occurred_at)
VALUES (md5('o' || :n)::uuid, NULL, 'PENDING_PAYMENT', NULL, md5('e' || :n)::uuid, now());
INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent)
VALUES (md5('e' || :n)::uuid, 'order', md5('o' || :n)::uuid::text, 'OrderCreated',
        decode(repeat('00', 150), 'hex'), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
DELETE FROM outbox WHERE id = ANY(ARRAY[md5('e' || :n)::uuid]);
COMMIT;
