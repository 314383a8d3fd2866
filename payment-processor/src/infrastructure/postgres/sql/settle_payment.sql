-- Step (c), first statement: leave PENDING at most once. No row back: settled before.
-- $1 payment_id, $2 status, $3 gateway_reference, $4 failure_reason, $5 failure_detail
UPDATE payments
   SET status = $2, gateway_reference = $3, failure_reason = $4, failure_detail = $5,
       updated_at = now()
 WHERE payment_id = $1 AND status = 'PENDING'
RETURNING payment_id
