-- PENDING / EXPIRED -> FAILED, at most once (the processor moves PENDING rows the same way, so
-- exactly one of the two wins). No row back: paid or failed meanwhile.
-- $1 order_id, $2 failure_reason, $3 failure_detail
UPDATE payments
   SET status = 'FAILED', failure_reason = $2, failure_detail = $3, updated_at = now()
 WHERE order_id = $1 AND status IN ('PENDING', 'EXPIRED')
RETURNING payment_id
