-- +goose Up
-- Outbound webhooks (PRODUCT.md, Outbound webhooks) and what the metrics
-- read when Prometheus scrapes.
--
-- An app registers endpoints; what happens to its money is written as an
-- event in the same transaction as the money moves (an outbox), with one
-- delivery per subscribed endpoint. The worker starts a Temporal workflow
-- per delivery, which tries until the endpoint answers 2xx or three days
-- have passed; every attempt is kept for the owner.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,          -- we_…
    app_id          text NOT NULL REFERENCES apps (id),
    url             text NOT NULL,
    events          text[] NOT NULL CHECK (cardinality(events) > 0),
    secret          text NOT NULL,             -- whsec_…: Standard Webhooks signing secret
    -- After a rotation the previous secret also signs for a day, so that a
    -- receiver can switch without dropping a delivery.
    previous_secret text,
    previous_secret_expires_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX webhook_endpoints_app_idx ON webhook_endpoints (app_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_events (
    id         text PRIMARY KEY,               -- msg_…: the webhook-id header, the same on every attempt
    app_id     text NOT NULL REFERENCES apps (id),
    type       text NOT NULL,
    -- What happened, once: conversion.created:<conversion id>, …
    key        text NOT NULL UNIQUE,
    payload    bytea NOT NULL,                 -- the body, byte for byte as signed
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id            text PRIMARY KEY,            -- whd_…
    event_id      text NOT NULL REFERENCES webhook_events (id),
    endpoint_id   text NOT NULL REFERENCES webhook_endpoints (id),
    app_id        text NOT NULL REFERENCES apps (id),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- When the worker started its workflow; NULL until then (and again
    -- when the owner resends it).
    dispatched_at timestamptz,
    delivered_at  timestamptz,
    failed_at     timestamptz,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX webhook_deliveries_app_idx ON webhook_deliveries (app_id, created_at DESC);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (created_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id  text NOT NULL REFERENCES webhook_deliveries (id),
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL,
    status_code  integer NOT NULL DEFAULT 0,   -- 0: no answer
    error        text NOT NULL DEFAULT '',
    duration_ms  integer NOT NULL,
    response     text NOT NULL DEFAULT '',     -- the start of the answer's body
    PRIMARY KEY (delivery_id, attempt)
);

-- What the metrics read on every scrape, each by an index.
CREATE INDEX conversions_release_due_idx ON conversions (available_at) WHERE status = 'pending';
CREATE INDEX payouts_status_idx ON payouts (status, currency) INCLUDE (amount_cents);
CREATE INDEX payout_runs_open_idx ON payout_runs (status)
    WHERE status IN ('awaiting_confirmation', 'charging', 'paying', 'awaiting_payment');

-- +goose Down
DROP INDEX payout_runs_open_idx;
DROP INDEX payouts_status_idx;
DROP INDEX conversions_release_due_idx;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
