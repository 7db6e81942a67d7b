package workflows_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/worker"
	"github.com/agentlinks/agentlinks/workflows"
)

// payoutFixture is a Stripe program whose two creators have 2850 each
// available and ready payout accounts, with the real activities on its own
// database and the bank double as Stripe.
type payoutFixture struct {
	acts  *activities.Activities
	q     *db.Queries
	bank  *testenv.StripeBank
	appID string
}

func newPayoutFixture(t *testing.T) payoutFixture {
	t.Helper()
	ctx := context.Background()
	d := testenv.DB(t)
	app, ens := testenv.Program(t, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: 0}, "a@example.com", "b@example.com")
	bank := testenv.NewStripeBank(http.NotFoundHandler())
	srv := httptest.NewServer(bank)
	t.Cleanup(srv.Close)
	acts := activities.New(d.Pool)
	acts.Stripe = stripeapi.New(config.Stripe{SecretKey: "sk_test_wf", APIBase: srv.URL})
	for i, en := range ens {
		id := fmt.Sprintf("cv_p%d", i)
		if _, err := acts.RecordConversion(ctx, conversion.Input{ConversionID: id, AppID: app.App.ID, RefCode: en.RefCode, CreatorID: en.CreatorID,
			UserID: "u", AmountCents: 10000, Currency: "usd", CommissionBPS: 3000, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := acts.ReleaseConversion(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, "UPDATE creators SET payout_account_id = $1, transfers_active = true WHERE id = $2",
			fmt.Sprintf("acct_wf%d", i), en.CreatorID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, "UPDATE apps SET stripe_customer_id = 'cus_wf', payment_method_id = 'pm_card_visa', min_payout_cents = 1000 WHERE id = $1", app.App.ID); err != nil {
		t.Fatal(err)
	}
	return payoutFixture{acts: acts, q: db.New(d.Pool), bank: bank, appID: app.App.ID}
}

func (f payoutFixture) env(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	worker.Register(env, f.acts)
	return env
}

// update sends the owner's decision at a moment of the run, and reports
// whether the run took it.
func update(env *testsuite.TestWorkflowEnvironment, after time.Duration, name, id string, accepted *bool, rejected *error) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept:   func() { *accepted = true },
			OnReject:   func(err error) { *rejected = err },
			OnComplete: func(any, error) {},
		}, payout.Decision{By: "owner@example.com", Reason: "a test"})
	}, after)
}

func TestPayoutRunWaitsForTheOwnerThenPays(t *testing.T) {
	f := newPayoutFixture(t)
	env := f.env(t)
	var accepted bool
	var rejected error
	// The owner confirms two days after the run reserved.
	update(env, 48*time.Hour, payout.UpdateConfirm, "confirm-1", &accepted, &rejected)
	env.ExecuteWorkflow(workflows.PayoutRunWorkflow, payout.RunInput{RunID: "payout-run-wf-1", AppID: f.appID, Trigger: payout.TriggerOwner})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("run: %v", env.GetWorkflowError())
	}
	var res payout.RunResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != payout.RunCompleted || res.Paid != 2 || !accepted {
		t.Fatalf("result %+v %v (confirm accepted %t, %v)", res, err, accepted, rejected)
	}
	if n := len(f.bank.Charges()); n != 1 || f.bank.Charges()[0].AmountCents != 6000 {
		t.Fatalf("charges %+v", f.bank.Charges())
	}
	if n := len(f.bank.Transfers()); n != 2 {
		t.Fatalf("transfers %+v", f.bank.Transfers())
	}
	run, _ := f.q.GetPayoutRun(context.Background(), "payout-run-wf-1")
	if run.ConfirmedBy == nil || *run.ConfirmedBy != "owner@example.com" || run.ConfirmedAt == nil {
		t.Fatalf("the run records who confirmed: %+v", run)
	}
	if bad, err := ledger.Check(context.Background(), f.q); err != nil || len(bad) > 0 {
		t.Fatalf("ledger: %v %v", err, bad)
	}
}

func TestPayoutRunCanceledReturnsEveryReservation(t *testing.T) {
	f := newPayoutFixture(t)
	env := f.env(t)
	var canceled bool
	var cancelErr error
	update(env, time.Hour, payout.UpdateCancel, "cancel-1", &canceled, &cancelErr)
	env.ExecuteWorkflow(workflows.PayoutRunWorkflow, payout.RunInput{RunID: "payout-run-wf-2", AppID: f.appID, Trigger: payout.TriggerOwner})
	var res payout.RunResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != payout.RunCanceled || !canceled || !strings.Contains(res.Reason, "a test") {
		t.Fatalf("result %+v %v (cancel accepted %t, %v)", res, err, canceled, cancelErr)
	}
	if len(f.bank.Charges())+len(f.bank.Transfers()) != 0 {
		t.Fatal("a canceled run charged or paid")
	}
	ps, _ := f.q.RunPayouts(context.Background(), "payout-run-wf-2")
	for _, p := range ps {
		if p.Payout.Status != payout.StatusFailed || !strings.Contains(p.Payout.FailureReason, "canceled by the owner") {
			t.Fatalf("payout %+v", p.Payout)
		}
	}
	if bad, err := ledger.Check(context.Background(), f.q); err != nil || len(bad) > 0 {
		t.Fatalf("ledger: %v %v", err, bad)
	}
}

func TestPayoutRunSecondDecisionIsRejected(t *testing.T) {
	f := newPayoutFixture(t)
	env := f.env(t)
	var first, second bool
	var firstErr, secondErr error
	// Two owners confirm at once: the run takes one, rejects the other.
	update(env, time.Hour, payout.UpdateConfirm, "confirm-a", &first, &firstErr)
	update(env, time.Hour, payout.UpdateCancel, "cancel-b", &second, &secondErr)
	env.ExecuteWorkflow(workflows.PayoutRunWorkflow, payout.RunInput{RunID: "payout-run-wf-3", AppID: f.appID, Trigger: payout.TriggerOwner})
	var res payout.RunResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != payout.RunCompleted {
		t.Fatalf("result %+v %v", res, err)
	}
	if !first || second || secondErr == nil || !strings.Contains(secondErr.Error(), "already confirmed") {
		t.Fatalf("first accepted %t (%v); second accepted %t (%v)", first, firstErr, second, secondErr)
	}
}

func TestPayoutRunDeclinedChargeReturnsEverything(t *testing.T) {
	f := newPayoutFixture(t)
	f.bank.Decline("cus_wf", "expired_card")
	if _, err := f.q.SetAppPayouts(context.Background(), db.SetAppPayoutsParams{ID: f.appID, PayoutMode: payout.ModeStripe,
		PayoutAutoConfirm: true, MinPayoutCents: 1000}); err != nil {
		t.Fatal(err)
	}
	env := f.env(t)
	env.ExecuteWorkflow(workflows.PayoutRunWorkflow, payout.RunInput{RunID: "payout-run-wf-4", AppID: f.appID, Trigger: payout.TriggerSchedule})
	var res payout.RunResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != payout.RunFailed || !strings.Contains(res.Reason, "expired_card") {
		t.Fatalf("result %+v %v", res, err)
	}
	for _, cr := range []string{"a@example.com", "b@example.com"} {
		c, _ := f.q.GetCreatorByEmail(context.Background(), cr)
		b, _ := f.q.GetCreatorBalance(context.Background(), db.GetCreatorBalanceParams{AppID: f.appID, CreatorID: c.ID})
		if b.AvailableCents != 2850 || b.InPayoutCents != 0 {
			t.Fatalf("%s after the declined charge: %+v", cr, b)
		}
	}
}
