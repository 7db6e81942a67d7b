-- +goose Up
-- The API version each event was rendered in: events are read by it
-- (internal/stripeevent), and an operator sees it in `agentlinks stripe-events`.
ALTER TABLE stripe_events ADD COLUMN api_version text NOT NULL DEFAULT '';

-- From 2025-03-31.basil on a charge no longer names its invoice: an
-- invoice_payment ties a payment intent or charge to the invoice it paid.
-- Each such id is remembered as an alias of the invoice, so that a refund
-- or dispute naming it finds the invoice's conversion.
CREATE TABLE stripe_payments (
    account    text NOT NULL,
    payment_id text NOT NULL,              -- pi_… or ch_…
    invoice_id text NOT NULL,              -- in_…
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, payment_id)
);

-- +goose Down
DROP TABLE stripe_payments;
ALTER TABLE stripe_events DROP COLUMN api_version;
