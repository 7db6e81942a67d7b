package workflows

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/internal/webhook"
)

// WebhookDeliveryInput is one delivery of an event to one endpoint, with
// how it is retried (fixed at the start, so that a replay retries alike).
type WebhookDeliveryInput struct {
	DeliveryID string
	Retry      webhook.Retry
}

// WebhookTaskQueue is the task queue deliveries run on, beside the money's:
// a slow or dead endpoint holds only the webhook worker's slots.
func WebhookTaskQueue(taskQueue string) string { return taskQueue + "-webhooks" }

// WebhookDeliveryWorkflow delivers one event to one endpoint at least
// once: the attempt activity is retried with exponential backoff until the
// endpoint answers 2xx or the retry period (three days by default) is
// over; then the delivery is marked failed, for the owner to resend.
func WebhookDeliveryWorkflow(ctx workflow.Context, in WebhookDeliveryInput) error {
	r := in.Retry
	attempt := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: r.For,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        r.Initial,
			BackoffCoefficient:     2,
			MaximumInterval:        r.Max,
			NonRetryableErrorTypes: []string{"WebhookDeliveryMissing", "WebhookEndpointDeleted", "WebhookSecretInvalid", "WebhookURLInvalid"},
		},
	})
	var a *activities.Activities
	err := workflow.ExecuteActivity(attempt, a.DeliverWebhook, in.DeliveryID).Get(ctx, nil)
	if err == nil {
		return nil
	}
	workflow.GetLogger(ctx).Warn("webhook delivery gave up", "delivery_id", in.DeliveryID, "error", err)
	mark := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	return workflow.ExecuteActivity(mark, a.FailWebhookDelivery, in.DeliveryID).Get(ctx, nil)
}

// StartWebhookDelivery starts a delivery's workflow. A delivery being
// retried is started afresh (the owner's resend: try now, backoff anew).
func (c Client) StartWebhookDelivery(ctx context.Context, in WebhookDeliveryInput) error {
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       webhook.WorkflowID(in.DeliveryID),
		TaskQueue:                WebhookTaskQueue(c.TaskQueue),
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
	}, webhook.WorkflowName, in)
	return err
}
