// Package activities holds every side effect of the workflows: the
// database writes that record a conversion, release it and reverse it
// (conversions.go), and the processing of a stored Stripe event
// (stripe.go). Each is idempotent: a retry after a crash finds the work
// done (unique keys, ON CONFLICT DO NOTHING, the same ledger transfer key)
// and changes nothing twice.
package activities

import (
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/metrics"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/webhook"
)

// Activities holds what the activities need. The worker registers one
// value; a workflow names an activity by method value on a nil
// *Activities, which the SDK resolves to the registered one by name.
type Activities struct {
	Pool *pgxpool.Pool
	Q    *db.Queries
	// Recorded, when set, is told of every conversion RecordConversion
	// commits or finds recorded, for an API in the same process.
	Recorded *conversion.Waiters
	// Stripe reads connected accounts for the Stripe event activities.
	Stripe *stripeapi.Client
	// Payments turns a Stripe event's payments and refunds into
	// conversions and refunds through their workflows (the service, set
	// at wiring).
	Payments Payments
	// BalanceRetry is how long a payout transfer waits after Stripe's
	// balance_insufficient (DefaultBalanceRetry when zero).
	BalanceRetry time.Duration
	// Metrics counts what the money does (nil counts nothing).
	Metrics *metrics.Metrics
	// Webhooks sends outbound webhook deliveries (webhook.Client; the
	// default refuses private addresses).
	Webhooks *http.Client
}

// New returns the activities over a connection pool.
func New(pool *pgxpool.Pool) *Activities {
	return &Activities{Pool: pool, Q: db.New(pool), Webhooks: webhook.Client(WebhookTimeout, false)}
}

// Names of the activities as workflow histories carry them. The worker
// registers each under its name, so that renaming a method cannot change
// what recorded histories replay against.
const (
	NameRecordConversion   = "RecordConversion"
	NameReleaseConversion  = "ReleaseConversion"
	NameRefundConversion   = "RefundConversion"
	NameProcessStripeEvent = "ProcessStripeEvent"
	NameParkStripeEvent    = "ParkStripeEvent"
	NameReservePayouts     = "ReservePayouts"
	NameConfirmRun         = "ConfirmRun"
	NameChargeRun          = "ChargeRun"
	NameReturnRun          = "ReturnRun"
	NameSendTransfer       = "SendTransfer"
	NameMarkPayoutPaid     = "MarkPayoutPaid"
	NameFailPayout         = "FailPayout"
	NameFinishRun          = "FinishRun"
	NameDeliverWebhook     = "DeliverWebhook"
	NameFailWebhook        = "FailWebhookDelivery"
)

// ByName is every activity under the name histories carry.
func (a *Activities) ByName() map[string]any {
	return map[string]any{
		NameRecordConversion:   a.RecordConversion,
		NameReleaseConversion:  a.ReleaseConversion,
		NameRefundConversion:   a.RefundConversion,
		NameProcessStripeEvent: a.ProcessStripeEvent,
		NameParkStripeEvent:    a.ParkStripeEvent,
		NameReservePayouts:     a.ReservePayouts,
		NameConfirmRun:         a.ConfirmRun,
		NameChargeRun:          a.ChargeRun,
		NameReturnRun:          a.ReturnRun,
		NameSendTransfer:       a.SendTransfer,
		NameMarkPayoutPaid:     a.MarkPayoutPaid,
		NameFailPayout:         a.FailPayout,
		NameFinishRun:          a.FinishRun,
		NameDeliverWebhook:     a.DeliverWebhook,
		NameFailWebhook:        a.FailWebhookDelivery,
	}
}
