-- +goose Up
-- The dashboard's lists read only what they show (bench -only reads: a
-- program with 1M conversions, a creator with 100k): a program's newest
-- conversions and refunds, a creator's pending commissions by the date
-- they become available, a creator's refunds, and the self-referrals.
CREATE INDEX conversions_app_created_idx ON conversions (app_id, created_at DESC, id DESC);
CREATE INDEX conversions_pending_idx ON conversions (app_id, creator_id, available_at, id) WHERE status = 'pending';
CREATE INDEX conversions_referral_idx ON conversions (referral_id) WHERE referral_id IS NOT NULL;
CREATE INDEX referrals_self_idx ON referrals (app_id, creator_id) WHERE self_referral;
CREATE INDEX refunds_app_created_idx ON refunds (app_id, created_at DESC, id DESC);

-- A refund names its conversion's creator, so that a creator's refunds
-- are read without going through every conversion of theirs.
ALTER TABLE refunds ADD COLUMN creator_id text REFERENCES creators (id);
UPDATE refunds r SET creator_id = c.creator_id FROM conversions c WHERE c.id = r.conversion_id;
ALTER TABLE refunds ALTER COLUMN creator_id SET NOT NULL;
CREATE INDEX refunds_creator_idx ON refunds (app_id, creator_id, created_at DESC);

-- Every move of a referred customer to another creator (or an
-- unattributed customer given one), by whom and when: attribution is
-- locked at signup, so an owner changing it leaves a trace.
CREATE TABLE referral_moves (
    id              bigserial PRIMARY KEY,
    referral_id     text NOT NULL REFERENCES referrals (id),
    app_id          text NOT NULL REFERENCES apps (id),
    from_creator_id text REFERENCES creators (id),   -- NULL: the customer had no creator
    to_creator_id   text NOT NULL REFERENCES creators (id),
    moved_by        text NOT NULL REFERENCES users (id),
    moved_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_moves_app_idx ON referral_moves (app_id, moved_at DESC);

-- A creator's earnings per day, beside their signups and conversions: the
-- net commission credited and reversed on each day, per ref (the refund's
-- ref is its conversion's).
ALTER TABLE ref_daily ADD COLUMN net_commission_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE ref_daily ADD COLUMN reversed_net_commission_cents bigint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rollup_conversion() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO ref_daily AS r (ref_code, day, conversions, net_commission_cents)
    VALUES (NEW.ref_code, (NEW.created_at AT TIME ZONE 'UTC')::date, 1, NEW.net_commission_cents)
    ON CONFLICT (ref_code, day) DO UPDATE SET
        conversions          = r.conversions + 1,
        net_commission_cents = r.net_commission_cents + EXCLUDED.net_commission_cents;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION rollup_refund() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO ref_daily AS r (ref_code, day, reversed_net_commission_cents)
    SELECT c.ref_code, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.net_commission_cents
    FROM conversions c WHERE c.id = NEW.conversion_id
    ON CONFLICT (ref_code, day) DO UPDATE SET
        reversed_net_commission_cents = r.reversed_net_commission_cents + EXCLUDED.reversed_net_commission_cents;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE OR REPLACE VIEW ref_daily_from_rows AS
SELECT ref_code, day, sum(signups)::bigint AS signups, sum(conversions)::bigint AS conversions,
       sum(net)::bigint AS net_commission_cents, sum(reversed)::bigint AS reversed_net_commission_cents
FROM (
    SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS signups, 0 AS conversions, 0::bigint AS net, 0::bigint AS reversed FROM referrals
    UNION ALL
    SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date, 0, 1, net_commission_cents, 0 FROM conversions
    UNION ALL
    SELECT c.ref_code, (r.created_at AT TIME ZONE 'UTC')::date, 0, 0, 0, r.net_commission_cents
    FROM refunds r JOIN conversions c ON c.id = r.conversion_id
) t
GROUP BY ref_code, day;

-- Earnings before the triggers counted them.
INSERT INTO ref_daily AS d (ref_code, day, net_commission_cents, reversed_net_commission_cents)
SELECT ref_code, day, net_commission_cents, reversed_net_commission_cents FROM ref_daily_from_rows
ON CONFLICT (ref_code, day) DO UPDATE SET
    net_commission_cents = EXCLUDED.net_commission_cents,
    reversed_net_commission_cents = EXCLUDED.reversed_net_commission_cents;
-- End of the earnings backfill.

-- +goose Down
CREATE OR REPLACE VIEW ref_daily_from_rows AS
SELECT ref_code, day, sum(signups)::bigint AS signups, sum(conversions)::bigint AS conversions
FROM (
    SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS signups, 0 AS conversions FROM referrals
    UNION ALL
    SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date, 0, 1 FROM conversions
) t
GROUP BY ref_code, day;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rollup_conversion() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION rollup_refund() RETURNS trigger LANGUAGE plpgsql AS $$
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
-- +goose StatementEnd
ALTER TABLE ref_daily DROP COLUMN reversed_net_commission_cents;
ALTER TABLE ref_daily DROP COLUMN net_commission_cents;
DROP TABLE referral_moves;
ALTER TABLE refunds DROP COLUMN creator_id;
DROP INDEX refunds_app_created_idx;
DROP INDEX referrals_self_idx;
DROP INDEX conversions_referral_idx;
DROP INDEX conversions_pending_idx;
DROP INDEX conversions_app_created_idx;
