package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/workflows"
)

// maxWebhookEndpoints is how many endpoints one app may register.
const maxWebhookEndpoints = 10

// WebhookEndpoint is an endpoint as its app sees it. The secret is in the
// answer that creates or rotates it, and on the owner's dashboard.
type WebhookEndpoint struct {
	ID        string    `json:"webhook_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func endpointOf(e db.WebhookEndpoint, withSecret bool) WebhookEndpoint {
	out := WebhookEndpoint{ID: e.ID, URL: e.Url, Events: e.Events, CreatedAt: e.CreatedAt.UTC()}
	if withSecret {
		out.Secret = e.Secret
	}
	return out
}

// RegisterWebhook adds an endpoint to an app: url (https, public unless
// Webhooks.AllowPrivate) and the events it receives (none: all).
func (s *Service) RegisterWebhook(ctx context.Context, appID, url string, events []string) (WebhookEndpoint, error) {
	u, err := webhook.CheckURL(ctx, url, s.Webhooks.AllowPrivate)
	if err != nil {
		return WebhookEndpoint{}, refusal.Invalid("invalid_url", "%s", err.Error())
	}
	evs, err := webhook.ParseEvents(events)
	if err != nil {
		return WebhookEndpoint{}, refusal.Invalid("invalid_events", "%s", err.Error())
	}
	var out db.WebhookEndpoint
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := s.Q.WithTx(tx)
		if err := q.LockAppWebhooks(ctx, appID); err != nil {
			return err
		}
		have, err := q.ListWebhookEndpoints(ctx, appID)
		if err != nil {
			return err
		}
		if len(have) >= maxWebhookEndpoints {
			return refusal.Conflict("too_many_webhooks", "an app has at most %d webhook endpoints: delete one first", maxWebhookEndpoints)
		}
		out, err = q.InsertWebhookEndpoint(ctx, db.InsertWebhookEndpointParams{
			ID: ids.New("we"), AppID: appID, Url: u.String(), Events: evs, Secret: webhook.NewSecret(),
		})
		return err
	})
	return endpointOf(out, true), err
}

// WebhookEndpoints lists an app's endpoints, with their secrets when withSecrets
// (the owner's dashboard).
func (s *Service) WebhookEndpoints(ctx context.Context, appID string, withSecrets bool) ([]WebhookEndpoint, error) {
	rows, err := s.Q.ListWebhookEndpoints(ctx, appID)
	out := make([]WebhookEndpoint, len(rows))
	for i, r := range rows {
		out[i] = endpointOf(r, withSecrets)
	}
	return out, err
}

// DeleteWebhook removes an endpoint: nothing more is sent to it.
func (s *Service) DeleteWebhook(ctx context.Context, appID, id string) error {
	n, err := s.Q.DeleteWebhookEndpoint(ctx, db.DeleteWebhookEndpointParams{ID: id, AppID: appID})
	if err == nil && n == 0 {
		return refusal.NotFound("webhook_not_found", "this app has no webhook endpoint %.64q", id)
	}
	return err
}

// RotateWebhookSecret gives an endpoint a new secret. For a day the old
// one signs too (webhook-signature carries both), so that the receiver
// can switch without refusing a delivery.
func (s *Service) RotateWebhookSecret(ctx context.Context, appID, id string) (WebhookEndpoint, error) {
	e, err := s.Q.RotateWebhookSecret(ctx, db.RotateWebhookSecretParams{
		ID: id, AppID: appID, Secret: webhook.NewSecret(), PreviousExpiresAt: s.now().Add(24 * time.Hour),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return WebhookEndpoint{}, refusal.NotFound("webhook_not_found", "this app has no webhook endpoint %.64q", id)
	}
	return endpointOf(e, true), err
}

// WebhookDelivery is one event sent to one endpoint, with its attempts.
type WebhookDelivery struct {
	db.ListWebhookDeliveriesRow
	Log []db.WebhookAttempt // every attempt, oldest first
}

// Last is the delivery's latest attempt, nil before the first.
func (d WebhookDelivery) Last() *db.WebhookAttempt {
	if len(d.Log) == 0 {
		return nil
	}
	return &d.Log[len(d.Log)-1]
}

// WebhookDeliveries are an app's latest deliveries with their attempts
// (two reads).
func (s *Service) WebhookDeliveries(ctx context.Context, appID string, limit int) ([]WebhookDelivery, error) {
	rows, err := s.Q.ListWebhookDeliveries(ctx, db.ListWebhookDeliveriesParams{AppID: appID, Limit: int32(limit)})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	attempts, err := s.Q.ListWebhookAttempts(ctx, ids)
	if err != nil {
		return nil, err
	}
	byDelivery := map[string][]db.WebhookAttempt{}
	for _, a := range attempts {
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
	}
	out := make([]WebhookDelivery, len(rows))
	for i, r := range rows {
		out[i] = WebhookDelivery{ListWebhookDeliveriesRow: r, Log: byDelivery[r.ID]}
	}
	return out, nil
}

// ResendWebhook delivers an event to its endpoint again (same webhook-id,
// so a receiver that has it can tell): its workflow starts afresh.
func (s *Service) ResendWebhook(ctx context.Context, appID, deliveryID string) error {
	n, err := s.Q.ResendWebhookDelivery(ctx, db.ResendWebhookDeliveryParams{ID: deliveryID, AppID: appID})
	if err == nil && n == 0 {
		return refusal.NotFound("delivery_not_found", "this app has no webhook delivery %.64q waiting to be sent again", deliveryID)
	}
	return err
}

// DispatchWebhooks starts a workflow for every delivery written to the
// outbox, every interval, until ctx ends. Several workers may run it: each
// takes rows the others have not locked. A start that fails leaves its row
// for the next round.
func (s *Service) DispatchWebhooks(ctx context.Context, interval time.Duration, log *slog.Logger) {
	wait := interval
	for {
		for {
			n, err := s.dispatchWebhooks(ctx)
			if err != nil && ctx.Err() == nil {
				// Temporal or the database is away: say so, and wait
				// longer each time (up to 30s) rather than log twice a
				// second.
				wait = min(2*wait, 30*time.Second)
				log.Error("webhook dispatch", "err", err, "retry_in", wait)
				break
			}
			wait = interval
			if n < dispatchBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

const dispatchBatch = 100

func (s *Service) dispatchWebhooks(ctx context.Context) (int, error) {
	var started []string
	var startErr error // the start that failed; its row and the rest wait for the next round
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := s.Q.WithTx(tx)
		rows, err := q.UndispatchedWebhookDeliveries(ctx, dispatchBatch)
		if err != nil {
			return err
		}
		for _, id := range rows {
			// A start that fails means Temporal is unreachable or
			// refusing: stop here (the rows stay locked only this long)
			// and leave the rest for the next round.
			startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.Workflows.StartWebhookDelivery(startCtx, workflows.WebhookDeliveryInput{DeliveryID: id, Retry: s.Webhooks.Retry})
			cancel()
			if err != nil {
				startErr = fmt.Errorf("start delivery %s: %w", id, err)
				break
			}
			started = append(started, id)
		}
		if len(started) == 0 {
			return nil
		}
		return q.MarkWebhookDispatched(ctx, started)
	})
	if err != nil {
		return 0, err
	}
	return len(started), startErr
}
