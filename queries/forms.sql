-- name: ClaimFormPost :execrows
INSERT INTO form_posts (token) VALUES ($1) ON CONFLICT (token) DO NOTHING;

-- name: FormPostLocation :one
SELECT location FROM form_posts WHERE token = $1;

-- name: FinishFormPost :exec
UPDATE form_posts SET location = $2 WHERE token = $1 AND location IS NULL;

-- name: ReleaseFormPost :exec
DELETE FROM form_posts WHERE token = $1 AND location IS NULL;

-- name: ForgetFormPosts :execrows
DELETE FROM form_posts WHERE created_at < @before::timestamptz;

-- name: InsertSecretReveal :exec
INSERT INTO secret_reveals (id, user_id, app_id, secret) VALUES ($1, $2, $3, $4);

-- name: TakeSecretReveal :one
DELETE FROM secret_reveals
WHERE id = $1 AND user_id = $2 AND app_id = $3 AND created_at > @since::timestamptz
RETURNING secret;

-- name: ForgetSecretReveals :execrows
DELETE FROM secret_reveals WHERE created_at < @before::timestamptz;
