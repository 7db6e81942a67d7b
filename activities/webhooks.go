package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/webhook"
)

// WebhookTimeout bounds one delivery attempt: an endpoint that does not
// answer within it failed that attempt.
const WebhookTimeout = 15 * time.Second

// DeliverWebhook makes one attempt at a delivery: it posts the event's body
// signed with the endpoint's secrets, logs the attempt, and returns an
// error (retried by the workflow's policy) unless the endpoint answered
// 2xx. A delivery already delivered, or whose endpoint was deleted, is not
// sent again.
func (a *Activities) DeliverWebhook(ctx context.Context, deliveryID string) error {
	d, err := a.Q.GetWebhookDelivery(ctx, deliveryID)
	if errors.Is(err, pgx.ErrNoRows) {
		return temporal.NewNonRetryableApplicationError("webhook delivery "+deliveryID+" does not exist", "WebhookDeliveryMissing", err)
	}
	if err != nil {
		return err
	}
	if d.EndpointDeletedAt != nil {
		return temporal.NewNonRetryableApplicationError("the endpoint was deleted", "WebhookEndpointDeleted", nil)
	}
	now := time.Now()
	secrets := []string{d.Secret}
	if d.PreviousSecret != nil && d.PreviousSecretExpiresAt != nil && now.Before(*d.PreviousSecretExpiresAt) {
		secrets = append(secrets, *d.PreviousSecret)
	}
	sig, err := webhook.Signature(secrets, d.EventID, now, d.Payload)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "WebhookSecretInvalid", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Url, bytes.NewReader(d.Payload))
	if err != nil {
		return temporal.NewNonRetryableApplicationError("endpoint url: "+err.Error(), "WebhookURLInvalid", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "AgentLinks-Webhooks/1")
	req.Header.Set("webhook-id", d.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)

	start := time.Now()
	resp, sendErr := a.Webhooks.Do(req)
	elapsed := time.Since(start)
	attempt := db.InsertWebhookAttemptParams{DeliveryID: d.ID, At: now, DurationMs: int32(elapsed.Milliseconds())}
	if sendErr != nil {
		attempt.Error = truncate(sendErr.Error(), 500)
	} else {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		_ = resp.Body.Close()
		attempt.StatusCode = int32(resp.StatusCode)
		attempt.Response = truncate(string(bytes.ToValidUTF8(body, nil)), 1024)
		attempt.Delivered = resp.StatusCode >= 200 && resp.StatusCode < 300
		if !attempt.Delivered {
			attempt.Error = fmt.Sprintf("the endpoint answered %d", resp.StatusCode)
		}
	}
	// The attempt is logged even when the activity's context is done.
	logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := a.Q.InsertWebhookAttempt(logCtx, attempt); err != nil {
		return fmt.Errorf("log webhook attempt: %w", err)
	}
	a.Metrics.WebhookAttempt(attempt.Delivered, now.Sub(d.EventCreatedAt))
	if !attempt.Delivered {
		return temporal.NewApplicationError(attempt.Error, webhook.ErrTypeEndpointFailed)
	}
	return nil
}

// FailWebhookDelivery marks a delivery failed after its last attempt.
func (a *Activities) FailWebhookDelivery(ctx context.Context, deliveryID string) error {
	return a.Q.FailWebhookDelivery(ctx, deliveryID)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
