-- name: ListCreatorPrograms :many
-- The programs a creator is in, with their ref code and balance (the
-- rollups the ledger keeps in step; zero before anything is credited).
SELECT sqlc.embed(ref_codes), sqlc.embed(apps),
       coalesce(b.pending_cents, 0)::bigint AS pending_cents,
       coalesce(b.available_cents, 0)::bigint AS available_cents,
       coalesce(b.paid_cents, 0)::bigint AS paid_cents
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
LIMIT 50;

-- name: FirstRefCode :one
-- The program's first creator's ref code, for the examples on its page.
SELECT code FROM ref_codes WHERE app_id = $1 ORDER BY created_at, code LIMIT 1;
