-- The order's payment: status and gateway attempts. $1 order_id
SELECT status, attempts FROM payments WHERE order_id = $1
