-- +goose Up
-- Derived aggregates for the dashboard's reads, kept in step with the rows
-- they summarise in the same transaction (triggers; the click writer updates
-- app_click_daily in its batch statement). They are caches of what the
-- append-only tables say, never a source of truth: ledger.Check recomputes
-- every one of them and reports a difference.

-- A program's clicks per UTC day (the click writer adds to it with click_daily).
CREATE TABLE app_click_daily (
    app_id        text NOT NULL REFERENCES apps (id),
    day           date NOT NULL,
    clicks        bigint NOT NULL DEFAULT 0,
    unique_clicks bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, day)
);

-- A program's signups, conversions and refunds per UTC day.
CREATE TABLE app_daily (
    app_id                        text NOT NULL REFERENCES apps (id),
    day                           date NOT NULL,
    signups                       bigint NOT NULL DEFAULT 0,
    conversions                   bigint NOT NULL DEFAULT 0,
    amount_cents                  bigint NOT NULL DEFAULT 0,
    commission_cents              bigint NOT NULL DEFAULT 0,
    platform_fee_cents            bigint NOT NULL DEFAULT 0,
    net_commission_cents          bigint NOT NULL DEFAULT 0,
    refunds                       bigint NOT NULL DEFAULT 0,
    refunded_cents                bigint NOT NULL DEFAULT 0,
    reversed_commission_cents     bigint NOT NULL DEFAULT 0,
    reversed_platform_fee_cents   bigint NOT NULL DEFAULT 0,
    reversed_net_commission_cents bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, day)
);

-- A ref link's signups and conversions per UTC day (its clicks are in
-- click_daily).
CREATE TABLE ref_daily (
    ref_code    text NOT NULL REFERENCES ref_codes (code),
    day         date NOT NULL,
    signups     bigint NOT NULL DEFAULT 0,
    conversions bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (ref_code, day)
);

-- A creator's balances in one program summed from the ledger itself: what
-- creator_balances must always equal (ledger.Check), and its backfill.
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

-- A creator's balances in one program: the ledger's creator accounts summed,
-- kept in step by a trigger.
CREATE TABLE creator_balances (
    app_id          text NOT NULL REFERENCES apps (id),
    creator_id      text NOT NULL REFERENCES creators (id),
    pending_cents   bigint NOT NULL DEFAULT 0,
    available_cents bigint NOT NULL DEFAULT 0,
    paid_cents      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, creator_id)
);

-- +goose StatementBegin
CREATE FUNCTION rollup_referral() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app_daily AS d (app_id, day, signups)
    VALUES (NEW.app_id, (NEW.created_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (app_id, day) DO UPDATE SET signups = d.signups + 1;
    INSERT INTO ref_daily AS r (ref_code, day, signups)
    VALUES (NEW.ref_code, (NEW.created_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (ref_code, day) DO UPDATE SET signups = r.signups + 1;
    RETURN NULL;
END;
$$;

CREATE FUNCTION rollup_conversion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app_daily AS d (app_id, day, conversions, amount_cents, commission_cents,
                                platform_fee_cents, net_commission_cents)
    VALUES (NEW.app_id, (NEW.created_at AT TIME ZONE 'UTC')::date, 1, NEW.amount_cents,
            NEW.commission_cents, NEW.platform_fee_cents, NEW.net_commission_cents)
    ON CONFLICT (app_id, day) DO UPDATE SET
        conversions          = d.conversions + 1,
        amount_cents         = d.amount_cents + EXCLUDED.amount_cents,
        commission_cents     = d.commission_cents + EXCLUDED.commission_cents,
        platform_fee_cents   = d.platform_fee_cents + EXCLUDED.platform_fee_cents,
        net_commission_cents = d.net_commission_cents + EXCLUDED.net_commission_cents;
    INSERT INTO ref_daily AS r (ref_code, day, conversions)
    VALUES (NEW.ref_code, (NEW.created_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (ref_code, day) DO UPDATE SET conversions = r.conversions + 1;
    RETURN NULL;
END;
$$;

CREATE FUNCTION rollup_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app_daily AS d (app_id, day, refunds, refunded_cents, reversed_commission_cents,
                                reversed_platform_fee_cents, reversed_net_commission_cents)
    VALUES (NEW.app_id, (NEW.created_at AT TIME ZONE 'UTC')::date, 1, NEW.amount_cents,
            NEW.commission_cents, NEW.platform_fee_cents, NEW.net_commission_cents)
    ON CONFLICT (app_id, day) DO UPDATE SET
        refunds                       = d.refunds + 1,
        refunded_cents                = d.refunded_cents + EXCLUDED.refunded_cents,
        reversed_commission_cents     = d.reversed_commission_cents + EXCLUDED.reversed_commission_cents,
        reversed_platform_fee_cents   = d.reversed_platform_fee_cents + EXCLUDED.reversed_platform_fee_cents,
        reversed_net_commission_cents = d.reversed_net_commission_cents + EXCLUDED.reversed_net_commission_cents;
    RETURN NULL;
END;
$$;

-- One transfer moves money between at most two of a creator's accounts.
CREATE FUNCTION rollup_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER referrals_rollup AFTER INSERT ON referrals
    FOR EACH ROW EXECUTE FUNCTION rollup_referral();
CREATE TRIGGER conversions_rollup AFTER INSERT ON conversions
    FOR EACH ROW EXECUTE FUNCTION rollup_conversion();
CREATE TRIGGER refunds_rollup AFTER INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION rollup_refund();
CREATE TRIGGER ledger_transfers_rollup AFTER INSERT ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION rollup_transfer();

-- The same aggregates computed from the rows they summarise: what the
-- rollups must always equal (ledger.Check), and their backfill.
CREATE VIEW app_click_daily_from_rows AS
SELECT r.app_id, d.day, sum(d.clicks)::bigint AS clicks, sum(d.unique_clicks)::bigint AS unique_clicks
FROM click_daily d JOIN ref_codes r ON r.code = d.ref_code
GROUP BY r.app_id, d.day;

CREATE VIEW app_daily_from_rows AS
SELECT app_id, day, sum(signups)::bigint AS signups, sum(conversions)::bigint AS conversions,
       sum(amount)::bigint AS amount_cents, sum(commission)::bigint AS commission_cents,
       sum(fee)::bigint AS platform_fee_cents, sum(net)::bigint AS net_commission_cents,
       sum(refunds)::bigint AS refunds, sum(refunded)::bigint AS refunded_cents,
       sum(r_commission)::bigint AS reversed_commission_cents, sum(r_fee)::bigint AS reversed_platform_fee_cents,
       sum(r_net)::bigint AS reversed_net_commission_cents
FROM (
    SELECT app_id, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS signups, 0 AS conversions, 0 AS amount,
           0 AS commission, 0 AS fee, 0 AS net, 0 AS refunds, 0 AS refunded, 0 AS r_commission, 0 AS r_fee, 0 AS r_net
    FROM referrals
    UNION ALL
    SELECT app_id, (created_at AT TIME ZONE 'UTC')::date, 0, 1, amount_cents, commission_cents, platform_fee_cents,
           net_commission_cents, 0, 0, 0, 0, 0
    FROM conversions
    UNION ALL
    SELECT app_id, (created_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 0, 0, 1, amount_cents, commission_cents,
           platform_fee_cents, net_commission_cents
    FROM refunds
) t
GROUP BY app_id, day;

CREATE VIEW ref_daily_from_rows AS
SELECT ref_code, day, sum(signups)::bigint AS signups, sum(conversions)::bigint AS conversions
FROM (
    SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS signups, 0 AS conversions FROM referrals
    UNION ALL
    SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date, 0, 1 FROM conversions
) t
GROUP BY ref_code, day;

-- What was there before the triggers.
INSERT INTO app_click_daily (app_id, day, clicks, unique_clicks)
SELECT app_id, day, clicks, unique_clicks FROM app_click_daily_from_rows;

INSERT INTO app_daily (app_id, day, signups, conversions, amount_cents, commission_cents, platform_fee_cents,
                       net_commission_cents, refunds, refunded_cents, reversed_commission_cents,
                       reversed_platform_fee_cents, reversed_net_commission_cents)
SELECT app_id, day, signups, conversions, amount_cents, commission_cents, platform_fee_cents,
       net_commission_cents, refunds, refunded_cents, reversed_commission_cents,
       reversed_platform_fee_cents, reversed_net_commission_cents
FROM app_daily_from_rows;

INSERT INTO ref_daily (ref_code, day, signups, conversions)
SELECT ref_code, day, signups, conversions FROM ref_daily_from_rows;

INSERT INTO creator_balances (app_id, creator_id, pending_cents, available_cents, paid_cents)
SELECT app_id, creator_id, pending_cents, available_cents, paid_cents FROM ledger_creator_balances;

-- +goose Down
DROP TRIGGER ledger_transfers_rollup ON ledger_transfers;
DROP TRIGGER refunds_rollup ON refunds;
DROP TRIGGER conversions_rollup ON conversions;
DROP TRIGGER referrals_rollup ON referrals;
DROP FUNCTION rollup_transfer;
DROP FUNCTION rollup_refund;
DROP FUNCTION rollup_conversion;
DROP FUNCTION rollup_referral;
DROP VIEW ref_daily_from_rows;
DROP VIEW app_daily_from_rows;
DROP VIEW app_click_daily_from_rows;
DROP TABLE creator_balances;
DROP VIEW ledger_creator_balances;
DROP TABLE ref_daily;
DROP TABLE app_daily;
DROP TABLE app_click_daily;
