-- name: CreateReferral :one
INSERT INTO referrals (id, app_id, ref_code, creator_id, user_id, email, self_referral)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (app_id, user_id) DO NOTHING
RETURNING *;

-- name: GetReferralByUser :one
SELECT * FROM referrals WHERE app_id = $1 AND user_id = $2;
