-- +goose Up

-- The Stripe account an app connected (OAuth, Standard accounts); one app per account.
ALTER TABLE apps ADD COLUMN stripe_account_id text UNIQUE;
ALTER TABLE apps ADD COLUMN stripe_connected_at timestamptz;

-- Every Stripe event received, once by its id. Processing is a Temporal
-- workflow per event; this row says how it ended.
CREATE TABLE stripe_events (
    id           text PRIMARY KEY,              -- evt_…
    type         text NOT NULL,
    account      text NOT NULL DEFAULT '',      -- the connected account, acct_…
    app_id       text REFERENCES apps (id),
    payload      bytea NOT NULL,                -- the signed body, byte for byte
    status       text NOT NULL DEFAULT 'received'
                 CHECK (status IN ('received', 'processed', 'ignored', 'parked')),
    note         text NOT NULL DEFAULT '',      -- why ignored or parked, or what it did
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX stripe_events_status_idx ON stripe_events (status) WHERE status IN ('received', 'parked');

-- What a connected account's customers carry in metadata.agentlinks_ref,
-- remembered so that a later invoice needs no API call. ref_code is NULL for
-- a customer known to have no ref.
CREATE TABLE stripe_customers (
    account     text NOT NULL,
    customer_id text NOT NULL,
    ref_code    text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, customer_id)
);

-- +goose Down
DROP TABLE stripe_customers;
DROP TABLE stripe_events;
ALTER TABLE apps DROP COLUMN stripe_connected_at;
ALTER TABLE apps DROP COLUMN stripe_account_id;
