-- name: ConnectStripeAccount :one
UPDATE apps SET stripe_account_id = @account, stripe_connected_at = now() WHERE id = @id RETURNING *;

-- name: DisconnectStripeAccount :execrows
UPDATE apps SET stripe_account_id = NULL, stripe_connected_at = NULL WHERE stripe_account_id = @account;

-- name: GetAppByStripeAccount :one
SELECT * FROM apps WHERE stripe_account_id = $1;

-- name: InsertStripeEvent :execrows
INSERT INTO stripe_events (id, type, account, api_version, payload) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING;

-- name: GetStripeEvent :one
SELECT * FROM stripe_events WHERE id = $1;

-- name: FinishStripeEvent :exec
UPDATE stripe_events SET status = @status, note = @note, app_id = @app_id, processed_at = now() WHERE id = @id;

-- name: ListStripeEventsByStatus :many
SELECT id, type, account, api_version, app_id, status, note, received_at, processed_at
FROM stripe_events WHERE status = $1 ORDER BY received_at;

-- name: RememberStripeCustomer :exec
INSERT INTO stripe_customers (account, customer_id, ref_code) VALUES ($1, $2, $3)
ON CONFLICT (account, customer_id) DO UPDATE SET ref_code = EXCLUDED.ref_code, updated_at = now();

-- name: GetStripeCustomer :one
SELECT * FROM stripe_customers WHERE account = $1 AND customer_id = $2;

-- name: RememberStripePayment :exec
INSERT INTO stripe_payments (account, payment_id, invoice_id) VALUES ($1, $2, $3)
ON CONFLICT (account, payment_id) DO NOTHING;

-- name: GetStripePaymentInvoice :one
SELECT invoice_id FROM stripe_payments WHERE account = $1 AND payment_id = $2;
