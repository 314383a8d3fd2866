-- The ledger: one row per idempotency key, holding the result every retry of that key replays.
CREATE TABLE IF NOT EXISTS charges (
    charge_id       uuid        PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE
                                CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    order_id        uuid        NOT NULL,
    customer_id     text        NOT NULL CHECK (char_length(customer_id) BETWEEN 1 AND 200),
    -- Unconstrained NUMERIC keeps the scale as sent ("12.50" stays 12.50); the checks bound it.
    amount          numeric     NOT NULL
                                CHECK (amount > 0 AND scale(amount) <= 4 AND amount < 1e15),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status          text        NOT NULL CHECK (status IN ('succeeded', 'declined')),
    decline_code    text        CHECK ((status = 'declined') = (decline_code IS NOT NULL)),
    created_at      timestamptz NOT NULL DEFAULT now(),
    replays         bigint      NOT NULL DEFAULT 0 CHECK (replays >= 0)
);

CREATE INDEX IF NOT EXISTS charges_order_id ON charges (order_id);
