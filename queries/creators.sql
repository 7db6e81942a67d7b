-- name: UpsertCreator :one
-- A creator is one person across every program they join: the same email
-- returns the existing creator.
INSERT INTO creators (id, email) VALUES ($1, $2)
ON CONFLICT (lower(email)) DO UPDATE SET email = creators.email
RETURNING *;

-- name: CreateRefCode :one
INSERT INTO ref_codes (code, app_id, creator_id) VALUES ($1, $2, $3)
ON CONFLICT (app_id, creator_id) DO NOTHING
RETURNING *;

-- name: GetRefCodeForCreator :one
SELECT * FROM ref_codes WHERE app_id = $1 AND creator_id = $2;

-- name: GetRefCode :one
-- A ref code with everything the tracking endpoints need about its program.
SELECT sqlc.embed(ref_codes), sqlc.embed(apps), creators.email AS creator_email
FROM ref_codes
JOIN apps ON apps.id = ref_codes.app_id
JOIN creators ON creators.id = ref_codes.creator_id
WHERE ref_codes.code = $1;
