SELECT sku, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY line_no
