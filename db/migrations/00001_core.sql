-- +goose Up

-- An app is one merchant's creator program.
CREATE TABLE apps (
    id                  text PRIMARY KEY,            -- public id, app_…
    name                text NOT NULL CHECK (name <> ''),
    -- Commission percent in basis points (3000 = 30%), stored exactly and
    -- snapshotted on every conversion.
    commission_bps      integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    -- Refund window: how long a commission stays pending before release.
    hold_seconds        bigint NOT NULL DEFAULT 1209600 CHECK (hold_seconds >= 0),
    currency            text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
    cookie_days         integer NOT NULL DEFAULT 60 CHECK (cookie_days BETWEEN 1 AND 730),
    -- When true, conversion and refund accept the ref code alone (the guide's
    -- keyless mode). Off by default: PRODUCT.md tightens the guide here.
    keyless_conversions boolean NOT NULL DEFAULT false,
    min_payout_cents    bigint NOT NULL DEFAULT 5000 CHECK (min_payout_cents >= 0),
    allowed_origins     text[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Secret keys are shown once and stored only as a SHA-256 hash.
CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    app_id      text NOT NULL REFERENCES apps (id),
    key_hash    bytea NOT NULL UNIQUE,
    key_prefix  text NOT NULL,                  -- first characters, to tell keys apart
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_app_idx ON api_keys (app_id);

CREATE TABLE creators (
    id          text PRIMARY KEY,               -- cr_…
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX creators_email_idx ON creators (lower(email));

-- One ref code per creator per app; a ref code alone names both.
CREATE TABLE ref_codes (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9_-]{3,32}$'),
    app_id      text NOT NULL REFERENCES apps (id),
    creator_id  text NOT NULL REFERENCES creators (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, creator_id)
);

-- Raw click events: every accepted click, counted or not.
CREATE TABLE clicks (
    id           bigserial PRIMARY KEY,
    ref_code     text NOT NULL REFERENCES ref_codes (code),
    app_id       text NOT NULL REFERENCES apps (id),
    visitor_hash bytea NOT NULL,
    is_unique    boolean NOT NULL,
    is_bot       boolean NOT NULL,
    url          text NOT NULL DEFAULT '',
    referrer     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clicks_ref_created_idx ON clicks (ref_code, created_at);

-- Last time a visitor's click on a ref was counted as unique.
CREATE TABLE click_visitors (
    ref_code        text NOT NULL REFERENCES ref_codes (code),
    visitor_hash    bytea NOT NULL,
    last_counted_at timestamptz NOT NULL,
    PRIMARY KEY (ref_code, visitor_hash)
);

-- Per-day counters so stats never scan raw clicks.
CREATE TABLE click_daily (
    ref_code      text NOT NULL REFERENCES ref_codes (code),
    day           date NOT NULL,
    clicks        bigint NOT NULL DEFAULT 0,
    unique_clicks bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (ref_code, day)
);

-- A referred user: the app's own user_id, attributed first-touch at signup.
CREATE TABLE referrals (
    id            text PRIMARY KEY,             -- rfl_…
    app_id        text NOT NULL REFERENCES apps (id),
    ref_code      text NOT NULL REFERENCES ref_codes (code),
    creator_id    text NOT NULL REFERENCES creators (id),
    user_id       text NOT NULL CHECK (user_id <> ''),
    email         text NOT NULL DEFAULT '',
    self_referral boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, user_id)
);
CREATE INDEX referrals_ref_idx ON referrals (ref_code);

CREATE TABLE conversions (
    id                   text PRIMARY KEY,      -- cv_…
    app_id               text NOT NULL REFERENCES apps (id),
    ref_code             text NOT NULL REFERENCES ref_codes (code),
    creator_id           text NOT NULL REFERENCES creators (id),
    referral_id          text REFERENCES referrals (id),
    user_id              text NOT NULL DEFAULT '',
    -- transaction_id or Idempotency-Key: a repeat returns the first answer.
    dedupe_key           text,
    amount_cents         bigint NOT NULL CHECK (amount_cents > 0 AND amount_cents <= 1000000000000),
    currency             text NOT NULL,
    commission_bps       integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    commission_cents     bigint NOT NULL CHECK (commission_cents >= 0),
    platform_fee_cents   bigint NOT NULL CHECK (platform_fee_cents >= 0),
    net_commission_cents bigint NOT NULL CHECK (net_commission_cents >= 0),
    status               text NOT NULL CHECK (status IN ('pending', 'available', 'refunded')),
    refunded_cents       bigint NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    workflow_id          text NOT NULL,
    created_at           timestamptz NOT NULL,
    available_at         timestamptz NOT NULL,
    released_at          timestamptz,
    CHECK (commission_cents = platform_fee_cents + net_commission_cents),
    UNIQUE (app_id, dedupe_key)
);
CREATE INDEX conversions_ref_created_idx ON conversions (ref_code, created_at DESC);
CREATE INDEX conversions_app_user_idx ON conversions (app_id, user_id, created_at DESC);

CREATE TABLE refunds (
    id                   text PRIMARY KEY,      -- rf_…
    conversion_id        text NOT NULL REFERENCES conversions (id),
    app_id               text NOT NULL REFERENCES apps (id),
    -- refund_id or Idempotency-Key from the caller: a repeat returns the first answer.
    dedupe_key           text,
    amount_cents         bigint NOT NULL CHECK (amount_cents > 0),
    commission_cents     bigint NOT NULL CHECK (commission_cents >= 0),
    platform_fee_cents   bigint NOT NULL CHECK (platform_fee_cents >= 0),
    net_commission_cents bigint NOT NULL CHECK (net_commission_cents >= 0),
    -- true when the commission had already been released: a clawback.
    clawback             boolean NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (commission_cents = platform_fee_cents + net_commission_cents),
    UNIQUE (app_id, dedupe_key)
);
CREATE INDEX refunds_conversion_idx ON refunds (conversion_id);

-- The append-only ledger. Money moves only by appending a transfer from one
-- account to another (double entry: every transfer sums to zero), and every
-- balance is a sum of transfers. transfer_key makes each movement idempotent:
-- an activity retried after a crash appends nothing twice.
CREATE TABLE ledger_transfers (
    id             bigserial PRIMARY KEY,
    transfer_key   text NOT NULL UNIQUE,
    app_id         text NOT NULL REFERENCES apps (id),
    creator_id     text NOT NULL REFERENCES creators (id),
    conversion_id  text REFERENCES conversions (id),
    refund_id      text REFERENCES refunds (id),
    debit_account  text NOT NULL CHECK (debit_account IN
        ('app', 'creator_pending', 'creator_available', 'creator_paid', 'platform_pending', 'platform_revenue')),
    credit_account text NOT NULL CHECK (credit_account IN
        ('app', 'creator_pending', 'creator_available', 'creator_paid', 'platform_pending', 'platform_revenue')),
    amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
    kind           text NOT NULL CHECK (kind IN ('credit', 'release', 'reversal', 'clawback', 'payout')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_creator_idx ON ledger_transfers (app_id, creator_id);
CREATE INDEX ledger_conversion_idx ON ledger_transfers (conversion_id);

-- Append-only means append-only.
-- +goose StatementBegin
CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_transfers is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable();

-- +goose Down
DROP TABLE ledger_transfers;
DROP FUNCTION ledger_transfers_immutable;
DROP TABLE refunds;
DROP TABLE conversions;
DROP TABLE referrals;
DROP TABLE click_daily;
DROP TABLE click_visitors;
DROP TABLE clicks;
DROP TABLE ref_codes;
DROP TABLE creators;
DROP TABLE api_keys;
DROP TABLE apps;
