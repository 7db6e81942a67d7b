-- name: MetricsState :one
-- What Prometheus reads on each scrape: open rows only, each by a partial
-- index.
SELECT (SELECT count(*) FROM stripe_events WHERE status = 'parked')::bigint AS stripe_parked,
       (SELECT count(*) FROM stripe_events WHERE status = 'received' AND received_at < now() - interval '5 minutes')::bigint AS stripe_waiting,
       (SELECT count(*) FROM conversions WHERE status = 'pending')::bigint AS conversions_pending,
       (SELECT count(*) FROM conversions WHERE status = 'pending' AND available_at < now() - interval '5 minutes')::bigint AS releases_overdue,
       coalesce((SELECT extract(epoch FROM now() - min(available_at)) FROM conversions
                 WHERE status = 'pending' AND available_at < now()), 0)::float8 AS oldest_overdue_seconds,
       (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')::bigint AS webhooks_pending,
       (SELECT count(*) FROM webhook_deliveries WHERE dispatched_at IS NULL)::bigint AS webhooks_undispatched;

-- name: MetricsPayouts :many
-- Every payout by status (an index-only scan of payouts_status_idx): the
-- open ones and the ended ones, however they ended (the worker, the owner
-- on the dashboard, an operator's command).
SELECT status, currency, count(*)::bigint AS payouts, sum(amount_cents)::bigint AS cents
FROM payouts GROUP BY status, currency ORDER BY status, currency;

-- name: MetricsOpenRuns :many
SELECT status, count(*)::bigint AS runs
FROM payout_runs WHERE status IN ('awaiting_confirmation', 'charging', 'paying', 'awaiting_payment')
GROUP BY status ORDER BY status;
