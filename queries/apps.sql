-- name: CreateApp :one
INSERT INTO apps (id, name, commission_bps, hold_seconds, currency, cookie_days, keyless_conversions)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetApp :one
SELECT * FROM apps WHERE id = $1;

-- name: SetAppAllowedOrigins :one
UPDATE apps SET allowed_origins = $2 WHERE id = $1 RETURNING *;

-- name: CreateAPIKey :one
INSERT INTO api_keys (app_id, key_hash, key_prefix) VALUES ($1, $2, $3) RETURNING *;

-- name: GetActiveAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;
