package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/activities"
)

// Client starts conversion workflows and sends them refunds.
type Client struct {
	Temporal  client.Client
	TaskQueue string
}

// Errors a caller maps to an answer. An error that is none of these is an
// outage (Temporal or the database unreachable), not bad input.
var (
	ErrOverRefund = errors.New("over-refund")
	ErrInvalid    = errors.New("invalid conversion")
)

// start returns the options that start the conversion's workflow under its
// business id, or join the one already running (a duplicate start is
// harmless), and the workflow's input, which says what this client's
// workflows do that older ones did not (the start set the search
// attributes; the release is a local activity).
func (c Client) start(in activities.ConversionInput) (client.StartWorkflowOptions, activities.ConversionInput) {
	in.SearchAttributesAtStart, in.ReleaseLocally = true, true
	return client.StartWorkflowOptions{
		ID:        activities.WorkflowID(in.ConversionID),
		TaskQueue: c.TaskQueue,
		// A running workflow is joined; a closed one is started again, and
		// the new run finds the conversion recorded and takes the update
		// (a clawback) before it ends.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			AppIDKey.ValueSet(in.AppID),
			RefCodeKey.ValueSet(in.RefCode),
			ConversionStatusKey.ValueSet(activities.StatusPending),
		),
	}, in
}

// StartConversion starts the conversion's workflow, or joins the one
// already running, and returns once the server has stored the start. It
// asks for an eager start: when this client's process runs a worker on the
// task queue with a free slot, the server hands the workflow's first task
// back in its answer, to that worker, saving the task queue's round trip.
// Whoever waits for the record learns of it another way
// (activities.RecordWaiters, else RecordConversion).
func (c Client) StartConversion(ctx context.Context, in activities.ConversionInput) error {
	opts, in := c.start(in)
	opts.EnableEagerStart = true
	if _, err := c.Temporal.ExecuteWorkflow(ctx, opts, ConversionWorkflowName, in); err != nil {
		return fmt.Errorf("start conversion workflow %s: %w", activities.WorkflowID(in.ConversionID), err)
	}
	return nil
}

// RecordConversion starts the conversion's workflow (or joins it) and waits
// until the commission is recorded. One round trip: Update-With-Start.
func (c Client) RecordConversion(ctx context.Context, in activities.ConversionInput) (reply RecordReply, err error) {
	err = retryAborted(ctx, func() error {
		reply, err = c.recordOnce(ctx, in)
		return err
	})
	return reply, err
}

func (c Client) recordOnce(ctx context.Context, in activities.ConversionInput) (RecordReply, error) {
	return updateWithStart[RecordReply](ctx, c, in, client.UpdateWorkflowOptions{
		UpdateID:   "record-" + in.RequestID,
		UpdateName: UpdateRecord,
		Args:       []any{RecordRequest{RequestID: in.RequestID}},
	}, "start conversion workflow "+activities.WorkflowID(in.ConversionID), "record conversion "+in.ConversionID)
}

// RefundConversion delivers a refund to the conversion's workflow and waits
// for what it reversed. While the hold runs the workflow's validator refuses
// an over-refund before it enters history; after the workflow ended, a new
// run takes the refund as a clawback. in is the recorded conversion, used
// only when a new run must start. The refund id is the update id, so a
// resend is answered, not applied twice.
func (c Client) RefundConversion(ctx context.Context, in activities.ConversionInput, req RefundRequest) (res activities.RefundResult, err error) {
	err = retryAborted(ctx, func() error {
		res, err = c.refundOnce(ctx, in, req)
		return err
	})
	return res, err
}

func (c Client) refundOnce(ctx context.Context, in activities.ConversionInput, req RefundRequest) (activities.RefundResult, error) {
	what := "refund conversion " + in.ConversionID
	return updateWithStart[activities.RefundResult](ctx, c, in, client.UpdateWorkflowOptions{
		UpdateID:   req.RefundID,
		UpdateName: UpdateRefund,
		Args:       []any{req},
	}, what, what)
}

// updateWithStart starts the conversion's workflow or joins the running one
// (Update-With-Start, one round trip), sends the update and waits for its
// result. sending and waiting name the two steps in errors.
func updateWithStart[T any](ctx context.Context, c Client, in activities.ConversionInput, u client.UpdateWorkflowOptions, sending, waiting string) (T, error) {
	var out T
	u.WaitForStage = client.WorkflowUpdateStageCompleted
	opts, in := c.start(in)
	op := c.Temporal.NewWithStartWorkflowOperation(opts, ConversionWorkflowName, in)
	h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: u})
	if err != nil {
		return out, classify(fmt.Errorf("%s: %w", sending, err))
	}
	if err := h.Get(ctx, &out); err != nil {
		return out, classify(fmt.Errorf("%s: %w", waiting, err))
	}
	return out, nil
}

// retryAborted sends an update again when the server aborted it without an
// answer: its workflow task failed (an update arriving as the workflow
// completes makes the server refuse the completion), or the server moved
// it. The update id makes the resend safe: what was done is answered, not
// done twice.
func retryAborted(ctx context.Context, send func() error) error {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := send()
		var notReady *serviceerror.WorkflowNotReady
		var unavailable *serviceerror.Unavailable
		if err == nil || attempt == 5 || !(errors.As(err, &notReady) || errors.As(err, &unavailable)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// State asks a running conversion workflow for its state.
func (c Client) State(ctx context.Context, conversionID string) (activities.Conversion, error) {
	v, err := c.Temporal.QueryWorkflow(ctx, activities.WorkflowID(conversionID), "", QueryState)
	if err != nil {
		return activities.Conversion{}, err
	}
	var out activities.Conversion
	return out, v.Get(&out)
}

// classify wraps the application errors a caller answers as bad input,
// looking through causes (a record that failed carries why).
func classify(err error) error {
	var app *temporal.ApplicationError
	for e := error(err); errors.As(e, &app); e = app.Unwrap() {
		switch app.Type() {
		case activities.ErrTypeOverRefund:
			return fmt.Errorf("%w: %s", ErrOverRefund, app.Message())
		case activities.ErrTypeInvalidConversion:
			return fmt.Errorf("%w: %s", ErrInvalid, app.Message())
		}
	}
	return err
}
