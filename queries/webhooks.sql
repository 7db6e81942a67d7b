-- name: InsertWebhookEndpoint :one
INSERT INTO webhook_endpoints (id, app_id, url, events, secret)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: ListWebhookEndpoints :many
SELECT * FROM webhook_endpoints WHERE app_id = $1 AND deleted_at IS NULL ORDER BY created_at, id;

-- name: GetWebhookEndpoint :one
SELECT * FROM webhook_endpoints WHERE id = $1;

-- name: DeleteWebhookEndpoint :execrows
UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1 AND app_id = $2 AND deleted_at IS NULL;

-- name: RotateWebhookSecret :one
UPDATE webhook_endpoints
SET previous_secret = secret, previous_secret_expires_at = @previous_expires_at::timestamptz, secret = @secret
WHERE id = @id AND app_id = @app_id AND deleted_at IS NULL
RETURNING *;

-- name: SubscribedWebhookEndpoints :many
SELECT id FROM webhook_endpoints
WHERE app_id = $1 AND deleted_at IS NULL AND @type::text = ANY (events)
ORDER BY id;

-- name: InsertWebhookEvent :one
INSERT INTO webhook_events (id, app_id, type, key, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (key) DO NOTHING
RETURNING id;

-- name: InsertWebhookDelivery :exec
INSERT INTO webhook_deliveries (id, event_id, endpoint_id, app_id, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (event_id, endpoint_id) DO NOTHING;

-- name: UndispatchedWebhookDeliveries :many
-- The deliveries whose workflow is not started yet, oldest first, locked
-- so that two workers do not start the same ones.
SELECT id FROM webhook_deliveries
WHERE dispatched_at IS NULL
ORDER BY created_at
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: MarkWebhookDispatched :exec
UPDATE webhook_deliveries SET dispatched_at = now() WHERE id = ANY (@ids::text[]);

-- name: GetWebhookDelivery :one
-- A delivery with what its attempt sends: the event and the endpoint.
SELECT d.id, d.app_id, d.status, d.attempts, d.created_at, d.endpoint_id,
       e.id AS event_id, e.type, e.payload, e.created_at AS event_created_at,
       w.url, w.secret, w.previous_secret, w.previous_secret_expires_at, w.deleted_at AS endpoint_deleted_at
FROM webhook_deliveries d
JOIN webhook_events e ON e.id = d.event_id
JOIN webhook_endpoints w ON w.id = d.endpoint_id
WHERE d.id = $1;

-- name: InsertWebhookAttempt :one
-- Logs an attempt and counts it on its delivery; a 2xx delivers it.
WITH n AS (
    UPDATE webhook_deliveries
    SET attempts = attempts + 1,
        status = CASE WHEN @delivered::boolean THEN 'delivered' ELSE status END,
        delivered_at = CASE WHEN @delivered::boolean THEN @at::timestamptz ELSE delivered_at END
    WHERE id = @delivery_id
    RETURNING attempts
)
INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms, response)
SELECT @delivery_id, n.attempts, @at::timestamptz, @status_code, @error, @duration_ms, @response FROM n
RETURNING attempt;

-- name: FailWebhookDelivery :exec
UPDATE webhook_deliveries SET status = 'failed', failed_at = now() WHERE id = $1 AND status = 'pending';

-- name: ResendWebhookDelivery :execrows
-- The owner asks for a delivery again: it is pending and undispatched, so
-- the worker starts a new workflow for it.
UPDATE webhook_deliveries
SET status = 'pending', dispatched_at = NULL, failed_at = NULL
WHERE id = $1 AND app_id = $2 AND (status <> 'pending' OR dispatched_at IS NOT NULL);

-- name: ListWebhookDeliveries :many
SELECT d.id, d.status, d.attempts, d.created_at, d.delivered_at, d.failed_at, d.endpoint_id,
       e.id AS event_id, e.type, w.url
FROM webhook_deliveries d
JOIN webhook_events e ON e.id = d.event_id
JOIN webhook_endpoints w ON w.id = d.endpoint_id
WHERE d.app_id = $1
ORDER BY d.created_at DESC, d.id
LIMIT $2;

-- name: ListWebhookAttempts :many
-- Every attempt of the deliveries given, in one read, oldest first.
SELECT * FROM webhook_attempts WHERE delivery_id = ANY (@delivery_ids::text[]) ORDER BY delivery_id, attempt;

-- name: LockAppWebhooks :exec
-- Serialises the registrations of one app (the endpoint limit).
SELECT pg_advisory_xact_lock(hashtext('webhooks:' || @app_id::text));
