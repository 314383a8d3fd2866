INSERT INTO order_items (order_id, line_no, sku, quantity, unit_price)
SELECT $1, line.line_no, line.sku, line.quantity, line.unit_price
FROM unnest($2::integer[], $3::text[], $4::integer[], $5::numeric[])
     AS line (line_no, sku, quantity, unit_price)
