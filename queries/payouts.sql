-- name: InsertPayoutTransfer :exec
-- A payout movement, labelled with its payout (and conversion) or, for a
-- collection, its run.
INSERT INTO ledger_transfers (transfer_key, app_id, creator_id, conversion_id, payout_id, run_id,
                              debit_account, credit_account, amount_cents, kind)
VALUES (@transfer_key, @app_id, sqlc.narg(creator_id), sqlc.narg(conversion_id), sqlc.narg(payout_id), sqlc.narg(run_id),
        @debit_account, @credit_account, @amount_cents, @kind)
ON CONFLICT (transfer_key) DO NOTHING;

-- name: PayoutCandidates :many
-- Every creator of a program with money available or owed back, with their
-- payout account: what a run considers, in creator order (the order it
-- locks them in).
SELECT r.creator_id, cr.email, cr.payout_account_id, cr.payouts_enabled, cr.transfers_active,
       coalesce(b.available_cents, 0)::bigint AS available_cents
FROM ref_codes r
JOIN creators cr ON cr.id = r.creator_id
LEFT JOIN creator_balances b ON b.app_id = r.app_id AND b.creator_id = r.creator_id
WHERE r.app_id = @app_id AND coalesce(b.available_cents, 0) <> 0
  AND (sqlc.narg(creator_id)::text IS NULL OR r.creator_id = sqlc.narg(creator_id)::text)
ORDER BY r.creator_id;

-- name: LockCreatorBalance :one
-- Serialises every reservation of one creator's money in one program: a
-- second run or cash-out waits here, then reads what the first left.
SELECT available_cents, in_payout_cents FROM creator_balances
WHERE app_id = $1 AND creator_id = $2
FOR UPDATE;

-- name: AvailableByConversion :many
-- A creator's available money per conversion, oldest first, with what live
-- payouts already carried of each (for the fee's cumulative rounding).
SELECT c.id, c.net_commission_cents, c.platform_fee_cents,
       coalesce((SELECT sum(CASE WHEN t.credit_account = 'creator_available' THEN t.amount_cents ELSE -t.amount_cents END)
                 FROM ledger_transfers t
                 WHERE t.conversion_id = c.id
                   AND (t.credit_account = 'creator_available' OR t.debit_account = 'creator_available')), 0)::bigint AS available_cents,
       coalesce((SELECT sum(a.amount_cents) FROM payout_allocations a JOIN payouts p ON p.id = a.payout_id
                 WHERE a.conversion_id = c.id AND p.status NOT IN ('failed', 'reversed')), 0)::bigint AS carried_cents
FROM conversions c
WHERE c.app_id = @app_id AND c.creator_id = @creator_id AND c.released_at IS NOT NULL
ORDER BY c.released_at, c.id;

-- name: InsertPayoutRun :one
INSERT INTO payout_runs (id, app_id, trigger, mode, status, currency)
VALUES (@id, @app_id, @trigger, @mode, 'awaiting_confirmation', @currency)
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: GetPayoutRun :one
SELECT * FROM payout_runs WHERE id = $1;

-- name: GetPayoutRunForUpdate :one
SELECT * FROM payout_runs WHERE id = $1 FOR UPDATE;

-- name: SetPayoutRunTotals :exec
UPDATE payout_runs SET net_cents = @net_cents, fee_cents = @fee_cents, skipped = @skipped, status = @status,
    finished_at = CASE WHEN @status = 'empty' THEN now() END
WHERE id = @id;

-- name: SetPayoutRunStatus :exec
UPDATE payout_runs SET status = @status, failure_reason = @failure_reason,
    confirmed_at = CASE WHEN @status IN ('charging', 'awaiting_payment') AND confirmed_at IS NULL THEN now() ELSE confirmed_at END,
    confirmed_by = coalesce(sqlc.narg(confirmed_by), confirmed_by),
    funded_at = CASE WHEN @status = 'paying' AND funded_at IS NULL THEN now() ELSE funded_at END,
    finished_at = CASE WHEN @status IN ('completed', 'failed', 'canceled', 'empty') THEN coalesce(finished_at, now()) END
WHERE id = @id;

-- name: SetPayoutRunCharge :exec
-- Fixed before the first charge attempt: a retry charges the same amount
-- under the same idempotency key.
UPDATE payout_runs SET credit_cents = @credit_cents, charge_cents = @charge_cents WHERE id = @id;

-- name: SetPayoutRunPaymentIntent :exec
UPDATE payout_runs SET payment_intent_id = @payment_intent_id WHERE id = @id;

-- name: AppCredit :one
-- What the app paid for runs that AgentLinks still holds: collected (and
-- credit used) by funded runs, less the net and fee of their payouts that
-- went out or are going out, less the credit runs now charging claimed.
SELECT (coalesce((SELECT sum(r.charge_cents + r.credit_cents) FROM payout_runs r WHERE r.app_id = @app_id AND r.funded_at IS NOT NULL), 0)
      - coalesce((SELECT sum(p.amount_cents + p.fee_cents) FROM payouts p JOIN payout_runs r ON r.id = p.run_id
                  WHERE r.app_id = @app_id AND r.funded_at IS NOT NULL AND p.status IN ('processing', 'paid')), 0)
      - coalesce((SELECT sum(r.credit_cents) FROM payout_runs r
                  WHERE r.app_id = @app_id AND r.funded_at IS NULL AND r.status = 'charging'), 0))::bigint AS credit_cents;

-- name: ListPayoutRuns :many
SELECT * FROM payout_runs WHERE app_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2;

-- name: InsertPayout :one
INSERT INTO payouts (id, run_id, app_id, creator_id, amount_cents, fee_cents, currency, status, destination)
VALUES (@id, @run_id, @app_id, @creator_id, @amount_cents, @fee_cents, @currency, 'reserved', sqlc.narg(destination))
RETURNING *;

-- name: InsertPayoutAllocation :exec
INSERT INTO payout_allocations (payout_id, conversion_id, amount_cents, fee_cents) VALUES ($1, $2, $3, $4);

-- name: PayoutAllocations :many
SELECT * FROM payout_allocations WHERE payout_id = $1 ORDER BY conversion_id;

-- name: GetPayout :one
SELECT * FROM payouts WHERE id = $1;

-- name: GetPayoutForUpdate :one
SELECT * FROM payouts WHERE id = $1 FOR UPDATE;

-- name: GetPayoutByTransfer :one
SELECT * FROM payouts WHERE transfer_id = $1;

-- name: RunPayouts :many
SELECT sqlc.embed(p), cr.email FROM payouts p JOIN creators cr ON cr.id = p.creator_id
WHERE p.run_id = $1 ORDER BY p.creator_id;

-- name: SetPayoutStatus :exec
UPDATE payouts SET status = @status, failure_reason = @failure_reason,
    transfer_id = coalesce(sqlc.narg(transfer_id), transfer_id),
    reference = coalesce(sqlc.narg(reference), reference),
    paid_at = CASE WHEN @status = 'paid' THEN coalesce(paid_at, now()) ELSE paid_at END,
    failed_at = CASE WHEN @status = 'failed' THEN coalesce(failed_at, now()) ELSE failed_at END,
    reversed_at = CASE WHEN @status = 'reversed' THEN coalesce(reversed_at, now()) ELSE reversed_at END
WHERE id = @id;

-- name: CreatorPayouts :many
SELECT * FROM payouts WHERE app_id = $1 AND creator_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3;

-- name: AppPayouts :many
SELECT sqlc.embed(p), cr.email FROM payouts p JOIN creators cr ON cr.id = p.creator_id
WHERE p.app_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT $2;

-- name: SetAppPayouts :one
UPDATE apps SET payout_mode = @payout_mode, payout_auto_confirm = @payout_auto_confirm,
    payout_schedule = @payout_schedule, min_payout_cents = @min_payout_cents
WHERE id = @id RETURNING *;

-- name: SetAppPaymentMethod :one
UPDATE apps SET stripe_customer_id = @stripe_customer_id, payment_method_id = sqlc.narg(payment_method_id),
    payment_method_label = @payment_method_label
WHERE id = @id RETURNING *;

-- name: ScheduledApps :many
SELECT id, payout_schedule FROM apps WHERE payout_schedule <> '' ORDER BY id;

-- name: SetCreatorPayoutAccount :one
UPDATE creators SET payout_account_id = @payout_account_id WHERE id = @id AND (payout_account_id IS NULL OR payout_account_id = @payout_account_id)
RETURNING *;

-- name: UpdatePayoutAccountState :execrows
-- account.updated: applied unless an event of a later moment was.
UPDATE creators SET payouts_enabled = @payouts_enabled, transfers_active = @transfers_active,
    details_submitted = @details_submitted, requirements_due = @requirements_due, payout_account_updated_at = @at
WHERE payout_account_id = @payout_account_id AND (payout_account_updated_at IS NULL OR payout_account_updated_at <= @at);

-- name: GetCreator :one
SELECT * FROM creators WHERE id = $1;

-- name: ListPayoutRunsAll :many
SELECT * FROM payout_runs ORDER BY id;

-- name: ListPayoutsAll :many
SELECT * FROM payouts ORDER BY id;

-- name: PayoutLedger :many
-- Per payout and account, the net its transfers moved.
SELECT payout_id::text AS payout_id, account::text AS account, sum(amount)::bigint AS balance_cents
FROM (
    SELECT payout_id, credit_account AS account, amount_cents AS amount FROM ledger_transfers WHERE payout_id IS NOT NULL
    UNION ALL
    SELECT payout_id, debit_account, -amount_cents FROM ledger_transfers WHERE payout_id IS NOT NULL
) t
GROUP BY payout_id, account
ORDER BY payout_id, account;

-- name: RunCollections :many
SELECT run_id::text AS run_id, sum(amount_cents)::bigint AS collected_cents
FROM ledger_transfers WHERE kind = 'collection' GROUP BY run_id ORDER BY run_id;

-- name: AllocationSums :many
SELECT p.id, p.amount_cents, p.fee_cents, coalesce(sum(a.amount_cents), 0)::bigint AS allocated_cents,
       coalesce(sum(a.fee_cents), 0)::bigint AS allocated_fee_cents
FROM payouts p LEFT JOIN payout_allocations a ON a.payout_id = p.id
GROUP BY p.id ORDER BY p.id;

-- name: LockApp :one
SELECT id FROM apps WHERE id = $1 FOR UPDATE;

-- name: NextTransferAttempt :exec
-- Stripe answered balance_insufficient to the current key and created
-- nothing: the next try may use a new one.
UPDATE payouts SET transfer_attempt = transfer_attempt + 1 WHERE id = @id AND transfer_attempt = @attempt;

-- name: PlatformPayouts :many
-- Per currency: what payouts paid creators, the fees AgentLinks collected
-- with Stripe runs, the fees manual programs owe for payouts they made,
-- and the payouts still open or failed, for the operator's page.
SELECT p.currency,
       coalesce(sum(p.amount_cents) FILTER (WHERE p.status = 'paid'), 0)::bigint AS paid_cents,
       coalesce(sum(p.fee_cents) FILTER (WHERE p.status IN ('processing', 'paid') AND r.mode = 'stripe' AND r.funded_at IS NOT NULL), 0)::bigint AS fees_collected_cents,
       coalesce(sum(p.fee_cents) FILTER (WHERE p.status = 'paid' AND r.mode = 'manual'), 0)::bigint AS fees_owed_cents,
       count(*) FILTER (WHERE p.status IN ('reserved', 'processing', 'awaiting_payment'))::bigint AS open_payouts,
       count(*) FILTER (WHERE p.status = 'failed')::bigint AS failed_payouts
FROM payouts p JOIN payout_runs r ON r.id = p.run_id
GROUP BY p.currency ORDER BY p.currency;

-- name: StuckPayoutRuns :many
-- Runs an operator may have to look at: waiting on Stripe for over an
-- hour (a charge or transfers retrying), newest first.
SELECT * FROM payout_runs WHERE status IN ('charging', 'paying') AND created_at < now() - interval '1 hour'
ORDER BY created_at DESC LIMIT 50;

-- name: PayoutsOfRuns :many
-- The payouts of several runs in one read (the owner's list of runs).
SELECT sqlc.embed(p), cr.email FROM payouts p JOIN creators cr ON cr.id = p.creator_id
WHERE p.run_id = ANY(@run_ids::text[]) ORDER BY p.run_id, p.creator_id;
