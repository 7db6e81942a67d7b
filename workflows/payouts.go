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
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/internal/payout"
)

// payoutDB is how a payout step that only touches the database retries:
// soon, and until it succeeds (non-retryable errors aside).
var payoutDB = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// payoutStripe is how a call to Stripe retries: it carries an
// idempotency key fixed before the first try, so it may retry for as long
// as Stripe is unreachable; balance_insufficient sets its own delay. A
// call takes at most the adapter's 20 s HTTP timeout, so a worker that
// died mid-call is retried 30 s after it started.
var payoutStripe = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Hour,
		NonRetryableErrorTypes: []string{payout.ErrTypeChargeDeclined, payout.ErrTypeTransferFailed}},
}

// statusReserving is a run's status in its workflow before the
// reservation is back.
const statusReserving = "reserving"

// PayoutRunWorkflow is one payout run of a program: it reserves every due
// creator's available balance, waits for the owner to confirm (unless the
// program confirms its own runs), then — in Stripe mode — charges the app
// for the creators' net plus the platform fee and pays each creator in a
// Payout workflow of its own. A declined charge or a cancel returns every
// reservation. In manual mode the run ends with its payouts awaiting the
// owner's payment.
func PayoutRunWorkflow(ctx workflow.Context, in payout.RunInput) (payout.RunResult, error) {
	if in.RunID == "" {
		in.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
	}
	res := payout.RunResult{RunID: in.RunID, Status: statusReserving}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AppIDKey.ValueSet(in.AppID)); err != nil {
		return res, err
	}
	if err := workflow.SetQueryHandler(ctx, payout.QueryStatus, func() (payout.RunResult, error) { return res, nil }); err != nil {
		return res, err
	}
	// The owner's decision: one confirm or cancel, the first that comes; a
	// validator refuses a second before it enters history.
	var decision *payout.Decision
	confirmed := false
	validate := func(ctx workflow.Context, d payout.Decision) error {
		if decision != nil {
			return temporal.NewApplicationError(fmt.Sprintf("run %s was already %s", in.RunID, map[bool]string{true: "confirmed", false: "canceled"}[confirmed]), payout.ErrTypeNotAwaiting)
		}
		// A decision may arrive while the run still reserves (the
		// database says awaiting before this workflow heard back).
		if res.Status != payout.RunAwaitingConfirmation && res.Status != statusReserving {
			return temporal.NewApplicationError(fmt.Sprintf("run %s is %s, not awaiting confirmation", in.RunID, res.Status), payout.ErrTypeNotAwaiting)
		}
		return nil
	}
	for _, u := range []struct {
		name    string
		confirm bool
	}{{payout.UpdateConfirm, true}, {payout.UpdateCancel, false}} {
		handle := func(ctx workflow.Context, d payout.Decision) error {
			decision, confirmed = &d, u.confirm
			return nil
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, handle, workflow.UpdateHandlerOptions{Validator: validate}); err != nil {
			return res, err
		}
	}
	// Whoever started the run may wait for its reservation (a creator who
	// cashes out lands on a page that shows the money reserved). The
	// handler adds no command, so histories recorded before it replay.
	reserved := false
	if err := workflow.SetUpdateHandler(ctx, payout.UpdateReserved, func(ctx workflow.Context) (payout.RunResult, error) {
		err := workflow.Await(ctx, func() bool { return reserved })
		return res, err
	}); err != nil {
		return res, err
	}
	dctx := workflow.WithActivityOptions(ctx, payoutDB)
	var plan payout.Plan
	if err := workflow.ExecuteActivity(dctx, acts.ReservePayouts, in).Get(ctx, &plan); err != nil {
		return res, err
	}
	reserved = true
	if len(plan.Payouts) == 0 {
		res.Status = payout.RunEmpty
		// Let a waiting reserved update answer before the run ends.
		return res, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
	if plan.AutoConfirm {
		decision, confirmed = &payout.Decision{By: "auto"}, true
	} else {
		res.Status = payout.RunAwaitingConfirmation
		if err := workflow.Await(ctx, func() bool { return decision != nil }); err != nil {
			return res, err
		}
	}
	if !confirmed {
		reason := "canceled by the owner"
		if decision.Reason != "" {
			reason += ": " + decision.Reason
		}
		res.Status, res.Reason, res.Failed = payout.RunCanceled, reason, len(plan.Payouts)
		return res, workflow.ExecuteActivity(dctx, acts.ReturnRun, in.RunID, payout.RunCanceled, reason).Get(ctx, nil)
	}
	if err := workflow.ExecuteActivity(dctx, acts.ConfirmRun, in.RunID, *decision).Get(ctx, nil); err != nil {
		return res, err
	}
	if plan.Mode == payout.ModeManual {
		res.Status = payout.RunAwaitingPayment
		return res, nil
	}
	res.Status = payout.RunCharging
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, payoutStripe), acts.ChargeRun, in.RunID).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == payout.ErrTypeChargeDeclined {
		res.Status, res.Reason, res.Failed = payout.RunFailed, appErr.Message(), len(plan.Payouts)
		return res, workflow.ExecuteActivity(dctx, acts.ReturnRun, in.RunID, payout.RunFailed, appErr.Message()).Get(ctx, nil)
	}
	if err != nil {
		return res, err
	}
	res.Status = payout.RunPaying
	// Each payout is its own workflow, abandoned rather than ended if this
	// run is: a transfer under way finishes whatever happens to the run.
	futures := make([]workflow.ChildWorkflowFuture, len(plan.Payouts))
	for i, p := range plan.Payouts {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            payout.WorkflowID(p.PayoutID),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(AppIDKey.ValueSet(in.AppID)),
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, payout.PayoutWorkflow, p.PayoutID)
	}
	for _, f := range futures {
		var status string
		if err := f.Get(ctx, &status); err != nil {
			return res, err
		}
	}
	if err := workflow.ExecuteActivity(dctx, acts.FinishRun, in.RunID).Get(ctx, &res); err != nil {
		return res, err
	}
	return res, nil
}

// PayoutWorkflow pays one creator: the transfer (Idempotency-Key
// payout-<id>, so a retry after a crash is the same transfer), then the
// ledger's in payout → paid. Stripe's balance_insufficient waits and
// retries; a refusal returns the amount to available with the reason.
func PayoutWorkflow(ctx workflow.Context, payoutID string) (string, error) {
	dctx := workflow.WithActivityOptions(ctx, payoutDB)
	var transferID string
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, payoutStripe), acts.SendTransfer, payoutID).Get(ctx, &transferID)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == payout.ErrTypeTransferFailed {
		if err := workflow.ExecuteActivity(dctx, acts.FailPayout, payoutID, appErr.Message()).Get(ctx, nil); err != nil {
			return "", err
		}
		return payout.StatusFailed, nil
	}
	if err != nil {
		return "", err
	}
	if err := workflow.ExecuteActivity(dctx, acts.MarkPayoutPaid, payoutID, transferID).Get(ctx, nil); err != nil {
		return "", err
	}
	return payout.StatusPaid, nil
}

// ErrRunNotAwaiting is a confirm or cancel of a run that is not waiting
// for one (already decided, still reserving, or ended).
var ErrRunNotAwaiting = errors.New("the payout run is not awaiting confirmation")

// runStart is how a run's workflow starts. Its id is new per run: a run
// is a business event of its own; what makes a second run harmless is the
// ledger's reservation, not the id.
func (c Client) runStart(in payout.RunInput) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    in.RunID,
		TaskQueue:             c.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(AppIDKey.ValueSet(in.AppID)),
	}
}

// StartPayoutRun starts a run now.
func (c Client) StartPayoutRun(ctx context.Context, in payout.RunInput) error {
	_, err := c.Temporal.ExecuteWorkflow(ctx, c.runStart(in), payout.RunWorkflow, in)
	return err
}

// StartReservedPayoutRun starts a run now and returns once it has
// reserved what it pays, with its status then (Update-With-Start on the
// run's reserved update): the page shown next shows the reservation.
func (c Client) StartReservedPayoutRun(ctx context.Context, in payout.RunInput) (payout.RunResult, error) {
	var res payout.RunResult
	opts := c.runStart(in)
	// Update-With-Start needs a conflict policy: a resend of this call
	// joins the run.
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	op := c.Temporal.NewWithStartWorkflowOperation(opts, payout.RunWorkflow, in)
	h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: payout.UpdateReserved, WaitForStage: client.WorkflowUpdateStageCompleted}})
	if err != nil {
		return res, fmt.Errorf("start payout run %s: %w", in.RunID, err)
	}
	if err := h.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("wait for payout run %s to reserve: %w", in.RunID, err)
	}
	return res, nil
}

// DecideRun sends the owner's confirm or cancel to a run waiting for it
// and returns once the run took it.
func (c Client) DecideRun(ctx context.Context, runID string, confirm bool, d payout.Decision) error {
	name := payout.UpdateCancel
	if confirm {
		name = payout.UpdateConfirm
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: runID, UpdateName: name, Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &appErr) && appErr.Type() == payout.ErrTypeNotAwaiting:
		return fmt.Errorf("%w: %s", ErrRunNotAwaiting, appErr.Message())
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: the run has ended", ErrRunNotAwaiting)
	}
	return err
}

// WaitRun waits for a run to end and returns how.
func (c Client) WaitRun(ctx context.Context, runID string) (payout.RunResult, error) {
	var res payout.RunResult
	err := c.Temporal.GetWorkflow(ctx, runID, "").Get(ctx, &res)
	return res, err
}

// SetPayoutSchedule makes the app's Temporal Schedule say what its
// program's payout schedule says: created, updated, or deleted for none.
// Each action starts a PayoutRun whose id is the schedule's with the
// time appended; overlapping runs are skipped (the reservation would
// leave the second one empty anyway).
func (c Client) SetPayoutSchedule(ctx context.Context, appID string, s payout.Schedule) error {
	sc := c.Temporal.ScheduleClient()
	id := payout.ScheduleID(appID)
	h := sc.GetHandle(ctx, id)
	if s == (payout.Schedule{}) {
		err := h.Delete(ctx)
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return nil
		}
		return err
	}
	spec := client.ScheduleSpec{}
	if s.MonthDay > 0 {
		spec.Calendars = []client.ScheduleCalendarSpec{{
			DayOfMonth: []client.ScheduleRange{{Start: s.MonthDay}},
			Hour:       []client.ScheduleRange{{Start: payout.ScheduleHour}},
			Month:      []client.ScheduleRange{{Start: 1, End: 12}},
		}}
	} else {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: time.Duration(s.EveryDays) * 24 * time.Hour}}
	}
	action := &client.ScheduleWorkflowAction{
		ID:                    payout.RunWorkflowID(appID, "scheduled"),
		Workflow:              payout.RunWorkflow,
		Args:                  []any{payout.RunInput{AppID: appID, Trigger: payout.TriggerSchedule}},
		TaskQueue:             c.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(AppIDKey.ValueSet(appID)),
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
	var exists *serviceerror.WorkflowExecutionAlreadyStarted
	if err == nil || !(errors.As(err, &exists) || errors.Is(err, temporal.ErrScheduleAlreadyRunning)) {
		return err
	}
	return h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		in.Description.Schedule.Spec = &spec
		in.Description.Schedule.Action = action
		return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
	}})
}

// PayoutSchedule describes the app's schedule: the next runs it will start.
func (c Client) PayoutSchedule(ctx context.Context, appID string) ([]time.Time, error) {
	d, err := c.Temporal.ScheduleClient().GetHandle(ctx, payout.ScheduleID(appID)).Describe(ctx)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return d.Info.NextActionTimes, nil
}
