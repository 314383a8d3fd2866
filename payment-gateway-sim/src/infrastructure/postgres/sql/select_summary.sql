WITH charged AS (
    SELECT order_id, count(*) AS succeeded
    FROM charges
    WHERE status = 'succeeded'
    GROUP BY order_id
)
SELECT
    (SELECT count(*) FROM charges) AS charges,
    (SELECT count(*) FROM charges WHERE status = 'succeeded') AS succeeded,
    (SELECT count(*) FROM charges WHERE status = 'declined') AS declined,
    (SELECT count(*) FROM charged) AS orders_charged,
    (SELECT count(*) FROM charged WHERE succeeded > 1) AS orders_charged_more_than_once,
    (SELECT COALESCE(sum(replays), 0)::bigint FROM charges) AS replays
