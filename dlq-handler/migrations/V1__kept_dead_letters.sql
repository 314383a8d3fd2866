-- dlq-handler's own table in the payments database (its history table is
-- dlq_handler_schema_history, apart from payment-processor's).
--
-- kept_dead_letters: dead letters that could not be turned into a PaymentFailed — the order id
-- cannot be read (undecodable bytes, unknown schema), or the gateway's ledger says the order
-- was charged although its OrderCreated was dead-lettered. Kept with every byte and header for
-- an operator (metric dlq_handler_kept_dead_letters, error log, `dlq-handler list`); never
-- dropped. One row per dead-letter record (topic, partition, offset): a redelivery is a no-op.
CREATE TABLE IF NOT EXISTS kept_dead_letters (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    cause        varchar(32) NOT NULL,
    detail       text        NOT NULL,
    dlq_reason   varchar(64),
    order_id     uuid,
    record_key   bytea,
    value        bytea,
    headers      jsonb       NOT NULL,
    kept_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
