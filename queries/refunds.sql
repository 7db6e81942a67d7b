-- name: InsertRefund :one
INSERT INTO refunds (id, conversion_id, app_id, creator_id, dedupe_key, amount_cents, commission_cents,
                     platform_fee_cents, net_commission_cents, clawback)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: GetRefund :one
SELECT * FROM refunds WHERE id = $1;

-- name: GetRefundByDedupeKey :one
SELECT * FROM refunds WHERE app_id = $1 AND dedupe_key = $2;

-- name: SumRefunds :one
-- What has been reversed so far on a conversion: reversals are computed on
-- the cumulative refunded amount, so each new one is the difference.
SELECT coalesce(sum(amount_cents), 0)::bigint AS amount_cents,
       coalesce(sum(commission_cents), 0)::bigint AS commission_cents,
       coalesce(sum(platform_fee_cents), 0)::bigint AS platform_fee_cents,
       coalesce(sum(net_commission_cents), 0)::bigint AS net_commission_cents
FROM refunds WHERE conversion_id = $1;
