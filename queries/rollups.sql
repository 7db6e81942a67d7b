-- name: GetCreatorBalance :one
-- A creator's balances in one program, from the rollup the ledger keeps in
-- step (CreatorBalances sums the ledger itself; ledger.Check compares them).
SELECT pending_cents, available_cents, paid_cents
FROM creator_balances WHERE app_id = $1 AND creator_id = $2;

-- name: ProgramDays :many
-- A program's counters for each UTC day in [from, to] that has any.
SELECT coalesce(d.day, c.day)::date AS day,
       coalesce(c.clicks, 0)::bigint AS clicks,
       coalesce(c.unique_clicks, 0)::bigint AS unique_clicks,
       coalesce(d.signups, 0)::bigint AS signups,
       coalesce(d.conversions, 0)::bigint AS conversions,
       coalesce(d.amount_cents, 0)::bigint AS amount_cents,
       coalesce(d.commission_cents, 0)::bigint AS commission_cents,
       coalesce(d.platform_fee_cents, 0)::bigint AS platform_fee_cents,
       coalesce(d.net_commission_cents, 0)::bigint AS net_commission_cents,
       coalesce(d.refunds, 0)::bigint AS refunds,
       coalesce(d.refunded_cents, 0)::bigint AS refunded_cents,
       coalesce(d.reversed_commission_cents, 0)::bigint AS reversed_commission_cents,
       coalesce(d.reversed_platform_fee_cents, 0)::bigint AS reversed_platform_fee_cents,
       coalesce(d.reversed_net_commission_cents, 0)::bigint AS reversed_net_commission_cents
FROM (SELECT * FROM app_daily WHERE app_daily.app_id = @app_id AND app_daily.day BETWEEN @from_day::date AND @to_day::date) d
FULL JOIN (SELECT * FROM app_click_daily WHERE app_click_daily.app_id = @app_id AND app_click_daily.day BETWEEN @from_day::date AND @to_day::date) c
    ON c.day = d.day
ORDER BY 1;

-- name: CreatorBalanceDrift :many
-- Creators whose rollup disagrees with the ledger's creator accounts.
SELECT coalesce(l.app_id, b.app_id)::text AS app_id, coalesce(l.creator_id, b.creator_id)::text AS creator_id,
       coalesce(l.pending_cents, 0)::bigint AS ledger_pending, coalesce(b.pending_cents, 0)::bigint AS rollup_pending,
       coalesce(l.available_cents, 0)::bigint AS ledger_available, coalesce(b.available_cents, 0)::bigint AS rollup_available,
       coalesce(l.paid_cents, 0)::bigint AS ledger_paid, coalesce(b.paid_cents, 0)::bigint AS rollup_paid
FROM ledger_creator_balances l FULL JOIN creator_balances b ON b.app_id = l.app_id AND b.creator_id = l.creator_id
WHERE coalesce(l.pending_cents, 0) <> coalesce(b.pending_cents, 0)
   OR coalesce(l.available_cents, 0) <> coalesce(b.available_cents, 0)
   OR coalesce(l.paid_cents, 0) <> coalesce(b.paid_cents, 0)
ORDER BY 1, 2;

-- name: ProgramDayDrift :many
-- Program days whose rollups disagree with the rows they summarise.
WITH base AS (
    SELECT app_id, day, sum(clicks) AS clicks, sum(unique_clicks) AS unique_clicks, sum(signups) AS signups,
           sum(conversions) AS conversions, sum(amount) AS amount, sum(commission) AS commission, sum(fee) AS fee,
           sum(net) AS net, sum(refunds) AS refunds, sum(refunded) AS refunded, sum(r_commission) AS r_commission,
           sum(r_fee) AS r_fee, sum(r_net) AS r_net
    FROM (
        SELECT r.app_id, d.day, d.clicks, d.unique_clicks, 0 AS signups, 0 AS conversions, 0 AS amount, 0 AS commission,
               0 AS fee, 0 AS net, 0 AS refunds, 0 AS refunded, 0 AS r_commission, 0 AS r_fee, 0 AS r_net
        FROM click_daily d JOIN ref_codes r ON r.code = d.ref_code
        UNION ALL
        SELECT app_id, (created_at AT TIME ZONE 'UTC')::date, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM referrals
        UNION ALL
        SELECT app_id, (created_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 1, amount_cents, commission_cents,
               platform_fee_cents, net_commission_cents, 0, 0, 0, 0, 0
        FROM conversions
        UNION ALL
        SELECT app_id, (created_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 0, 0, 0, 0, 1, amount_cents,
               commission_cents, platform_fee_cents, net_commission_cents
        FROM refunds
    ) t
    GROUP BY app_id, day
), rollup AS (
    SELECT coalesce(d.app_id, c.app_id) AS app_id, coalesce(d.day, c.day) AS day,
           coalesce(c.clicks, 0) AS clicks, coalesce(c.unique_clicks, 0) AS unique_clicks,
           coalesce(d.signups, 0) AS signups, coalesce(d.conversions, 0) AS conversions,
           coalesce(d.amount_cents, 0) AS amount, coalesce(d.commission_cents, 0) AS commission,
           coalesce(d.platform_fee_cents, 0) AS fee, coalesce(d.net_commission_cents, 0) AS net,
           coalesce(d.refunds, 0) AS refunds, coalesce(d.refunded_cents, 0) AS refunded,
           coalesce(d.reversed_commission_cents, 0) AS r_commission,
           coalesce(d.reversed_platform_fee_cents, 0) AS r_fee,
           coalesce(d.reversed_net_commission_cents, 0) AS r_net
    FROM app_daily d FULL JOIN app_click_daily c ON c.app_id = d.app_id AND c.day = d.day
), diff AS (
    (SELECT 'rows' AS side, base.app_id, base.day, base.clicks::bigint, base.unique_clicks::bigint, base.signups::bigint,
            base.conversions::bigint, base.amount::bigint, base.commission::bigint, base.fee::bigint, base.net::bigint,
            base.refunds::bigint, base.refunded::bigint, base.r_commission::bigint, base.r_fee::bigint, base.r_net::bigint
     FROM base
     EXCEPT
     SELECT 'rows', rollup.app_id, rollup.day, rollup.clicks, rollup.unique_clicks, rollup.signups, rollup.conversions,
            rollup.amount, rollup.commission, rollup.fee, rollup.net, rollup.refunds, rollup.refunded,
            rollup.r_commission, rollup.r_fee, rollup.r_net
     FROM rollup WHERE (rollup.clicks, rollup.unique_clicks, rollup.signups, rollup.conversions, rollup.refunds) <> (0, 0, 0, 0, 0))
    UNION ALL
    (SELECT 'rollup', rollup.app_id, rollup.day, rollup.clicks, rollup.unique_clicks, rollup.signups, rollup.conversions,
            rollup.amount, rollup.commission, rollup.fee, rollup.net, rollup.refunds, rollup.refunded,
            rollup.r_commission, rollup.r_fee, rollup.r_net
     FROM rollup WHERE (rollup.clicks, rollup.unique_clicks, rollup.signups, rollup.conversions, rollup.refunds) <> (0, 0, 0, 0, 0)
     EXCEPT
     SELECT 'rollup', base.app_id, base.day, base.clicks::bigint, base.unique_clicks::bigint, base.signups::bigint,
            base.conversions::bigint, base.amount::bigint, base.commission::bigint, base.fee::bigint, base.net::bigint,
            base.refunds::bigint, base.refunded::bigint, base.r_commission::bigint, base.r_fee::bigint, base.r_net::bigint
     FROM base)
)
SELECT diff.side::text AS side, diff.app_id::text AS app_id, diff.day::date AS day,
       diff.clicks::bigint AS clicks, diff.unique_clicks::bigint AS unique_clicks, diff.signups::bigint AS signups,
       diff.conversions::bigint AS conversions, diff.amount::bigint AS amount_cents,
       diff.commission::bigint AS commission_cents, diff.net::bigint AS net_commission_cents,
       diff.refunds::bigint AS refunds, diff.refunded::bigint AS refunded_cents
FROM diff ORDER BY 2, 3, 1;

-- name: RefTotals :one
-- A ref link's signups and conversions, from its per-day rollup.
SELECT coalesce(sum(signups), 0)::bigint AS signups,
       coalesce(sum(conversions), 0)::bigint AS conversions
FROM ref_daily WHERE ref_code = $1;

-- name: RefDayDrift :many
-- Ref days whose rollup disagrees with the referrals and conversions.
WITH base AS (
    SELECT ref_code, day, sum(signups) AS signups, sum(conversions) AS conversions
    FROM (
        SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS signups, 0 AS conversions FROM referrals
        UNION ALL
        SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date, 0, 1 FROM conversions
    ) t
    GROUP BY ref_code, day
)
SELECT coalesce(b.ref_code, r.ref_code)::text AS ref_code, coalesce(b.day, r.day)::date AS day,
       coalesce(b.signups, 0)::bigint AS row_signups, coalesce(r.signups, 0)::bigint AS rollup_signups,
       coalesce(b.conversions, 0)::bigint AS row_conversions, coalesce(r.conversions, 0)::bigint AS rollup_conversions
FROM base b FULL JOIN ref_daily r ON r.ref_code = b.ref_code AND r.day = b.day
WHERE coalesce(b.signups, 0) <> coalesce(r.signups, 0) OR coalesce(b.conversions, 0) <> coalesce(r.conversions, 0)
ORDER BY 1, 2;
