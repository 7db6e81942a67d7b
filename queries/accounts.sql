-- name: CreateUser :one
INSERT INTO users (id, email, password_hash, operator) VALUES ($1, $2, $3, $4)
ON CONFLICT (lower(email)) DO NOTHING
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = $1;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email);

-- name: SetUserPassword :one
UPDATE users SET password_hash = @password_hash, session_epoch = session_epoch + 1 WHERE id = @id RETURNING *;

-- name: SetAppOwner :one
UPDATE apps SET owner_id = @owner_id WHERE id = @id RETURNING *;

-- name: ListOwnedApps :many
SELECT * FROM apps WHERE owner_id = $1 ORDER BY created_at, id;

-- name: GetOwnedApp :one
-- An app of the owner; another owner's app is not found.
SELECT * FROM apps WHERE id = @id AND owner_id = @owner_id;

-- name: GetCreatorByUser :one
SELECT * FROM creators WHERE user_id = $1;

-- name: GetCreatorByEmail :one
SELECT * FROM creators WHERE lower(email) = lower(@email);

-- name: CreateLinkedCreator :one
INSERT INTO creators (id, email, user_id) VALUES ($1, $2, $3) RETURNING *;

-- name: LinkCreator :one
UPDATE creators SET user_id = @user_id WHERE id = @id AND (user_id IS NULL OR user_id = @user_id) RETURNING *;
