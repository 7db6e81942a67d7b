-- name: RecordClicks :many
-- Records a batch of clicks in one statement (one round trip, one commit):
-- the raw rows, the unique-visitor marks and the per-day counters of each
-- ref and each program. A click
-- is unique when it is the first of its (ref, visitor) in the batch (the
-- caller marks it a candidate) and the visitor was not counted on that ref
-- within the window. Returns the (ref, visitor) pairs counted unique. Rows
-- are locked in (ref, visitor), ref and app order, so concurrent batches
-- never deadlock.
WITH input AS (
    SELECT unnest(@ref_codes::text[]) AS ref_code,
           unnest(@app_ids::text[]) AS app_id,
           unnest(@visitor_hashes::bytea[]) AS visitor_hash,
           unnest(@is_bots::boolean[]) AS is_bot,
           unnest(@urls::text[]) AS url,
           unnest(@referrers::text[]) AS referrer,
           unnest(@candidates::boolean[]) AS candidate
), counted AS (
    INSERT INTO click_visitors AS v (ref_code, visitor_hash, last_counted_at)
    SELECT input.ref_code, input.visitor_hash, @now::timestamptz FROM input
    WHERE input.candidate
    ORDER BY input.ref_code, input.visitor_hash
    ON CONFLICT (ref_code, visitor_hash) DO UPDATE
        SET last_counted_at = EXCLUDED.last_counted_at
        WHERE v.last_counted_at <= @window_start::timestamptz
    RETURNING v.ref_code, v.visitor_hash
), inserted AS (
    INSERT INTO clicks (ref_code, app_id, visitor_hash, is_unique, is_bot, url, referrer, created_at)
    SELECT i.ref_code, i.app_id, i.visitor_hash,
           i.candidate AND EXISTS (SELECT 1 FROM counted c WHERE c.ref_code = i.ref_code AND c.visitor_hash = i.visitor_hash),
           i.is_bot, i.url, i.referrer, @now::timestamptz
    FROM input i
    RETURNING clicks.ref_code, clicks.app_id, clicks.is_unique, clicks.is_bot
), daily AS (
    INSERT INTO click_daily (ref_code, day, clicks, unique_clicks)
    SELECT inserted.ref_code, @day::date, count(*), count(*) FILTER (WHERE inserted.is_unique)
    FROM inserted WHERE NOT inserted.is_bot
    GROUP BY inserted.ref_code
    ORDER BY inserted.ref_code
    ON CONFLICT (ref_code, day) DO UPDATE
        SET clicks = click_daily.clicks + EXCLUDED.clicks,
            unique_clicks = click_daily.unique_clicks + EXCLUDED.unique_clicks
), app_daily AS (
    INSERT INTO app_click_daily (app_id, day, clicks, unique_clicks)
    SELECT inserted.app_id, @day::date, count(*), count(*) FILTER (WHERE inserted.is_unique)
    FROM inserted WHERE NOT inserted.is_bot
    GROUP BY inserted.app_id
    ORDER BY inserted.app_id
    ON CONFLICT (app_id, day) DO UPDATE
        SET clicks = app_click_daily.clicks + EXCLUDED.clicks,
            unique_clicks = app_click_daily.unique_clicks + EXCLUDED.unique_clicks
)
SELECT counted.ref_code, counted.visitor_hash FROM counted;

-- name: ClickTotals :one
SELECT coalesce(sum(clicks), 0)::bigint AS clicks,
       coalesce(sum(unique_clicks), 0)::bigint AS unique_clicks
FROM click_daily WHERE ref_code = $1;
