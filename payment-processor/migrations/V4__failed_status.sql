-- FAILED: the payment can no longer be made — its OrderCreated was dead-lettered (retries
-- exhausted, expired, invalid) and dlq-handler closed it, in the transaction that writes its
-- PaymentFailed. The processor treats FAILED as settled: a redelivered or replayed OrderCreated
-- never charges it, so an order never gets a PaymentCompleted after its PaymentFailed.
ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('PENDING', 'SUCCEEDED', 'DECLINED', 'EXPIRED', 'FAILED'));
