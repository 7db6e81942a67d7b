-- +goose Up
-- Cashing out (PRODUCT.md, Cash out). A payout run reserves each eligible
-- creator's available balance (creator_available → creator_in_payout),
-- collects the creators' net plus the platform fee from the app, then pays
-- each creator (creator_in_payout → creator_paid); a failure returns the
-- reservation (creator_in_payout → creator_available) and a reversed
-- transfer moves it back from paid (creator_paid → creator_available).

-- How an app pays its creators: through AgentLinks (Stripe transfers to the
-- creators' Express accounts, funded by charging the app's saved payment
-- method) or itself (manual: the owner pays and marks each payout paid).
ALTER TABLE apps
    ADD COLUMN payout_mode text NOT NULL DEFAULT 'stripe' CHECK (payout_mode IN ('stripe', 'manual')),
    -- A run is confirmed by the owner unless the program confirms its own.
    ADD COLUMN payout_auto_confirm boolean NOT NULL DEFAULT false,
    -- '' (no schedule), 'monthly:D' (day D of each month, 1..28) or
    -- 'every:N' (every N days, 1..365); a Temporal Schedule per app.
    ADD COLUMN payout_schedule text NOT NULL DEFAULT ''
        CHECK (payout_schedule = '' OR payout_schedule ~ '^(monthly:([1-9]|1[0-9]|2[0-8])|every:[1-9][0-9]{0,2})$'),
    -- The platform's Stripe customer for the app and its saved payment
    -- method (set up in the dashboard by a SetupIntent in Checkout).
    ADD COLUMN stripe_customer_id text,
    ADD COLUMN payment_method_id text,
    ADD COLUMN payment_method_label text NOT NULL DEFAULT '';

-- A creator's Stripe Express account, one per person across programs, and
-- the state account.updated last told.
ALTER TABLE creators
    ADD COLUMN payout_account_id text UNIQUE CHECK (payout_account_id LIKE 'acct_%'),
    ADD COLUMN payouts_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN transfers_active boolean NOT NULL DEFAULT false,
    ADD COLUMN details_submitted boolean NOT NULL DEFAULT false,
    ADD COLUMN requirements_due text[] NOT NULL DEFAULT '{}',
    ADD COLUMN payout_account_updated_at timestamptz;

CREATE TABLE payout_runs (
    id               text PRIMARY KEY,        -- the run workflow's id: payout-run-…
    app_id           text NOT NULL REFERENCES apps (id),
    trigger          text NOT NULL CHECK (trigger IN ('schedule', 'operator', 'owner', 'request')),
    mode             text NOT NULL CHECK (mode IN ('stripe', 'manual')),
    status           text NOT NULL CHECK (status IN ('awaiting_confirmation', 'charging', 'paying',
                         'awaiting_payment', 'completed', 'failed', 'canceled', 'empty')),
    currency         text NOT NULL,
    net_cents        bigint NOT NULL DEFAULT 0 CHECK (net_cents >= 0),   -- what the creators get
    fee_cents        bigint NOT NULL DEFAULT 0 CHECK (fee_cents >= 0),   -- AgentLinks' fee on it
    -- Money the app paid before and AgentLinks still holds (payouts that
    -- failed or were reversed after funding), taken off this run's charge.
    credit_cents     bigint NOT NULL DEFAULT 0 CHECK (credit_cents >= 0),
    charge_cents     bigint NOT NULL DEFAULT 0 CHECK (charge_cents >= 0),
    payment_intent_id text,
    -- Why creators were left out (below minimum, clawback debt, no payout account).
    skipped          jsonb NOT NULL DEFAULT '[]',
    failure_reason   text NOT NULL DEFAULT '',
    confirmed_by     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    confirmed_at     timestamptz,
    funded_at        timestamptz,
    finished_at      timestamptz,
    CHECK (charge_cents = 0 OR charge_cents = net_cents + fee_cents - credit_cents)
);
CREATE INDEX payout_runs_app_idx ON payout_runs (app_id, created_at DESC);

CREATE TABLE payouts (
    id                text PRIMARY KEY,       -- po_…
    run_id            text NOT NULL REFERENCES payout_runs (id),
    app_id            text NOT NULL REFERENCES apps (id),
    creator_id        text NOT NULL REFERENCES creators (id),
    amount_cents      bigint NOT NULL CHECK (amount_cents > 0),  -- the creator's net
    fee_cents         bigint NOT NULL CHECK (fee_cents >= 0),
    currency          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('reserved', 'processing', 'awaiting_payment',
                          'paid', 'failed', 'reversed')),
    destination       text,                   -- the Express account, fixed at reservation
    transfer_id       text UNIQUE,
    -- Stripe keeps the answer to an Idempotency-Key, errors included: after
    -- balance_insufficient (which created nothing) the next try needs a new
    -- key, payout-<id>-<attempt>; every other retry keeps the key it had.
    transfer_attempt  integer NOT NULL DEFAULT 0,
    reference         text NOT NULL DEFAULT '',  -- manual: the owner's payment reference
    failure_reason    text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    paid_at           timestamptz,
    failed_at         timestamptz,
    reversed_at       timestamptz,
    UNIQUE (run_id, creator_id)
);
CREATE INDEX payouts_creator_idx ON payouts (app_id, creator_id, created_at DESC);

-- Which conversions' available money a payout carries, so that every
-- payout movement is also a movement of those conversions and the
-- per-conversion invariant holds with payouts in it.
CREATE TABLE payout_allocations (
    payout_id     text NOT NULL REFERENCES payouts (id),
    conversion_id text NOT NULL REFERENCES conversions (id),
    amount_cents  bigint NOT NULL CHECK (amount_cents > 0),
    fee_cents     bigint NOT NULL CHECK (fee_cents >= 0),
    PRIMARY KEY (payout_id, conversion_id)
);
CREATE INDEX payout_allocations_conversion_idx ON payout_allocations (conversion_id);

-- The ledger learns the payout accounts and movements. A collection (what
-- the app paid for a run) belongs to no creator.
ALTER TABLE ledger_transfers
    ADD COLUMN payout_id text REFERENCES payouts (id),
    ADD COLUMN run_id text REFERENCES payout_runs (id),
    ALTER COLUMN creator_id DROP NOT NULL,
    DROP CONSTRAINT ledger_transfers_debit_account_check,
    DROP CONSTRAINT ledger_transfers_credit_account_check,
    DROP CONSTRAINT ledger_transfers_kind_check,
    ADD CONSTRAINT ledger_transfers_debit_account_check CHECK (debit_account IN
        ('app', 'app_collected', 'creator_pending', 'creator_available', 'creator_in_payout', 'creator_paid',
         'platform_pending', 'platform_revenue')),
    ADD CONSTRAINT ledger_transfers_credit_account_check CHECK (credit_account IN
        ('app', 'app_collected', 'creator_pending', 'creator_available', 'creator_in_payout', 'creator_paid',
         'platform_pending', 'platform_revenue')),
    ADD CONSTRAINT ledger_transfers_kind_check CHECK (kind IN
        ('credit', 'release', 'reversal', 'clawback', 'payout', 'payout_reserve', 'payout_return',
         'payout_reversal', 'collection')),
    ADD CONSTRAINT ledger_transfers_creator_check CHECK (creator_id IS NOT NULL OR kind = 'collection');
CREATE INDEX ledger_payout_idx ON ledger_transfers (payout_id) WHERE payout_id IS NOT NULL;

ALTER TABLE creator_balances ADD COLUMN in_payout_cents bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE VIEW ledger_creator_balances AS
SELECT app_id, creator_id,
       sum(CASE WHEN credit_account = 'creator_pending' THEN amount_cents
                WHEN debit_account = 'creator_pending' THEN -amount_cents ELSE 0 END)::bigint AS pending_cents,
       sum(CASE WHEN credit_account = 'creator_available' THEN amount_cents
                WHEN debit_account = 'creator_available' THEN -amount_cents ELSE 0 END)::bigint AS available_cents,
       sum(CASE WHEN credit_account = 'creator_paid' THEN amount_cents
                WHEN debit_account = 'creator_paid' THEN -amount_cents ELSE 0 END)::bigint AS paid_cents,
       sum(CASE WHEN credit_account = 'creator_in_payout' THEN amount_cents
                WHEN debit_account = 'creator_in_payout' THEN -amount_cents ELSE 0 END)::bigint AS in_payout_cents
FROM ledger_transfers
WHERE creator_id IS NOT NULL
GROUP BY app_id, creator_id;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rollup_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    dp bigint := 0; da bigint := 0; dpaid bigint := 0; dinp bigint := 0;
BEGIN
    IF NEW.creator_id IS NULL THEN
        RETURN NULL;
    END IF;
    CASE NEW.credit_account
        WHEN 'creator_pending'   THEN dp    := dp + NEW.amount_cents;
        WHEN 'creator_available' THEN da    := da + NEW.amount_cents;
        WHEN 'creator_paid'      THEN dpaid := dpaid + NEW.amount_cents;
        WHEN 'creator_in_payout' THEN dinp  := dinp + NEW.amount_cents;
        ELSE NULL;
    END CASE;
    CASE NEW.debit_account
        WHEN 'creator_pending'   THEN dp    := dp - NEW.amount_cents;
        WHEN 'creator_available' THEN da    := da - NEW.amount_cents;
        WHEN 'creator_paid'      THEN dpaid := dpaid - NEW.amount_cents;
        WHEN 'creator_in_payout' THEN dinp  := dinp - NEW.amount_cents;
        ELSE NULL;
    END CASE;
    IF dp <> 0 OR da <> 0 OR dpaid <> 0 OR dinp <> 0 THEN
        INSERT INTO creator_balances AS b (app_id, creator_id, pending_cents, available_cents, paid_cents, in_payout_cents)
        VALUES (NEW.app_id, NEW.creator_id, dp, da, dpaid, dinp)
        ON CONFLICT (app_id, creator_id) DO UPDATE SET
            pending_cents   = b.pending_cents + EXCLUDED.pending_cents,
            available_cents = b.available_cents + EXCLUDED.available_cents,
            paid_cents      = b.paid_cents + EXCLUDED.paid_cents,
            in_payout_cents = b.in_payout_cents + EXCLUDED.in_payout_cents;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rollup_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    dp bigint := 0; da bigint := 0; dpaid bigint := 0;
BEGIN
    CASE NEW.credit_account
        WHEN 'creator_pending'   THEN dp    := dp + NEW.amount_cents;
        WHEN 'creator_available' THEN da    := da + NEW.amount_cents;
        WHEN 'creator_paid'      THEN dpaid := dpaid + NEW.amount_cents;
        ELSE NULL;
    END CASE;
    CASE NEW.debit_account
        WHEN 'creator_pending'   THEN dp    := dp - NEW.amount_cents;
        WHEN 'creator_available' THEN da    := da - NEW.amount_cents;
        WHEN 'creator_paid'      THEN dpaid := dpaid - NEW.amount_cents;
        ELSE NULL;
    END CASE;
    IF dp <> 0 OR da <> 0 OR dpaid <> 0 THEN
        INSERT INTO creator_balances AS b (app_id, creator_id, pending_cents, available_cents, paid_cents)
        VALUES (NEW.app_id, NEW.creator_id, dp, da, dpaid)
        ON CONFLICT (app_id, creator_id) DO UPDATE SET
            pending_cents   = b.pending_cents + EXCLUDED.pending_cents,
            available_cents = b.available_cents + EXCLUDED.available_cents,
            paid_cents      = b.paid_cents + EXCLUDED.paid_cents;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
DROP VIEW ledger_creator_balances;
CREATE VIEW ledger_creator_balances AS
SELECT app_id, creator_id,
       sum(CASE WHEN credit_account = 'creator_pending' THEN amount_cents
                WHEN debit_account = 'creator_pending' THEN -amount_cents ELSE 0 END)::bigint AS pending_cents,
       sum(CASE WHEN credit_account = 'creator_available' THEN amount_cents
                WHEN debit_account = 'creator_available' THEN -amount_cents ELSE 0 END)::bigint AS available_cents,
       sum(CASE WHEN credit_account = 'creator_paid' THEN amount_cents
                WHEN debit_account = 'creator_paid' THEN -amount_cents ELSE 0 END)::bigint AS paid_cents
FROM ledger_transfers
GROUP BY app_id, creator_id;
ALTER TABLE creator_balances DROP COLUMN in_payout_cents;
-- The widened account and kind checks stay: rows written under them may exist.
ALTER TABLE ledger_transfers
    DROP CONSTRAINT ledger_transfers_creator_check,
    DROP COLUMN run_id,
    DROP COLUMN payout_id;
DROP TABLE payout_allocations;
DROP TABLE payouts;
DROP TABLE payout_runs;
ALTER TABLE creators
    DROP COLUMN payout_account_updated_at, DROP COLUMN requirements_due, DROP COLUMN details_submitted,
    DROP COLUMN transfers_active, DROP COLUMN payouts_enabled, DROP COLUMN payout_account_id;
ALTER TABLE apps
    DROP COLUMN payment_method_label, DROP COLUMN payment_method_id, DROP COLUMN stripe_customer_id,
    DROP COLUMN payout_schedule, DROP COLUMN payout_auto_confirm, DROP COLUMN payout_mode;
