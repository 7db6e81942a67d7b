-- name: CountVisitor :one
-- Returns true when this visitor's click on this ref counts as unique: the
-- first in the dedupe window. The row's timestamp moves only when it counts,
-- so steady reload spam never earns a second unique click.
INSERT INTO click_visitors AS v (ref_code, visitor_hash, last_counted_at)
VALUES (@ref_code, @visitor_hash, @now)
ON CONFLICT (ref_code, visitor_hash) DO UPDATE
    SET last_counted_at = EXCLUDED.last_counted_at
    WHERE v.last_counted_at <= @window_start
RETURNING true AS counted;

-- name: InsertClick :exec
INSERT INTO clicks (ref_code, app_id, visitor_hash, is_unique, is_bot, url, referrer, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: AddDailyClicks :exec
INSERT INTO click_daily (ref_code, day, clicks, unique_clicks)
VALUES (@ref_code, @day, 1, @unique_clicks)
ON CONFLICT (ref_code, day) DO UPDATE
    SET clicks = click_daily.clicks + 1,
        unique_clicks = click_daily.unique_clicks + EXCLUDED.unique_clicks;

-- name: ClickTotals :one
SELECT coalesce(sum(clicks), 0)::bigint AS clicks,
       coalesce(sum(unique_clicks), 0)::bigint AS unique_clicks
FROM click_daily WHERE ref_code = $1;

-- name: CountVisitors :many
-- The batch form of CountVisitor: returns the (ref, visitor) pairs whose
-- click counts as unique. The caller passes each pair at most once.
INSERT INTO click_visitors AS v (ref_code, visitor_hash, last_counted_at)
SELECT unnest(@ref_codes::text[]), unnest(@visitor_hashes::bytea[]), @now::timestamptz
ON CONFLICT (ref_code, visitor_hash) DO UPDATE
    SET last_counted_at = EXCLUDED.last_counted_at
    WHERE v.last_counted_at <= @window_start::timestamptz
RETURNING ref_code, visitor_hash;

-- name: CopyClicks :copyfrom
INSERT INTO clicks (ref_code, app_id, visitor_hash, is_unique, is_bot, url, referrer, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: AddDailyClicksBatch :exec
-- Adds per-ref counts for one day; refs come sorted, so that concurrent
-- batches lock the counter rows in one order.
INSERT INTO click_daily (ref_code, day, clicks, unique_clicks)
SELECT unnest(@ref_codes::text[]), @day::date, unnest(@clicks::bigint[]), unnest(@uniques::bigint[])
ON CONFLICT (ref_code, day) DO UPDATE
    SET clicks = click_daily.clicks + EXCLUDED.clicks,
        unique_clicks = click_daily.unique_clicks + EXCLUDED.unique_clicks;
