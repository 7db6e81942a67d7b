package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/worker"
	"github.com/agentlinks/agentlinks/workflows"
)

const day = 24 * time.Hour

// fixture is one program with one creator on its own database.
type fixture struct {
	t    *testing.T
	acts *activities.Activities
	q    *db.Queries
	in   conversion.Input
}

func newFixture(t *testing.T, amount int64) *fixture {
	t.Helper()
	d := testenv.DB(t)
	app, ens := testenv.Program(t, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: 14 * day})
	en := ens[0]
	return &fixture{t: t, acts: activities.New(d.Pool), q: db.New(d.Pool), in: conversion.Input{
		ConversionID:  "cv_test1",
		AppID:         app.App.ID,
		RefCode:       en.RefCode,
		CreatorID:     en.CreatorID,
		UserID:        "usr_1",
		AmountCents:   amount,
		Currency:      "usd",
		CommissionBPS: 3000,
		Hold:          14 * day,
		RequestID:     "req-1",
	}}
}

func (f *fixture) env() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	worker.Register(env, f.acts)
	f.in.CreatedAt = env.Now().Truncate(time.Microsecond)
	return env
}

func (f *fixture) balances() db.CreatorBalancesRow {
	f.t.Helper()
	b, err := f.q.CreatorBalances(context.Background(), db.CreatorBalancesParams{AppID: f.in.AppID, CreatorID: f.in.CreatorID})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) checkLedger() {
	f.t.Helper()
	bad, err := ledger.Check(context.Background(), f.q)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, b := range bad {
		f.t.Error("ledger: " + b)
	}
}

// update sends an update at the current test time and returns its outcome.
type outcome struct {
	rejected  error
	completed bool
	result    any
	err       error
}

func sendUpdate(env *testsuite.TestWorkflowEnvironment, name, id string, arg any) *outcome {
	o := &outcome{}
	env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   func(err error) { o.rejected = err },
		OnComplete: func(r any, err error) { o.completed, o.result, o.err = true, r, err },
	}, arg)
	return o
}

func decode[T any](t *testing.T, v any) T {
	t.Helper()
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHoldThenRelease(t *testing.T) {
	f := newFixture(t, 10000)
	env := f.env()
	var rec *outcome
	env.RegisterDelayedCallback(func() {
		rec = sendUpdate(env, workflows.UpdateRecord, "req-1", workflows.RecordRequest{RequestID: "req-1"})
	}, 0)
	env.RegisterDelayedCallback(func() {
		// Day 13: still pending, nothing available yet.
		b := f.balances()
		if b.PendingCents != 2850 || b.AvailableCents != 0 {
			t.Errorf("day 13 balances = %+v, want pending 2850, available 0", b)
		}
	}, 13*day)
	env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)

	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if end, due := env.Now(), f.in.CreatedAt.Add(14*day); end.Before(due) || end.After(due.Add(time.Minute)) {
		t.Errorf("workflow ended at %s, want at the end of the 14-day hold %s", end, due)
	}
	var final conversion.State
	if err := env.GetWorkflowResult(&final); err != nil {
		t.Fatal(err)
	}
	if final.Status != conversion.StatusAvailable {
		t.Errorf("final status %q, want available", final.Status)
	}
	want := commission.Breakdown{AmountCents: 10000, CommissionCents: 3000, PlatformFeeCents: 150, NetCommissionCents: 2850}
	if final.Commission != want {
		t.Errorf("commission %+v, want %+v", final.Commission, want)
	}
	if rec == nil || !rec.completed || rec.err != nil {
		t.Fatalf("record update: %+v", rec)
	}
	reply := decode[workflows.RecordReply](t, rec.result)
	if !reply.Created || reply.Conversion.Commission != want || reply.Conversion.Status != conversion.StatusPending {
		t.Errorf("record reply %+v, want created, pending, %+v", reply, want)
	}
	if b := f.balances(); b.PendingCents != 0 || b.AvailableCents != 2850 {
		t.Errorf("after hold balances = %+v, want pending 0, available 2850", b)
	}
	f.checkLedger()
}

func TestPartialRefundMidHold(t *testing.T) {
	f := newFixture(t, 10000)
	env := f.env()
	var ref *outcome
	env.RegisterDelayedCallback(func() {
		ref = sendUpdate(env, workflows.UpdateRefund, "rf_half", workflows.RefundRequest{RefundID: "rf_half", AmountCents: 5000})
	}, 3*day)
	env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if ref == nil || !ref.completed || ref.err != nil {
		t.Fatalf("refund update: %+v", ref)
	}
	res := decode[conversion.Refunded](t, ref.result)
	want := commission.Breakdown{AmountCents: 5000, CommissionCents: 1500, PlatformFeeCents: 75, NetCommissionCents: 1425}
	if res.Reversed != want || res.Clawback {
		t.Errorf("reversed %+v clawback %v, want %+v from pending", res.Reversed, res.Clawback, want)
	}
	var final conversion.State
	_ = env.GetWorkflowResult(&final)
	if final.Status != conversion.StatusAvailable || final.Refunded != want {
		t.Errorf("final %+v, want available with %+v refunded", final, want)
	}
	if b := f.balances(); b.PendingCents != 0 || b.AvailableCents != 1425 {
		t.Errorf("balances = %+v, want available 1425 (half released)", b)
	}
	f.checkLedger()
}

func TestFullRefundEndsHoldEarly(t *testing.T) {
	f := newFixture(t, 10000)
	env := f.env()
	start := env.Now()
	env.RegisterDelayedCallback(func() {
		sendUpdate(env, workflows.UpdateRefund, "rf_a", workflows.RefundRequest{RefundID: "rf_a", AmountCents: 3333})
	}, 2*day)
	env.RegisterDelayedCallback(func() {
		sendUpdate(env, workflows.UpdateRefund, "rf_b", workflows.RefundRequest{RefundID: "rf_b", AmountCents: 6667})
	}, 3*day)
	env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := env.Now().Sub(start); got >= 4*day {
		t.Errorf("workflow ran %s; a full refund on day 3 should end it then", got)
	}
	var final conversion.State
	_ = env.GetWorkflowResult(&final)
	if final.Status != conversion.StatusRefunded || final.Refunded != final.Commission {
		t.Errorf("final %+v, want refunded with everything reversed", final)
	}
	if b := f.balances(); b != (db.CreatorBalancesRow{}) {
		t.Errorf("balances = %+v, want all zero", b)
	}
	f.checkLedger()
}

func TestOverRefundRejectedBeforeHistory(t *testing.T) {
	f := newFixture(t, 10000)
	env := f.env()
	var first, over *outcome
	env.RegisterDelayedCallback(func() {
		first = sendUpdate(env, workflows.UpdateRefund, "rf_1", workflows.RefundRequest{RefundID: "rf_1", AmountCents: 6000})
	}, day)
	env.RegisterDelayedCallback(func() {
		over = sendUpdate(env, workflows.UpdateRefund, "rf_2", workflows.RefundRequest{RefundID: "rf_2", AmountCents: 4001})
	}, 2*day)
	env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if first.err != nil || first.rejected != nil {
		t.Fatalf("first refund failed: %+v", first)
	}
	var appErr *temporal.ApplicationError
	if over.rejected == nil || !errors.As(over.rejected, &appErr) || appErr.Type() != conversion.ErrTypeOverRefund {
		t.Fatalf("over-refund outcome %+v, want rejected by the validator as OverRefund", over)
	}
	if !strings.Contains(over.rejected.Error(), "4000 cents left") {
		t.Errorf("rejection %q does not say what is left", over.rejected)
	}
	if b := f.balances(); b.AvailableCents != 1140 { // 2850 − 1710 reversed
		t.Errorf("balances = %+v, want available 1140", b)
	}
	f.checkLedger()
}

func TestRefundAfterReleaseIsClawback(t *testing.T) {
	f := newFixture(t, 10000)
	env := f.env()
	env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	// The first run has ended; a refund starts a new run of the same
	// workflow id (UpdateWithStart), which finds the conversion released.
	env2 := f.env()
	var ref, rec *outcome
	env2.RegisterDelayedCallback(func() {
		rec = sendUpdate(env2, workflows.UpdateRecord, "req-2", workflows.RecordRequest{RequestID: "req-2"})
		ref = sendUpdate(env2, workflows.UpdateRefund, "rf_late", workflows.RefundRequest{RefundID: "rf_late", AmountCents: 10000})
	}, 0)
	env2.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
	if err := env2.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if ref == nil || ref.err != nil || ref.rejected != nil {
		t.Fatalf("late refund: %+v", ref)
	}
	res := decode[conversion.Refunded](t, ref.result)
	if !res.Clawback || res.Reversed.NetCommissionCents != 2850 {
		t.Errorf("late refund %+v, want a clawback of 2850", res)
	}
	if reply := decode[workflows.RecordReply](t, rec.result); reply.Created {
		t.Error("a second run told its caller it created the conversion")
	}
	if b := f.balances(); b.AvailableCents != 0 || b.PendingCents != 0 {
		t.Errorf("balances = %+v, want zero after full clawback", b)
	}
	f.checkLedger()
}

// A clawback may take the available balance below zero: the creator was
// paid out or the money is netted against later earnings.
func TestClawbackCanGoNegative(t *testing.T) {
	f := newFixture(t, 10000)
	env := f.env()
	env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
	// Pay the creator out by hand: available → paid.
	ctx := context.Background()
	if err := f.q.InsertTransfer(ctx, db.InsertTransferParams{
		TransferKey: "payout:test", AppID: f.in.AppID, CreatorID: f.in.CreatorID,
		DebitAccount: ledger.CreatorAvailable, CreditAccount: ledger.CreatorPaid, AmountCents: 2850, Kind: "payout",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.acts.RefundConversion(ctx, conversion.RefundInput{RefundID: "rf_x", ConversionID: f.in.ConversionID, AmountCents: 10000}); err != nil {
		t.Fatal(err)
	}
	if b := f.balances(); b.AvailableCents != -2850 || b.PaidCents != 2850 {
		t.Errorf("balances = %+v, want available -2850, paid 2850", b)
	}
}

func TestDuplicateRunCreditsOnce(t *testing.T) {
	f := newFixture(t, 2500)
	for i := 0; i < 2; i++ {
		env := f.env()
		env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
	}
	if b := f.balances(); b.AvailableCents != 712 || b.PendingCents != 0 {
		t.Errorf("balances = %+v, want 712 available once", b)
	}
	// Retrying each activity by hand changes nothing either.
	ctx := context.Background()
	res, err := f.acts.RecordConversion(ctx, f.in)
	if err != nil || res.Inserted {
		t.Fatalf("re-record: inserted=%v err=%v", res.Inserted, err)
	}
	if _, err := f.acts.ReleaseConversion(ctx, f.in.ConversionID); err != nil {
		t.Fatal(err)
	}
	if b := f.balances(); b.AvailableCents != 712 {
		t.Errorf("after retries balances = %+v, want 712", b)
	}
	f.checkLedger()
}

func TestRefundActivityIsIdempotent(t *testing.T) {
	f := newFixture(t, 10000)
	ctx := context.Background()
	if _, err := f.acts.RecordConversion(ctx, f.in); err != nil {
		t.Fatal(err)
	}
	in := conversion.RefundInput{RefundID: "rf_same", ConversionID: f.in.ConversionID, AmountCents: 4000}
	a, err := f.acts.RefundConversion(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.acts.RefundConversion(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if a.Reversed != b.Reversed || b.Conversion.Refunded.AmountCents != 4000 {
		t.Errorf("retry reversed %+v then %+v (refunded %d), want the same refund once", a.Reversed, b.Reversed, b.Conversion.Refunded.AmountCents)
	}
	f.checkLedger()
}

// A workflow whose start set its search attributes (the client does so
// since SearchAttributesAtStart) does not set them again after the record;
// one started before that upserts pending as it always did, so that its
// history replays. Both upsert the release.
func TestSearchAttributesSetAtStartAreNotUpsertedAgain(t *testing.T) {
	for _, atStart := range []bool{false, true} {
		f := newFixture(t, 10000)
		f.in.SearchAttributesAtStart = atStart
		env := f.env()
		var statuses []string
		env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
			sas := args.Get(0).(temporal.SearchAttributes)
			status, _ := sas.GetKeyword(workflows.ConversionStatusKey)
			statuses = append(statuses, status)
		}).Return(nil)
		env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		want := []string{conversion.StatusPending, conversion.StatusAvailable}
		if atStart {
			want = want[1:]
		}
		if !slices.Equal(statuses, want) {
			t.Errorf("set at start %v: upserted statuses %v, want %v", atStart, statuses, want)
		}
	}
}

// A workflow started with ReleaseLocally releases with a local activity in
// the task its timer wakes; one started before releases with a scheduled
// activity, as its history says. Both release once.
func TestReleaseLocallyOrScheduled(t *testing.T) {
	for _, local := range []bool{false, true} {
		f := newFixture(t, 10000)
		f.in.ReleaseLocally = local
		env := f.env()
		var locals, scheduled []string
		env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
			locals = append(locals, info.ActivityType.Name)
		})
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			scheduled = append(scheduled, info.ActivityType.Name)
		})
		env.ExecuteWorkflow(workflows.ConversionWorkflow, f.in)
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		wantLocal, wantScheduled := []string{"RecordConversion"}, []string{"ReleaseConversion"}
		if local {
			wantLocal, wantScheduled = []string{"RecordConversion", "ReleaseConversion"}, nil
		}
		if !slices.Equal(locals, wantLocal) || !slices.Equal(scheduled, wantScheduled) {
			t.Errorf("release locally %v: local activities %v, scheduled %v; want %v and %v", local, locals, scheduled, wantLocal, wantScheduled)
		}
		if b := f.balances(); b.PendingCents != 0 || b.AvailableCents != 2850 {
			t.Errorf("release locally %v: balances %+v, want 2850 available", local, b)
		}
		f.checkLedger()
	}
}
