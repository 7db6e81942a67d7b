// Package workflows holds the workflows (the per-conversion workflow in
// conversions.go, the per-event Stripe workflow in stripe.go) and the
// client that starts them and talks to them (client.go).
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/internal/conversion"
)

// Names of the workflow, its updates and query. Changing any of them breaks
// running workflows and the clients talking to them.
const (
	ConversionWorkflowName = "ConversionWorkflow"
	UpdateRecord           = "record"
	UpdateRefund           = "refund"
	QueryState             = "state"
)

// Search attributes that let an operator find a conversion in the Temporal
// UI: AppID="app_…" AND RefCode="bf7k2x" AND ConversionStatus="pending".
var (
	AppIDKey            = temporal.NewSearchAttributeKeyKeyword("AppID")
	RefCodeKey          = temporal.NewSearchAttributeKeyKeyword("RefCode")
	ConversionStatusKey = temporal.NewSearchAttributeKeyKeyword("ConversionStatus")
)

// SearchAttributes lists every custom search attribute the workflows use;
// the worker registers them on the namespace.
var SearchAttributes = []temporal.SearchAttributeKey{AppIDKey, RefCodeKey, ConversionStatusKey}

// acts names the activities for ExecuteActivity; the worker registers the
// real instance and the SDK resolves these method values to it by name.
var acts *activities.Activities

// RecordRequest is the argument of the record update.
type RecordRequest struct {
	RequestID string
}

// RecordReply answers the record update.
type RecordReply struct {
	Conversion conversion.State
	// Created is true only for the request that started this conversion:
	// every other caller, a retry included, is answering a repeat.
	Created bool
}

// RefundRequest is the argument of the refund update.
type RefundRequest struct {
	RefundID    string
	AmountCents int64
	DedupeKey   string
}

// ErrTypeNotRecorded is returned to an update that arrived when the
// conversion could not be recorded.
const ErrTypeNotRecorded = "ConversionNotRecorded"

// conversionRun is one ConversionWorkflow's state.
type conversionRun struct {
	in       conversion.Input
	rec      *conversion.State // nil until recorded
	inserted bool              // this run inserted it
	failed   error             // recording failed for good
	mu       workflow.Mutex    // serialises refunds and the release
}

// ConversionWorkflow records one conversion's commission, holds it pending
// through the app's hold period while taking refunds, then releases it to
// the creator's available balance. A full refund during the hold ends it
// early. Started for a conversion that is already released (a refund after
// the first run ended), it takes the refund as a clawback and ends.
func ConversionWorkflow(ctx workflow.Context, in conversion.Input) (conversion.State, error) {
	wf := &conversionRun{in: in, mu: workflow.NewMutex(ctx)}
	if err := wf.setHandlers(ctx); err != nil {
		return conversion.State{}, err
	}
	return wf.run(ctx)
}

func (wf *conversionRun) setHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (conversion.State, error) {
		if wf.rec == nil {
			return conversion.State{}, errors.New("not recorded yet")
		}
		return *wf.rec, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateRecord, wf.record); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateRefund, wf.refund, workflow.UpdateHandlerOptions{
		Validator: wf.validateRefund,
	})
}

func (wf *conversionRun) run(ctx workflow.Context) (conversion.State, error) {
	logger := workflow.GetLogger(ctx)
	var res conversion.Recorded
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), acts.RecordConversion, wf.in).Get(ctx, &res); err != nil {
		wf.failed = err
		// Let update handlers waiting on the record answer with the error.
		_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		return conversion.State{}, err
	}
	wf.rec, wf.inserted = &res.Conversion, res.Inserted
	if !wf.describedAtStart() {
		if err := wf.upsertStatus(ctx); err != nil {
			return conversion.State{}, err
		}
	}
	logger.Info("conversion recorded", "conversion_id", wf.rec.ID, "app_id", wf.rec.AppID,
		"status", wf.rec.Status, "inserted", res.Inserted, "available_at", wf.rec.AvailableAt)

	if wf.rec.Status == conversion.StatusPending {
		// The durable hold: a timer that survives worker and server restarts,
		// raced against a full refund that ends the hold early.
		if hold := wf.rec.AvailableAt.Sub(workflow.Now(ctx)); hold > 0 {
			if _, err := workflow.AwaitWithTimeout(ctx, hold, func() bool {
				return wf.rec.Status != conversion.StatusPending
			}); err != nil {
				return *wf.rec, err
			}
		}
		if err := wf.release(ctx); err != nil {
			return *wf.rec, err
		}
	}
	// Refunds that arrived meanwhile finish before the workflow does.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *wf.rec, err
	}
	logger.Info("conversion workflow done", "conversion_id", wf.rec.ID, "status", wf.rec.Status)
	return *wf.rec, nil
}

func (wf *conversionRun) release(ctx workflow.Context) error {
	if err := wf.mu.Lock(ctx); err != nil {
		return err
	}
	defer wf.mu.Unlock()
	if wf.rec.Status != conversion.StatusPending {
		return nil // fully refunded during the hold: nothing to release
	}
	var c conversion.State
	var release workflow.Future
	if wf.in.ReleaseLocally {
		release = workflow.ExecuteLocalActivity(localOptions(ctx), acts.ReleaseConversion, wf.rec.ID)
	} else {
		release = workflow.ExecuteActivity(activityOptions(ctx), acts.ReleaseConversion, wf.rec.ID)
	}
	if err := release.Get(ctx, &c); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	wf.rec = &c
	return wf.upsertStatus(ctx)
}

// record answers the caller that started or joined this conversion.
func (wf *conversionRun) record(ctx workflow.Context, req RecordRequest) (RecordReply, error) {
	if err := workflow.Await(ctx, func() bool { return wf.rec != nil || wf.failed != nil }); err != nil {
		return RecordReply{}, err
	}
	if wf.rec == nil {
		return RecordReply{}, temporal.NewApplicationErrorWithCause("conversion not recorded", ErrTypeNotRecorded, wf.failed)
	}
	created := wf.inserted && req.RequestID != "" && req.RequestID == wf.in.RequestID
	return RecordReply{Conversion: *wf.rec, Created: created}, nil
}

// validateRefund refuses, before it enters history, a refund that cannot be
// right: not positive, or more than is left to refund.
func (wf *conversionRun) validateRefund(ctx workflow.Context, req RefundRequest) error {
	if req.AmountCents <= 0 {
		return temporal.NewApplicationError("refund amount must be positive", conversion.ErrTypeOverRefund)
	}
	if wf.rec != nil && req.AmountCents > wf.rec.Remaining() {
		return temporal.NewApplicationError(
			fmt.Sprintf("refund of %d cents exceeds the %d cents left to refund on conversion %s",
				req.AmountCents, wf.rec.Remaining(), wf.rec.ID), conversion.ErrTypeOverRefund)
	}
	return nil
}

func (wf *conversionRun) refund(ctx workflow.Context, req RefundRequest) (conversion.Refunded, error) {
	if err := workflow.Await(ctx, func() bool { return wf.rec != nil || wf.failed != nil }); err != nil {
		return conversion.Refunded{}, err
	}
	if wf.rec == nil {
		return conversion.Refunded{}, temporal.NewApplicationErrorWithCause("conversion not recorded", ErrTypeNotRecorded, wf.failed)
	}
	if err := wf.mu.Lock(ctx); err != nil {
		return conversion.Refunded{}, err
	}
	defer wf.mu.Unlock()
	// The activity checks the amount again under a row lock; the database,
	// not this workflow's memory, is what makes an over-refund impossible.
	var res conversion.Refunded
	in := conversion.RefundInput{RefundID: req.RefundID, ConversionID: wf.rec.ID, AmountCents: req.AmountCents, DedupeKey: req.DedupeKey}
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), acts.RefundConversion, in).Get(ctx, &res); err != nil {
		return conversion.Refunded{}, err
	}
	wf.rec = &res.Conversion
	if err := wf.upsertStatus(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// describedAtStart says whether the search attributes the start set already
// describe the recorded conversion: upserting them again would cost an
// event and a visibility write for nothing. A run started for a conversion
// recorded earlier (a clawback run finds it released) upserts.
func (wf *conversionRun) describedAtStart() bool {
	return wf.in.SearchAttributesAtStart && wf.rec.Status == conversion.StatusPending &&
		wf.rec.AppID == wf.in.AppID && wf.rec.RefCode == wf.in.RefCode
}

func (wf *conversionRun) upsertStatus(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx,
		AppIDKey.ValueSet(wf.rec.AppID),
		RefCodeKey.ValueSet(wf.rec.RefCode),
		ConversionStatusKey.ValueSet(wf.rec.Status))
}

// Local activities for the steps a caller waits on (record, refund): they
// run inside the workflow task, saving the round trips of a scheduled
// activity. They retry without limit: a database outage delays money, it
// never drops it. Every non-retryable error is bad input.
func localOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			NonRetryableErrorTypes: []string{
				conversion.ErrTypeInvalidConversion, conversion.ErrTypeOverRefund, conversion.ErrTypeConversionMissing,
			},
		},
	})
}

// The release of workflows started before ReleaseLocally runs as a regular
// activity. As a local activity (today's starts) it runs inside the
// workflow task the hold's timer wakes: one task instead of an activity
// task and a second workflow task, which counts when many holds end
// together. A worker that dies mid-release loses the task, which the
// server gives to another worker after its timeout; the release is
// idempotent.
func activityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{conversion.ErrTypeConversionMissing},
		},
	})
}
