-- name: GetCreatorBalance :one
-- A creator's balances in one program, from the rollup the ledger keeps in
-- step (CreatorBalances sums the ledger itself; ledger.Check compares them).
SELECT pending_cents, available_cents, paid_cents, in_payout_cents
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
       coalesce(l.paid_cents, 0)::bigint AS ledger_paid, coalesce(b.paid_cents, 0)::bigint AS rollup_paid,
       coalesce(l.in_payout_cents, 0)::bigint AS ledger_in_payout, coalesce(b.in_payout_cents, 0)::bigint AS rollup_in_payout
FROM ledger_creator_balances l FULL JOIN creator_balances b ON b.app_id = l.app_id AND b.creator_id = l.creator_id
WHERE coalesce(l.pending_cents, 0) <> coalesce(b.pending_cents, 0)
   OR coalesce(l.available_cents, 0) <> coalesce(b.available_cents, 0)
   OR coalesce(l.paid_cents, 0) <> coalesce(b.paid_cents, 0)
   OR coalesce(l.in_payout_cents, 0) <> coalesce(b.in_payout_cents, 0)
ORDER BY 1, 2;

-- name: ProgramDayDrift :many
-- Program days whose rollups disagree with the rows they summarise: both
-- sides of each, zeros where a side has no row.
WITH rollup AS (
    SELECT coalesce(d.app_id, c.app_id) AS app_id, coalesce(d.day, c.day) AS day,
           coalesce(c.clicks, 0) AS clicks, coalesce(c.unique_clicks, 0) AS unique_clicks, d.signups, d.conversions,
           d.amount_cents, d.commission_cents, d.platform_fee_cents, d.net_commission_cents, d.refunds, d.refunded_cents,
           d.reversed_commission_cents, d.reversed_platform_fee_cents, d.reversed_net_commission_cents
    FROM app_daily d FULL JOIN app_click_daily c ON c.app_id = d.app_id AND c.day = d.day
), rows AS (
    SELECT coalesce(d.app_id, c.app_id) AS app_id, coalesce(d.day, c.day) AS day,
           coalesce(c.clicks, 0) AS clicks, coalesce(c.unique_clicks, 0) AS unique_clicks, d.signups, d.conversions,
           d.amount_cents, d.commission_cents, d.platform_fee_cents, d.net_commission_cents, d.refunds, d.refunded_cents,
           d.reversed_commission_cents, d.reversed_platform_fee_cents, d.reversed_net_commission_cents
    FROM app_daily_from_rows d FULL JOIN app_click_daily_from_rows c ON c.app_id = d.app_id AND c.day = d.day
)
SELECT coalesce(r.app_id, u.app_id)::text AS app_id, coalesce(r.day, u.day)::date AS day,
       coalesce(r.clicks, 0)::bigint AS row_clicks, coalesce(u.clicks, 0)::bigint AS rollup_clicks,
       coalesce(r.unique_clicks, 0)::bigint AS row_unique_clicks, coalesce(u.unique_clicks, 0)::bigint AS rollup_unique_clicks,
       coalesce(r.signups, 0)::bigint AS row_signups, coalesce(u.signups, 0)::bigint AS rollup_signups,
       coalesce(r.conversions, 0)::bigint AS row_conversions, coalesce(u.conversions, 0)::bigint AS rollup_conversions,
       coalesce(r.amount_cents, 0)::bigint AS row_amount_cents, coalesce(u.amount_cents, 0)::bigint AS rollup_amount_cents,
       coalesce(r.commission_cents, 0)::bigint AS row_commission_cents, coalesce(u.commission_cents, 0)::bigint AS rollup_commission_cents,
       coalesce(r.net_commission_cents, 0)::bigint AS row_net_commission_cents, coalesce(u.net_commission_cents, 0)::bigint AS rollup_net_commission_cents,
       coalesce(r.refunds, 0)::bigint AS row_refunds, coalesce(u.refunds, 0)::bigint AS rollup_refunds,
       coalesce(r.refunded_cents, 0)::bigint AS row_refunded_cents, coalesce(u.refunded_cents, 0)::bigint AS rollup_refunded_cents
FROM rows r FULL JOIN rollup u ON u.app_id = r.app_id AND u.day = r.day
WHERE (coalesce(r.clicks, 0), coalesce(r.unique_clicks, 0), coalesce(r.signups, 0), coalesce(r.conversions, 0),
       coalesce(r.amount_cents, 0), coalesce(r.commission_cents, 0), coalesce(r.platform_fee_cents, 0),
       coalesce(r.net_commission_cents, 0), coalesce(r.refunds, 0), coalesce(r.refunded_cents, 0),
       coalesce(r.reversed_commission_cents, 0), coalesce(r.reversed_platform_fee_cents, 0),
       coalesce(r.reversed_net_commission_cents, 0))
   <> (coalesce(u.clicks, 0), coalesce(u.unique_clicks, 0), coalesce(u.signups, 0), coalesce(u.conversions, 0),
       coalesce(u.amount_cents, 0), coalesce(u.commission_cents, 0), coalesce(u.platform_fee_cents, 0),
       coalesce(u.net_commission_cents, 0), coalesce(u.refunds, 0), coalesce(u.refunded_cents, 0),
       coalesce(u.reversed_commission_cents, 0), coalesce(u.reversed_platform_fee_cents, 0),
       coalesce(u.reversed_net_commission_cents, 0))
ORDER BY 1, 2;

-- name: RefTotals :one
-- A ref link's signups and conversions, from its per-day rollup.
SELECT coalesce(sum(signups), 0)::bigint AS signups,
       coalesce(sum(conversions), 0)::bigint AS conversions
FROM ref_daily WHERE ref_code = $1;

-- name: RefDayDrift :many
-- Ref days whose rollup disagrees with the referrals, conversions and refunds.
SELECT coalesce(b.ref_code, r.ref_code)::text AS ref_code, coalesce(b.day, r.day)::date AS day,
       coalesce(b.signups, 0)::bigint AS row_signups, coalesce(r.signups, 0)::bigint AS rollup_signups,
       coalesce(b.conversions, 0)::bigint AS row_conversions, coalesce(r.conversions, 0)::bigint AS rollup_conversions,
       coalesce(b.net_commission_cents, 0)::bigint AS row_net_cents, coalesce(r.net_commission_cents, 0)::bigint AS rollup_net_cents,
       coalesce(b.reversed_net_commission_cents, 0)::bigint AS row_reversed_cents,
       coalesce(r.reversed_net_commission_cents, 0)::bigint AS rollup_reversed_cents
FROM ref_daily_from_rows b FULL JOIN ref_daily r ON r.ref_code = b.ref_code AND r.day = b.day
WHERE coalesce(b.signups, 0) <> coalesce(r.signups, 0) OR coalesce(b.conversions, 0) <> coalesce(r.conversions, 0)
   OR coalesce(b.net_commission_cents, 0) <> coalesce(r.net_commission_cents, 0)
   OR coalesce(b.reversed_net_commission_cents, 0) <> coalesce(r.reversed_net_commission_cents, 0)
ORDER BY 1, 2;

-- name: RefDays :many
-- A ref link's counters and its creator's earnings for each UTC day in
-- [from, to] that has any.
SELECT coalesce(d.day, c.day)::date AS day,
       coalesce(c.clicks, 0)::bigint AS clicks,
       coalesce(d.signups, 0)::bigint AS signups,
       coalesce(d.conversions, 0)::bigint AS conversions,
       coalesce(d.net_commission_cents, 0)::bigint AS net_commission_cents,
       coalesce(d.reversed_net_commission_cents, 0)::bigint AS reversed_net_commission_cents
FROM (SELECT * FROM ref_daily WHERE ref_daily.ref_code = @ref_code AND ref_daily.day BETWEEN @from_day::date AND @to_day::date) d
FULL JOIN (SELECT * FROM click_daily WHERE click_daily.ref_code = @ref_code AND click_daily.day BETWEEN @from_day::date AND @to_day::date) c
    ON c.day = d.day
ORDER BY 1;
