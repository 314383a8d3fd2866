-- Consumer bookkeeping for payment results: which events each consumer group has processed
-- (duplicates are no-ops) and which results were received but not applied, with the reason.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer_group  text         NOT NULL,
    event_id        uuid         NOT NULL,
    processed_at    timestamptz  NOT NULL,
    PRIMARY KEY (consumer_group, event_id)
);

CREATE TABLE IF NOT EXISTS ignored_payment_results (
    consumer_group  text         NOT NULL,
    event_id        uuid         NOT NULL,
    event_type      text         NOT NULL,
    order_id        uuid         NOT NULL,
    reason          text         NOT NULL,
    detail          text         NOT NULL,
    received_at     timestamptz  NOT NULL,
    PRIMARY KEY (consumer_group, event_id)
);
CREATE INDEX IF NOT EXISTS ignored_payment_results_order_idx ON ignored_payment_results (order_id);
