-- The payments database, owned by payment-processor.
--
-- payments: one row per order (order_id UNIQUE), inserted BEFORE the gateway is called, with the
-- deterministic gateway idempotency key; settled (status, gateway_reference / failure_reason)
-- in ONE transaction with the processed-events row and the outbox row of the result event.
CREATE TABLE IF NOT EXISTS payments (
    payment_id        uuid          PRIMARY KEY,
    order_id          uuid          NOT NULL UNIQUE,
    customer_id       varchar(200)  NOT NULL,
    amount            numeric(19,4) NOT NULL CHECK (amount > 0),
    currency          char(3)       NOT NULL,
    status            varchar(16)   NOT NULL
                      CHECK (status IN ('PENDING', 'SUCCEEDED', 'DECLINED', 'EXPIRED')),
    idempotency_key   varchar(255)  NOT NULL UNIQUE,
    -- how many times this service began a gateway call for the order (a crash can leave one
    -- counted that never reached the gateway: attempts > 0 means "the gateway may know it")
    attempts          integer       NOT NULL DEFAULT 0,
    gateway_reference varchar(255),
    failure_reason    varchar(32),
    failure_detail    text,
    created_at        timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now()
);

-- Which events a consumer group has fully processed; a redelivery finds its row and is a no-op.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer_group varchar(255) NOT NULL,
    event_id       uuid         NOT NULL,
    processed_at   timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
