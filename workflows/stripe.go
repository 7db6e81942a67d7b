package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/internal/config"
)

// StripeEventWorkflowName names the workflow that processes one Stripe
// event; its id is stripe-event-<evt id>.
const StripeEventWorkflowName = "StripeEventWorkflow"

// StripeEventWorkflowID is the business id of an event's workflow.
func StripeEventWorkflowID(eventID string) string { return "stripe-event-" + eventID }

// StripeEventInput names the stored event to process.
type StripeEventInput struct {
	EventID string
	// ParkAfter bounds the retries of an event that cannot be processed
	// yet (a refund whose payment has not arrived): then it is parked.
	ParkAfter time.Duration
}

// StripeEventWorkflow processes one stored Stripe event: a paid invoice or
// checkout becomes a conversion, a refund or dispute a refund. The activity
// is retried with backoff, so an event that arrived before the one it
// depends on waits for it; after ParkAfter it is parked, with the reason,
// for an operator to see. The event's money moves in the conversion's own
// workflow, keyed by the Stripe ids, so a retry moves nothing twice.
func StripeEventWorkflow(ctx workflow.Context, in StripeEventInput) (string, error) {
	park := in.ParkAfter
	if park <= 0 {
		park = config.DefaultStripeParkAfter
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: park,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadStripeEvent},
		},
	})
	var note string
	err := workflow.ExecuteActivity(actx, acts.ProcessStripeEvent, in.EventID).Get(ctx, &note)
	if err == nil {
		return note, nil
	}
	workflow.GetLogger(ctx).Warn("stripe event parked", "event_id", in.EventID, "error", err)
	pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	reason := err.Error()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		reason = appErr.Message()
	}
	if err := workflow.ExecuteActivity(pctx, acts.ParkStripeEvent, in.EventID, reason).Get(ctx, nil); err != nil {
		return "", err
	}
	return "parked: " + reason, nil
}
