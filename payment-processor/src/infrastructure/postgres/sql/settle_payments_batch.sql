-- Step (c), first statement, for many payments: leave PENDING at most once; returns the
-- payments this call moved. $1 payment_ids, $2 statuses, $3 gateway_references,
-- $4 failure_reasons, $5 failure_details
UPDATE payments p
   SET status = i.status, gateway_reference = i.gateway_reference,
       failure_reason = i.failure_reason, failure_detail = i.failure_detail, updated_at = now()
  FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[])
       AS i(payment_id, status, gateway_reference, failure_reason, failure_detail)
 WHERE p.payment_id = ANY($1::uuid[])  -- an index probe per id, whatever the table's size
   AND p.payment_id = i.payment_id AND p.status = 'PENDING'
RETURNING p.payment_id
