-- name: InsertTransfer :exec
INSERT INTO ledger_transfers (transfer_key, app_id, creator_id, conversion_id, refund_id,
                              debit_account, credit_account, amount_cents, kind)
VALUES (@transfer_key, @app_id, @creator_id::text, sqlc.narg(conversion_id), sqlc.narg(refund_id),
        @debit_account, @credit_account, @amount_cents, @kind)
ON CONFLICT (transfer_key) DO NOTHING;

-- name: CreatorBalances :one
-- A creator's balances in one program, summed from the ledger itself (zeros
-- when nothing was ever credited).
SELECT coalesce(sum(pending_cents), 0)::bigint AS pending_cents,
       coalesce(sum(available_cents), 0)::bigint AS available_cents,
       coalesce(sum(paid_cents), 0)::bigint AS paid_cents,
       coalesce(sum(in_payout_cents), 0)::bigint AS in_payout_cents
FROM ledger_creator_balances
WHERE app_id = @app_id AND creator_id = @creator_id::text;

-- name: ConversionLedger :many
-- Per conversion and account, the net amount the ledger holds.
SELECT conversion_id::text AS conversion_id, account::text AS account, sum(amount)::bigint AS balance_cents
FROM (
    SELECT conversion_id, credit_account AS account, amount_cents AS amount
    FROM ledger_transfers WHERE conversion_id IS NOT NULL
    UNION ALL
    SELECT conversion_id, debit_account, -amount_cents
    FROM ledger_transfers WHERE conversion_id IS NOT NULL
) t
GROUP BY conversion_id, account
ORDER BY conversion_id, account;

-- name: ListConversions :many
SELECT * FROM conversions ORDER BY id;

-- name: AccountTotals :many
-- Platform-wide balance of every account; double entry makes them sum to zero.
SELECT account::text AS account, sum(amount)::bigint AS balance_cents
FROM (
    SELECT credit_account AS account, amount_cents AS amount FROM ledger_transfers
    UNION ALL
    SELECT debit_account, -amount_cents FROM ledger_transfers
) t
GROUP BY account
ORDER BY account;

-- name: CountTransfers :one
SELECT count(*) FROM ledger_transfers;

-- name: MislabeledTransfers :many
-- Transfers whose app or creator is not their conversion's: a balance
-- summed by creator would then disagree with the conversions.
SELECT t.transfer_key, t.app_id, coalesce(t.creator_id, '')::text AS creator_id, c.id AS conversion_id, c.app_id AS conversion_app_id, c.creator_id AS conversion_creator_id
FROM ledger_transfers t JOIN conversions c ON c.id = t.conversion_id
WHERE t.app_id <> c.app_id OR t.creator_id IS DISTINCT FROM c.creator_id
ORDER BY t.id;

-- name: MislabeledRefunds :many
-- Refunds whose app or creator is not their conversion's: the creator's
-- list of reversals would then show another creator's.
SELECT r.id, r.creator_id, c.creator_id AS conversion_creator_id
FROM refunds r JOIN conversions c ON c.id = r.conversion_id
WHERE r.app_id <> c.app_id OR r.creator_id <> c.creator_id
ORDER BY r.id;
