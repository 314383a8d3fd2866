-- Orders, their lines, their status history and the idempotency keys of POST /orders.
-- Every statement is idempotent (IF NOT EXISTS) so a re-run after a partial failure is safe;
-- refinery records applied versions and the service holds a pg_advisory_lock while migrating.
CREATE TABLE IF NOT EXISTS orders (
    id            uuid          PRIMARY KEY,
    customer_id   text          NOT NULL CHECK (char_length(customer_id) BETWEEN 1 AND 64),
    currency      char(3)       NOT NULL,
    total_amount  numeric(19,4) NOT NULL CHECK (total_amount > 0),
    status        text          NOT NULL
                  CHECK (status IN ('PENDING_PAYMENT', 'PAID', 'PAYMENT_FAILED')),
    payment_id    uuid,
    created_at    timestamptz   NOT NULL,
    updated_at    timestamptz   NOT NULL,
    version       bigint        NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);

CREATE TABLE IF NOT EXISTS order_items (
    order_id    uuid          NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no     integer       NOT NULL CHECK (line_no >= 1),
    sku         text          NOT NULL CHECK (char_length(sku) BETWEEN 1 AND 64),
    quantity    integer       NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price  numeric(19,4) NOT NULL CHECK (unit_price > 0),
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE IF NOT EXISTS order_status_history (
    id           bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id     uuid         NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text         NOT NULL,
    reason       text,
    event_id     uuid,
    occurred_at  timestamptz  NOT NULL
);
CREATE INDEX IF NOT EXISTS order_status_history_order_idx ON order_status_history (order_id, id);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key              text         PRIMARY KEY,
    request_hash     text         NOT NULL,
    response_status  integer,
    response         jsonb,
    order_id         uuid,
    created_at       timestamptz  NOT NULL
);
