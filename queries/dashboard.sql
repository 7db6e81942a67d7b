-- name: ListCreatorPrograms :many
-- The programs a creator is in, with their ref code and balance (the
-- rollups the ledger keeps in step; zero before anything is credited).
SELECT sqlc.embed(ref_codes), sqlc.embed(apps),
       coalesce(b.pending_cents, 0)::bigint AS pending_cents,
       coalesce(b.available_cents, 0)::bigint AS available_cents,
       coalesce(b.paid_cents, 0)::bigint AS paid_cents,
       coalesce(b.in_payout_cents, 0)::bigint AS in_payout_cents
FROM ref_codes
JOIN apps ON apps.id = ref_codes.app_id
LEFT JOIN creator_balances b ON b.app_id = ref_codes.app_id AND b.creator_id = ref_codes.creator_id
WHERE ref_codes.creator_id = $1
ORDER BY ref_codes.created_at, ref_codes.code;

-- name: ListPendingConversionsOfCreator :many
-- What is on hold for a creator in a program, with when each becomes
-- available.
SELECT c.id, c.amount_cents, c.created_at, c.available_at,
       (c.net_commission_cents - coalesce((SELECT sum(r.net_commission_cents) FROM refunds r WHERE r.conversion_id = c.id), 0))::bigint AS pending_net_cents
FROM conversions c
WHERE c.app_id = @app_id AND c.creator_id = @creator_id AND c.status = 'pending'
ORDER BY c.available_at, c.id
LIMIT 20;

-- name: FirstRefCode :one
-- The program's first creator's ref code, for the examples on its page.
SELECT code FROM ref_codes WHERE app_id = $1 ORDER BY created_at, code LIMIT 1;

-- name: ProgramCreators :many
-- A page of a program's creators (in the order they joined) with what each
-- brought in [from, to] and their balances, from the rollups: the sums read
-- the page's rows and days only.
SELECT p.code, p.creator_id, p.email,
       coalesce((SELECT sum(d.clicks) FROM click_daily d
                 WHERE d.ref_code = p.code AND d.day BETWEEN @from_day::date AND @to_day::date), 0)::bigint AS clicks,
       coalesce(r.signups, 0)::bigint AS signups,
       coalesce(r.conversions, 0)::bigint AS conversions,
       coalesce(r.net_cents, 0)::bigint AS net_cents,
       coalesce(b.pending_cents, 0)::bigint AS pending_cents,
       coalesce(b.available_cents, 0)::bigint AS available_cents,
       coalesce(b.paid_cents, 0)::bigint AS paid_cents
FROM (
    SELECT rc.code, rc.creator_id, rc.app_id, rc.created_at, cr.email
    FROM ref_codes rc JOIN creators cr ON cr.id = rc.creator_id
    WHERE rc.app_id = @app_id
    ORDER BY rc.created_at, rc.code
    LIMIT @max_rows OFFSET @skip_rows
) p
LEFT JOIN LATERAL (
    SELECT sum(d.signups) AS signups, sum(d.conversions) AS conversions,
           sum(d.net_commission_cents - d.reversed_net_commission_cents) AS net_cents
    FROM ref_daily d WHERE d.ref_code = p.code AND d.day BETWEEN @from_day::date AND @to_day::date
) r ON true
LEFT JOIN creator_balances b ON b.app_id = p.app_id AND b.creator_id = p.creator_id
ORDER BY p.created_at, p.code;

-- name: CountProgramCreators :one
SELECT count(*) FROM ref_codes WHERE app_id = $1;

-- name: RecentConversions :many
SELECT id, ref_code, user_id, status, amount_cents, commission_cents, platform_fee_cents, net_commission_cents,
       refunded_cents, workflow_id, created_at, available_at
FROM conversions WHERE app_id = @app_id
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: RecentRefunds :many
SELECT r.id, r.conversion_id, c.ref_code, r.amount_cents, r.commission_cents, r.clawback,
       coalesce(r.dedupe_key, '')::text AS dedupe_key, r.created_at
FROM refunds r JOIN conversions c ON c.id = r.conversion_id
WHERE r.app_id = @app_id
ORDER BY r.created_at DESC, r.id DESC
LIMIT @max_rows;

-- name: ExportConversions :many
-- A page of the program's conversions for CSV export, oldest first, after
-- (created_at, id).
SELECT c.id, c.created_at, c.ref_code, cr.email AS creator_email, c.user_id, c.status, c.currency,
       c.amount_cents, c.commission_cents, c.platform_fee_cents, c.net_commission_cents, c.refunded_cents,
       c.available_at, coalesce(c.dedupe_key, '')::text AS dedupe_key
FROM conversions c JOIN creators cr ON cr.id = c.creator_id
WHERE c.app_id = @app_id AND (c.created_at, c.id) > (@after_created::timestamptz, @after_id::text)
ORDER BY c.created_at, c.id
LIMIT @max_rows;

-- name: CreatorReversals :many
-- What was taken back from a creator in a program, newest first: refunds,
-- disputes (Stripe's dispute ids) and clawbacks.
SELECT r.id, r.conversion_id, r.amount_cents, r.net_commission_cents, r.clawback,
       coalesce(r.dedupe_key, '')::text AS dedupe_key, r.created_at
FROM refunds r
WHERE r.app_id = @app_id AND r.creator_id = @creator_id
ORDER BY r.created_at DESC
LIMIT 50;

-- name: CreatorFlaggedConversions :many
-- A creator's conversions whose referral is flagged as a self-referral.
SELECT c.id, c.amount_cents, c.net_commission_cents, c.created_at
FROM referrals rf JOIN conversions c ON c.referral_id = rf.id
WHERE rf.app_id = @app_id AND rf.creator_id = @creator_id AND rf.self_referral AND c.creator_id = @creator_id
ORDER BY c.created_at DESC
LIMIT 50;

-- name: GetReferralOfApp :one
SELECT * FROM referrals WHERE app_id = @app_id AND user_id = @user_id;

-- name: GetRefCodeOfApp :one
SELECT rc.code, rc.creator_id FROM ref_codes rc WHERE rc.app_id = @app_id AND rc.code = @code;

-- name: MoveReferral :one
UPDATE referrals SET ref_code = @ref_code, creator_id = @creator_id WHERE id = @id RETURNING *;

-- name: UncountRefSignup :exec
-- A moved referral's signup leaves its old ref's rollup for the day
-- (ref_daily counts signups by the referral's ref)...
UPDATE ref_daily SET signups = signups - 1 WHERE ref_code = @ref_code AND day = @day;

-- name: CountRefSignup :exec
-- ...and joins its new ref's.
INSERT INTO ref_daily AS d (ref_code, day, signups) VALUES (@ref_code, @day, 1)
ON CONFLICT (ref_code, day) DO UPDATE SET signups = d.signups + 1;

-- name: InsertReferralMove :one
INSERT INTO referral_moves (referral_id, app_id, from_creator_id, to_creator_id, moved_by)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: RecentReferralMoves :many
SELECT m.moved_at, rf.user_id, fc.email AS from_email, tc.email AS to_email, u.email AS moved_by_email
FROM referral_moves m
JOIN referrals rf ON rf.id = m.referral_id
LEFT JOIN creators fc ON fc.id = m.from_creator_id
JOIN creators tc ON tc.id = m.to_creator_id
JOIN users u ON u.id = m.moved_by
WHERE m.app_id = @app_id
ORDER BY m.moved_at DESC, m.id DESC
LIMIT 20;

-- name: PlatformDays :many
-- The platform's totals per UTC day in [from, to] and currency, over every
-- program.
SELECT d.day, a.currency, sum(d.conversions)::bigint AS conversions, sum(d.amount_cents)::bigint AS amount_cents,
       sum(d.commission_cents)::bigint AS commission_cents,
       (sum(d.platform_fee_cents) - sum(d.reversed_platform_fee_cents))::bigint AS fee_cents,
       sum(d.refunds)::bigint AS refunds
FROM app_daily d JOIN apps a ON a.id = d.app_id
WHERE d.day BETWEEN @from_day::date AND @to_day::date
GROUP BY d.day, a.currency ORDER BY d.day DESC, a.currency;

-- name: PlatformCounts :one
SELECT (SELECT count(*) FROM apps)::bigint AS apps, (SELECT count(*) FROM users)::bigint AS accounts,
       (SELECT count(*) FROM ref_codes)::bigint AS creators_enrolled,
       (SELECT count(*) FROM stripe_events WHERE status = 'parked')::bigint AS parked_events;
