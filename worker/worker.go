// Package worker runs the Temporal worker that executes AgentLinks'
// workflows and activities.
package worker

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/workflows"
)

// New returns a worker on taskQueue with every workflow and activity
// registered. The caller starts and stops it.
func New(c client.Client, taskQueue string, acts *activities.Activities, opts sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, opts)
	Register(w, acts)
	return w
}

// NewWebhooks returns the worker of the outbound webhook deliveries, on
// their own task queue (workflows.WebhookTaskQueue) with their own slots:
// a slow or dead endpoint never holds a slot the money's tasks need.
func NewWebhooks(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, workflows.WebhookTaskQueue(taskQueue), sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     50,
		MaxConcurrentActivityTaskPollers:       2,
		MaxConcurrentWorkflowTaskPollers:       2,
		MaxConcurrentWorkflowTaskExecutionSize: 50,
	})
	w.RegisterWorkflowWithOptions(workflows.WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: webhook.WorkflowName})
	w.RegisterActivityWithOptions(acts.DeliverWebhook, activity.RegisterOptions{Name: activities.NameDeliverWebhook})
	w.RegisterActivityWithOptions(acts.FailWebhookDelivery, activity.RegisterOptions{Name: activities.NameFailWebhook})
	return w
}

// Sized applies the sizing to opts and sets the process-wide sticky cache:
// call it before creating the process's first worker.
func Sized(s config.WorkerSizing, opts sdkworker.Options) sdkworker.Options {
	sdkworker.SetStickyWorkflowCacheSize(s.CacheSize)
	opts.MaxConcurrentWorkflowTaskPollers = s.WorkflowPollers
	opts.MaxConcurrentActivityTaskPollers = s.ActivityPollers
	opts.MaxConcurrentWorkflowTaskExecutionSize = s.MaxWorkflowTasks
	opts.MaxConcurrentActivityExecutionSize = s.MaxActivities
	opts.MaxConcurrentLocalActivityExecutionSize = s.MaxActivities
	return opts
}

// Register registers the workflows and activities on any registry (a
// worker, a test environment), each under the name recorded histories
// carry.
func Register(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}, acts *activities.Activities) {
	RegisterWorkflows(r)
	for name, fn := range acts.ByName() {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// RegisterWorkflows registers every workflow under its stable name (also
// on a replayer, which takes no activities).
func RegisterWorkflows(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(workflows.ConversionWorkflow, workflow.RegisterOptions{Name: workflows.ConversionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.StripeEventWorkflow, workflow.RegisterOptions{Name: workflows.StripeEventWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.PayoutRunWorkflow, workflow.RegisterOptions{Name: payout.RunWorkflow})
	r.RegisterWorkflowWithOptions(workflows.PayoutWorkflow, workflow.RegisterOptions{Name: payout.PayoutWorkflow})
	r.RegisterWorkflowWithOptions(workflows.WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: webhook.WorkflowName})
}

// EnsureSearchAttributes registers the custom search attributes on the
// namespace; those already there are left alone.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	want := map[string]enumspb.IndexedValueType{}
	for _, k := range workflows.SearchAttributes {
		want[k.GetName()] = k.GetValueType()
	}
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	for name := range list.GetCustomAttributes() {
		delete(want, name)
	}
	if len(want) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: want,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}
