-- name: CreateApp :one
INSERT INTO apps (id, name, commission_bps, hold_seconds, currency, cookie_days, keyless_conversions, owner_id, payout_mode, min_payout_cents)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: GetApp :one
SELECT * FROM apps WHERE id = $1;

-- name: SetAppAllowedOrigins :one
UPDATE apps SET allowed_origins = $2 WHERE id = $1 RETURNING *;

-- name: CreateAPIKey :one
INSERT INTO api_keys (app_id, key_hash, key_prefix) VALUES ($1, $2, $3) RETURNING *;

-- name: GetActiveAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: ListAPIKeys :many
SELECT id, app_id, key_prefix, created_at, revoked_at FROM api_keys WHERE app_id = $1 ORDER BY created_at DESC, id DESC;

-- name: RevokeAPIKey :execrows
UPDATE api_keys SET revoked_at = now() WHERE id = @id AND app_id = @app_id AND revoked_at IS NULL;

-- name: UpdateAppSettings :one
UPDATE apps SET name = @name, commission_bps = @commission_bps, hold_seconds = @hold_seconds,
    cookie_days = @cookie_days, min_payout_cents = @min_payout_cents,
    allowed_origins = @allowed_origins, keyless_conversions = @keyless_conversions
WHERE id = @id
RETURNING *;
