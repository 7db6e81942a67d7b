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

	"github.com/agentlinks/agentlinks/internal/conversion"
)

// Client starts the workflows and talks to them: conversions (record,
// refund, state) and Stripe events.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// Recorded, when set, is told of the conversions the worker in this
	// process records (its activities' Recorded, on the same Temporal
	// client): RecordConversion then starts conversions eagerly and is
	// answered from it, with the record update as the fallback.
	Recorded *conversion.Waiters
	// RecordedWait is how long a conversion started eagerly waits to be
	// told before it asks its workflow; zero means two seconds.
	RecordedWait time.Duration
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
func (c Client) start(in conversion.Input) (client.StartWorkflowOptions, conversion.Input) {
	in.SearchAttributesAtStart, in.ReleaseLocally = true, true
	return client.StartWorkflowOptions{
		ID:        conversion.WorkflowID(in.ConversionID),
		TaskQueue: c.TaskQueue,
		// A running workflow is joined; a closed one is started again, and
		// the new run finds the conversion recorded and takes the update
		// (a clawback) before it ends.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			AppIDKey.ValueSet(in.AppID),
			RefCodeKey.ValueSet(in.RefCode),
			ConversionStatusKey.ValueSet(conversion.StatusPending),
		),
	}, in
}

// startEagerly starts the conversion's workflow, or joins the one already
// running, and returns once the server has stored the start. It asks for
// an eager start: when this client's process runs a worker on the task
// queue with a free slot, the server hands the workflow's first task back
// in its answer, to that worker, saving the task queue's round trip.
// Whoever waits for the record learns of it another way (Recorded, else
// the record update).
func (c Client) startEagerly(ctx context.Context, in conversion.Input) error {
	opts, in := c.start(in)
	opts.EnableEagerStart = true
	if _, err := c.Temporal.ExecuteWorkflow(ctx, opts, ConversionWorkflowName, in); err != nil {
		return fmt.Errorf("start conversion workflow %s: %w", conversion.WorkflowID(in.ConversionID), err)
	}
	return nil
}

// RecordConversion starts the conversion's workflow (or joins it) and waits
// until the commission is recorded. Without Recorded it is one round trip:
// Update-With-Start. With Recorded it starts the workflow eagerly, so that
// this process's worker runs its first task and tells Recorded when the
// record activity has committed: a start and one workflow task, where the
// record update costs the task queue's round trip too (BENCHMARKS.md,
// Conversions). The workflow is started before the record, and the record
// is committed before the answer, as on the update path. If nobody tells
// in time (the server did not start it eagerly and another process's
// worker took the task, or a concurrent repeat joined a workflow that had
// already recorded), the record update asks the workflow, which answers
// what it recorded.
func (c Client) RecordConversion(ctx context.Context, in conversion.Input) (RecordReply, error) {
	if c.Recorded == nil {
		return c.recordByUpdate(ctx, in)
	}
	told, stop := c.Recorded.Wait(in.ConversionID)
	defer stop()
	if err := c.startEagerly(ctx, in); err != nil {
		return RecordReply{}, err
	}
	wait := c.RecordedWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-told:
		// Created only for the request whose start recorded it, as the
		// record update answers.
		return RecordReply{Conversion: r.Result.Conversion, Created: r.Result.Inserted && r.RequestID == in.RequestID}, nil
	case <-timer.C:
		return c.recordByUpdate(ctx, in)
	case <-ctx.Done():
		return RecordReply{}, ctx.Err()
	}
}

func (c Client) recordByUpdate(ctx context.Context, in conversion.Input) (reply RecordReply, err error) {
	err = retryAborted(ctx, func() error {
		reply, err = c.recordOnce(ctx, in)
		return err
	})
	return reply, err
}

func (c Client) recordOnce(ctx context.Context, in conversion.Input) (RecordReply, error) {
	return updateWithStart[RecordReply](ctx, c, in, client.UpdateWorkflowOptions{
		UpdateID:   "record-" + in.RequestID,
		UpdateName: UpdateRecord,
		Args:       []any{RecordRequest{RequestID: in.RequestID}},
	}, "start conversion workflow "+conversion.WorkflowID(in.ConversionID), "record conversion "+in.ConversionID)
}

// RefundConversion delivers a refund to the conversion's workflow and waits
// for what it reversed. While the hold runs the workflow's validator refuses
// an over-refund before it enters history; after the workflow ended, a new
// run takes the refund as a clawback. in is the recorded conversion, used
// only when a new run must start. The refund id is the update id, so a
// resend is answered, not applied twice.
func (c Client) RefundConversion(ctx context.Context, in conversion.Input, req RefundRequest) (res conversion.Refunded, err error) {
	err = retryAborted(ctx, func() error {
		res, err = c.refundOnce(ctx, in, req)
		return err
	})
	return res, err
}

func (c Client) refundOnce(ctx context.Context, in conversion.Input, req RefundRequest) (conversion.Refunded, error) {
	what := "refund conversion " + in.ConversionID
	return updateWithStart[conversion.Refunded](ctx, c, in, client.UpdateWorkflowOptions{
		UpdateID:   req.RefundID,
		UpdateName: UpdateRefund,
		Args:       []any{req},
	}, what, what)
}

// updateWithStart starts the conversion's workflow or joins the running one
// (Update-With-Start, one round trip), sends the update and waits for its
// result. sending and waiting name the two steps in errors.
func updateWithStart[T any](ctx context.Context, c Client, in conversion.Input, u client.UpdateWorkflowOptions, sending, waiting string) (T, error) {
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
func (c Client) State(ctx context.Context, conversionID string) (conversion.State, error) {
	v, err := c.Temporal.QueryWorkflow(ctx, conversion.WorkflowID(conversionID), "", QueryState)
	if err != nil {
		return conversion.State{}, err
	}
	var out conversion.State
	return out, v.Get(&out)
}

// StartStripeEvent starts the processing of a stored Stripe event, once:
// every delivery starts it, the first start wins, and a redelivery of an
// event whose first start was lost (a crash between storing it and here)
// starts it now.
func (c Client) StartStripeEvent(ctx context.Context, in StripeEventInput) error {
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       StripeEventWorkflowID(in.EventID),
		TaskQueue:                c.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, StripeEventWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start processing of stripe event %s: %w", in.EventID, err)
	}
	return nil
}

// classify wraps the application errors a caller answers as bad input,
// looking through causes (a record that failed carries why).
func classify(err error) error {
	var app *temporal.ApplicationError
	for e := error(err); errors.As(e, &app); e = app.Unwrap() {
		switch app.Type() {
		case conversion.ErrTypeOverRefund:
			return fmt.Errorf("%w: %s", ErrOverRefund, app.Message())
		case conversion.ErrTypeInvalidConversion:
			return fmt.Errorf("%w: %s", ErrInvalid, app.Message())
		}
	}
	return err
}
