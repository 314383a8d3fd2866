-- PENDING -> EXPIRED: the deadline passed and the gateway never charged. $1 payment_id
UPDATE payments
   SET status = 'EXPIRED', failure_reason = 'EXPIRED', updated_at = now()
 WHERE payment_id = $1 AND status = 'PENDING'
