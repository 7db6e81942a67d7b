// Package webhook is AgentLinks' outbound webhooks (PRODUCT.md, Outbound
// webhooks): the events an app can subscribe to, the outbox they are
// written to in the same transaction as the money moves, and the Standard
// Webhooks signature every delivery carries (https://www.standardwebhooks.com:
// webhook-id, webhook-timestamp, webhook-signature = v1,base64 HMAC-SHA256
// of "id.timestamp.body" under the endpoint's whsec_ secret).
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
)

// The events an endpoint can subscribe to.
const (
	ConversionCreated   = "conversion.created"
	ConversionAvailable = "conversion.available"
	ConversionRefunded  = "conversion.refunded"
	PayoutPaid          = "payout.paid"
	PayoutFailed        = "payout.failed"
)

// Types are the events, in the order the dashboard lists them.
var Types = []string{ConversionCreated, ConversionAvailable, ConversionRefunded, PayoutPaid, PayoutFailed}

// Describe says what an event means, for the dashboard.
func Describe(typ string) string {
	return map[string]string{
		ConversionCreated:   "a conversion is recorded and its commission is pending",
		ConversionAvailable: "a conversion's hold ended: its commission is available to pay out",
		ConversionRefunded:  "a refund reversed part or all of a conversion's commission",
		PayoutPaid:          "a creator was paid",
		PayoutFailed:        "a payout failed and its money is available again",
	}[typ]
}

// ParseEvents reads an endpoint's subscription: known types, no repeats,
// at least one. Empty means every event.
func ParseEvents(in []string) ([]string, error) {
	if len(in) == 0 {
		return slices.Clone(Types), nil
	}
	var out []string
	for _, t := range in {
		t = strings.TrimSpace(t)
		if !slices.Contains(Types, t) {
			return nil, fmt.Errorf("unknown event %.40q: the events are %s", t, strings.Join(Types, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// NewSecret returns a signing secret: whsec_ and 32 random bytes in
// base64, as Standard Webhooks writes them.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Body is what every delivery posts: the Standard Webhooks payload shape.
type Body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Emit writes an event of an app to the outbox, with one delivery per
// endpoint subscribed to its type, in the caller's transaction. key names
// what happened (a retry emits nothing twice); an app without endpoints
// for the type costs one indexed read.
func Emit(ctx context.Context, q *db.Queries, appID, typ, key string, data any, at time.Time) error {
	endpoints, err := q.SubscribedWebhookEndpoints(ctx, db.SubscribedWebhookEndpointsParams{AppID: appID, Type: typ})
	if err != nil || len(endpoints) == 0 {
		return err
	}
	at = at.UTC().Truncate(time.Microsecond)
	body, err := json.Marshal(Body{Type: typ, Timestamp: at, Data: data})
	if err != nil {
		return fmt.Errorf("webhook %s: %w", typ, err)
	}
	id, err := q.InsertWebhookEvent(ctx, db.InsertWebhookEventParams{
		ID: ids.New("msg"), AppID: appID, Type: typ, Key: typ + ":" + key, Payload: body, CreatedAt: at,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // emitted before (a retried transaction)
	}
	if err != nil {
		return fmt.Errorf("webhook event %s: %w", typ, err)
	}
	for _, ep := range endpoints {
		if err := q.InsertWebhookDelivery(ctx, db.InsertWebhookDeliveryParams{
			ID: ids.New("whd"), EventID: id, EndpointID: ep, AppID: appID, CreatedAt: at,
		}); err != nil {
			return fmt.Errorf("webhook delivery of %s: %w", id, err)
		}
	}
	return nil
}

// Signature is the webhook-signature header for a delivery: one v1
// signature per secret (the current one, and the previous one for a day
// after a rotation), space-separated.
func Signature(secrets []string, id string, at time.Time, body []byte) (string, error) {
	var sigs []string
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return "", fmt.Errorf("signing secret: %w", err)
		}
		sig, err := wh.Sign(id, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Retry is how a delivery is retried: exponential backoff from Initial,
// doubling up to Max between attempts, for For in all.
type Retry struct {
	Initial, Max, For time.Duration
}

// DefaultRetry is three days of retries: 30s, 1m, 2m, … then every 4h.
var DefaultRetry = Retry{Initial: 30 * time.Second, Max: 4 * time.Hour, For: 72 * time.Hour}

// WorkflowID is the business id of a delivery's workflow.
func WorkflowID(deliveryID string) string { return "webhook-" + deliveryID }

// WorkflowName is the delivery workflow's registered name.
const WorkflowName = "WebhookDelivery"

// ErrTypeEndpointFailed is the error type of an attempt the endpoint did
// not accept (retried).
const ErrTypeEndpointFailed = "WebhookEndpointFailed"
