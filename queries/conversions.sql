-- name: InsertConversion :one
INSERT INTO conversions (
    id, app_id, ref_code, creator_id, referral_id, user_id, dedupe_key,
    amount_cents, currency, commission_bps, commission_cents, platform_fee_cents,
    net_commission_cents, status, workflow_id, created_at, available_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending', $14, $15, $16
)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: GetConversion :one
SELECT * FROM conversions WHERE id = $1;

-- name: GetConversionForUpdate :one
SELECT * FROM conversions WHERE id = $1 FOR UPDATE;

-- name: GetConversionByDedupeKey :one
SELECT * FROM conversions WHERE app_id = $1 AND dedupe_key = $2;

-- name: FindRefundableConversionByUser :one
-- The newest conversion of (ref, user) with enough unrefunded amount.
SELECT * FROM conversions
WHERE ref_code = $1 AND user_id = $2 AND amount_cents - refunded_cents >= @amount_cents::bigint
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: FindRefundableConversionByRef :one
SELECT * FROM conversions
WHERE ref_code = $1 AND amount_cents - refunded_cents >= @amount_cents::bigint
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: CountConversionsByRef :one
SELECT count(*) FROM conversions WHERE ref_code = $1;

-- name: MarkConversionReleased :exec
UPDATE conversions SET status = 'available', released_at = $2 WHERE id = $1 AND status = 'pending';

-- name: AddConversionRefund :exec
UPDATE conversions
SET refunded_cents = refunded_cents + @amount_cents::bigint,
    status = CASE WHEN refunded_cents + @amount_cents::bigint = amount_cents THEN 'refunded' ELSE status END
WHERE id = @id;

-- name: CountConversionsByUser :one
SELECT count(*) FROM conversions WHERE app_id = @app_id AND user_id = @user_id;
