package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/service"
)

// platformEvent is an event of the platform account itself (no account).
func platformEvent(typ string, object map[string]any) ([]byte, string) {
	id := fmt.Sprintf("evt_p%d_%d", time.Now().UnixNano(), eventSeq.Add(1))
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "api_version": "2023-10-16",
		"created": time.Now().Unix(), "livemode": false, "data": map[string]any{"object": object}})
	return b, id
}

func TestTransferReversedMovesThePayoutBackToAvailable(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000, 10000)
	run := p.confirm(t, p.awaiting(t).ID)
	po := run.Payouts[0]
	i := 0
	if po.CreatorID != p.creators[0].CreatorID {
		i = 1
	}
	reversed := map[string]any{"id": po.TransferID, "object": "transfer", "amount": po.AmountCents, "amount_reversed": po.AmountCents,
		"reversed": true, "destination": p.accounts[i], "currency": "usd"}
	payload, id := platformEvent("transfer.reversed", reversed)
	// Signed with the Connect endpoint's secret it is not the platform's.
	if a := deliver(t, payload, "whsec_wrong"); a.status != 400 {
		t.Fatalf("badly signed: %d %s", a.status, a.raw)
	}
	if a := deliver(t, payload, platformWebhookSecret); a.status != 200 {
		t.Fatalf("delivery: %d %s", a.status, a.raw)
	}
	if ev := settled(t, id); ev.Status != "processed" || !strings.Contains(ev.Note, "reversed") {
		t.Fatalf("event %s: %s", ev.Status, ev.Note)
	}
	if b := p.balance(t, i); b.AvailableCents != 2850 || b.PaidCents != 0 {
		t.Fatalf("after the reversal: %+v", b)
	}
	// The same reversal told again (a new event id) moves nothing twice.
	payload, id = platformEvent("transfer.reversed", reversed)
	deliver(t, payload, platformWebhookSecret)
	settled(t, id)
	if b := p.balance(t, i); b.AvailableCents != 2850 || b.PaidCents != 0 {
		t.Fatalf("after the second reversal event: %+v", b)
	}
	got, err := svc.PayoutRun(context.Background(), p.appID, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range got.Payouts {
		if q.ID == po.ID && (q.Status != payout.StatusReversed || q.ReversedAt == nil || !strings.Contains(q.FailureReason, po.TransferID)) {
			t.Fatalf("reversed payout %+v", q)
		}
	}
	// A partial reversal is parked for an operator, and moves nothing.
	other := run.Payouts[1]
	payload, id = platformEvent("transfer.reversed", map[string]any{"id": other.TransferID, "object": "transfer",
		"amount": other.AmountCents, "amount_reversed": 100, "reversed": false})
	deliver(t, payload, platformWebhookSecret)
	if ev := settled(t, id); ev.Status != "parked" || !strings.Contains(ev.Note, "partly reversed") {
		t.Fatalf("partial reversal %s: %s", ev.Status, ev.Note)
	}
	if b := p.balance(t, 1-i); b.PaidCents != 2850 {
		t.Fatalf("partial reversal moved money: %+v", b)
	}
	booksBalance(t)
	// The reversed money is paid again by the next run, from the app's credit.
	run = p.confirm(t, p.awaiting(t).ID)
	if run.Status != payout.RunCompleted || run.ChargeCents != 0 || run.CreditCents != 3000 {
		t.Fatalf("run after the reversal: %s charge %d credit %d", run.Status, run.ChargeCents, run.CreditCents)
	}
	booksBalance(t)
}

func TestAccountUpdatedKeepsThePayoutAccountState(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000)
	ctx := context.Background()
	acct := "acct_new" + strings.TrimPrefix(p.creators[0].CreatorID, "cr_")
	// A creator whose account is not finished cannot be paid.
	q := db.New(database.Pool)
	if _, err := database.Pool.Exec(ctx, "UPDATE creators SET payout_account_id = NULL WHERE id = $1", p.creators[0].CreatorID); err != nil {
		t.Fatal(err)
	}
	bank.Account(acct, false, false, "external_account", "tos_acceptance.date")
	if err := svc.SetCreatorPayoutAccount(ctx, p.creators[0].CreatorID, acct); err != nil {
		t.Fatal(err)
	}
	run := p.awaiting(t)
	if run.Status != payout.RunEmpty || len(run.Skipped) != 1 || !strings.Contains(run.Skipped[0].Reason, "no payout account") {
		t.Fatalf("run with an unfinished account: %s %+v", run.Status, run.Skipped)
	}
	event := func(created time.Time, ready bool, due ...string) string {
		caps := "inactive"
		if ready {
			caps = "active"
		}
		id := fmt.Sprintf("evt_a%d_%d", time.Now().UnixNano(), eventSeq.Add(1))
		b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": "account.updated", "account": acct, "api_version": "2025-03-31.basil",
			"created": created.Unix(), "data": map[string]any{"object": map[string]any{"id": acct, "object": "account", "payouts_enabled": ready,
				"details_submitted": ready, "capabilities": map[string]any{"transfers": caps},
				"requirements": map[string]any{"currently_due": append([]string{}, due...)}}}})
		if a := deliver(t, b, webhookSecret); a.status != 200 {
			t.Fatalf("delivery %d %s", a.status, a.raw)
		}
		return id
	}
	now := time.Now()
	if ev := settled(t, event(now.Add(time.Minute), true)); ev.Status != "processed" {
		t.Fatalf("account.updated: %s %s", ev.Status, ev.Note)
	}
	// An older event arriving late does not undo the newer state.
	settled(t, event(now.Add(-time.Hour), false, "external_account"))
	cr, err := q.GetCreator(ctx, p.creators[0].CreatorID)
	if err != nil {
		t.Fatal(err)
	}
	if !cr.PayoutsEnabled || !cr.TransfersActive || len(cr.RequirementsDue) != 0 {
		t.Fatalf("creator's account state: enabled %t transfers %t due %v", cr.PayoutsEnabled, cr.TransfersActive, cr.RequirementsDue)
	}
	if run := p.confirm(t, p.awaiting(t).ID); run.Status != payout.RunCompleted || len(p.transfersTo(acct)) != 1 {
		t.Fatalf("run once the account is ready: %s, %d transfers", run.Status, len(p.transfersTo(acct)))
	}
}

func TestCashOutRacingTheScheduledRunPaysOnce(t *testing.T) {
	ctx := context.Background()
	p := newPayoutProgram(t, payout.ModeStripe, 0)
	// The creator has an account to sign in with.
	en := p.creators[0]
	email := fmt.Sprintf("cash-%d@example.com", time.Now().UnixNano())
	acct, err := svc.CreateAccount(ctx, email, "a long enough password", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := database.Pool.Exec(ctx, "UPDATE creators SET user_id = $1 WHERE id = $2", acct.ID, en.CreatorID); err != nil {
		t.Fatal(err)
	}
	p.earn(t, 0, 10000)
	if _, err := svc.SetPayoutSettings(ctx, p.appID, service.PayoutSettings{Mode: payout.ModeStripe, Schedule: "every:14", MinPayoutCents: 1000, AutoConfirm: true}); err != nil {
		t.Fatal(err)
	}
	next, err := svc.NextPayouts(ctx, p.appID)
	if err != nil || len(next) == 0 || next[0].Before(time.Now()) {
		t.Fatalf("the schedule's next runs: %v %v", next, err)
	}
	// The creator's dashboard computes it without asking Temporal: the same time.
	if mine := (payout.Schedule{EveryDays: 14}).Next(time.Now()); !mine.Equal(next[0]) {
		t.Fatalf("Schedule.Next says %s, Temporal %s", mine, next[0])
	}
	// The schedule fires while the creator asks to cash out.
	var wg sync.WaitGroup
	var cashErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		cashErr = temporalClient.ScheduleClient().GetHandle(ctx, payout.ScheduleID(p.appID)).Trigger(ctx, client.ScheduleTriggerOptions{})
	}()
	var requestID string
	go func() {
		defer wg.Done()
		requestID, err = svc.RequestCashOut(ctx, acct.ID, p.appID)
	}()
	wg.Wait()
	if cashErr != nil || err != nil {
		t.Fatalf("trigger %v, cash out %v", cashErr, err)
	}
	testenv.Eventually(t, 30*time.Second, "both runs ended", func() bool {
		runs, _ := svc.PayoutRuns(ctx, p.appID, 10)
		done := 0
		for _, r := range runs {
			if r.Status == payout.RunCompleted || r.Status == payout.RunEmpty {
				done++
			}
		}
		return done == 2 && len(runs) == 2
	})
	runs, _ := svc.PayoutRuns(ctx, p.appID, 10)
	scheduled := 0
	for _, r := range runs {
		if strings.HasPrefix(r.ID, payout.RunWorkflowID(p.appID, "scheduled")) && r.Trigger == payout.TriggerSchedule {
			scheduled++
		}
	}
	if scheduled != 1 || !strings.Contains(requestID, "request-") {
		t.Fatalf("runs %v; request %s", runs, requestID)
	}
	if b := p.balance(t, 0); b.PaidCents != 2850 || b.AvailableCents != 0 || len(p.transfersTo(p.accounts[0])) != 1 {
		t.Fatalf("after both runs: %+v, %d transfers", b, len(p.transfersTo(p.accounts[0])))
	}
	// Nothing left: a second cash-out is refused with the reason.
	if _, err := svc.RequestCashOut(ctx, acct.ID, p.appID); err == nil || !strings.Contains(err.Error(), "nothing is available") {
		t.Fatalf("second cash out: %v", err)
	}
	if _, err := svc.SetPayoutSettings(ctx, p.appID, service.PayoutSettings{Mode: payout.ModeStripe, Schedule: "monthly:15"}); err != nil {
		t.Fatal(err)
	}
	if next, err := svc.NextPayouts(ctx, p.appID); err != nil || len(next) == 0 || !next[0].Equal((payout.Schedule{MonthDay: 15}).Next(time.Now())) {
		t.Fatalf("monthly on the 15th: Temporal says %v (%v), Schedule.Next %s", next, err, (payout.Schedule{MonthDay: 15}).Next(time.Now()))
	}
	if _, err := svc.SetPayoutSettings(ctx, p.appID, service.PayoutSettings{Mode: payout.ModeStripe, Schedule: "monthly:40"}); err == nil {
		t.Fatal("a schedule on day 40 was taken")
	}
	if _, err := svc.SetPayoutSettings(ctx, p.appID, service.PayoutSettings{Mode: payout.ModeStripe, Schedule: ""}); err != nil {
		t.Fatal(err)
	}
	if next, err := svc.NextPayouts(ctx, p.appID); err != nil || len(next) != 0 {
		t.Fatalf("after the schedule is off: %v %v", next, err)
	}
	booksBalance(t)
}

func TestManualPayoutsAreMarkedByTheOwner(t *testing.T) {
	ctx := context.Background()
	p := newPayoutProgram(t, payout.ModeManual, 10000, 20000)
	run := p.confirm(t, p.awaiting(t).ID)
	if run.Status != payout.RunAwaitingPayment || run.FeeCents != 450 || len(run.Payouts) != 2 {
		t.Fatalf("manual run %s fee %d: %+v", run.Status, run.FeeCents, run.Payouts)
	}
	if len(p.charges()) != 0 || len(bank.Transfers()) > 0 && len(p.transfersTo(p.accounts[0])) != 0 {
		t.Fatal("a manual run charged or transferred")
	}
	first, second := run.Payouts[0], run.Payouts[1]
	if _, err := svc.MarkPayout(ctx, p.appID, first.ID, false, ""); err == nil || !strings.Contains(err.Error(), "say why") {
		t.Fatalf("failed without a reason: %v", err)
	}
	if _, err := svc.MarkPayout(ctx, "app_other", first.ID, true, "x"); err == nil || !strings.Contains(err.Error(), "no payout") {
		t.Fatalf("another app's payout: %v", err)
	}
	paid, err := svc.MarkPayout(ctx, p.appID, first.ID, true, "wire 0042")
	if err != nil || paid.Status != payout.StatusPaid || paid.Reference != "wire 0042" {
		t.Fatalf("mark paid: %+v %v", paid, err)
	}
	if again, err := svc.MarkPayout(ctx, p.appID, first.ID, true, "wire 0042"); err != nil || again.Status != payout.StatusPaid {
		t.Fatalf("mark paid twice: %v", err)
	}
	if _, err := svc.MarkPayout(ctx, p.appID, first.ID, false, "bounced"); err == nil || !strings.Contains(err.Error(), "cannot become failed") {
		t.Fatalf("fail a paid payout: %v", err)
	}
	if _, err := svc.MarkPayout(ctx, p.appID, second.ID, false, "no bank details"); err != nil {
		t.Fatal(err)
	}
	got, err := svc.PayoutRun(ctx, p.appID, run.ID)
	if err != nil || got.Status != payout.RunCompleted {
		t.Fatalf("run after marking: %s %v", got.Status, err)
	}
	for i, en := range p.creators {
		b := p.balance(t, i)
		want := service.Balance{PaidCents: first.AmountCents}
		if en.CreatorID == second.CreatorID {
			want = service.Balance{AvailableCents: second.AmountCents}
		} else if en.CreatorID != first.CreatorID {
			t.Fatal("creator in no payout")
		}
		if b != want {
			t.Fatalf("creator %d: %+v, want %+v", i, b, want)
		}
	}
	// A Stripe run's payouts are never marked by hand.
	sp := newPayoutProgram(t, payout.ModeStripe, 10000)
	srun := sp.awaiting(t)
	if _, err := svc.MarkPayout(ctx, sp.appID, srun.Payouts[0].ID, true, "x"); err == nil || !strings.Contains(err.Error(), "through Stripe") {
		t.Fatalf("mark a stripe payout: %v", err)
	}
	if err := svc.DecidePayoutRun(ctx, sp.appID, srun.ID, false, payout.Decision{By: "owner", Reason: "wrong month"}); err != nil {
		t.Fatal(err)
	}
	canceled, _ := svc.WaitPayoutRun(ctx, sp.appID, srun.ID)
	if canceled.Status != payout.RunCanceled || !strings.Contains(canceled.Payouts[0].FailureReason, "wrong month") || sp.balance(t, 0).AvailableCents != 2850 {
		t.Fatalf("canceled run %s %+v", canceled.Status, canceled.Payouts)
	}
	if err := svc.DecidePayoutRun(ctx, sp.appID, srun.ID, true, payout.Decision{By: "owner"}); err == nil || !strings.Contains(err.Error(), "payout_run_decided") {
		t.Fatalf("confirm a canceled run: %v", err)
	}
	booksBalance(t)
}

func TestPayoutsAPI(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000)
	ref := p.creators[0].RefCode
	a := call(t, "POST", "/api/payouts/runs", p.key, nil)
	if a.status != 202 || !strings.HasPrefix(a.str("run_id"), "payout-run-"+p.appID) {
		t.Fatalf("start a run: %d %s", a.status, a.raw)
	}
	runID := a.str("run_id")
	p.waitStatus(t, runID, payout.RunAwaitingConfirmation)
	if b := call(t, "GET", "/api/creators/"+ref+"/balance", p.key, nil); b.num("in_payout_cents") != 2850 || b.num("available_cents") != 0 {
		t.Fatalf("balance while in payout: %s", b.raw)
	}
	p.confirm(t, runID)
	a = call(t, "GET", "/api/payouts?ref="+ref, p.key, nil)
	list, _ := a.body["payouts"].([]any)
	if a.status != 200 || len(list) != 1 {
		t.Fatalf("payouts: %d %s", a.status, a.raw)
	}
	po := list[0].(map[string]any)
	if po["status"] != "paid" || po["amount_cents"].(float64) != 2850 || po["run_id"] != runID || po["paid_at"] == nil {
		t.Fatalf("payout %v", po)
	}
	r := call(t, "GET", "/api/payouts/runs/"+runID, p.key, nil)
	if r.status != 200 || r.str("status") != "completed" || r.num("charge_cents") != 3000 || r.num("fee_cents") != 150 {
		t.Fatalf("run: %s", r.raw)
	}
	other := newProgram(t)
	expect(t, call(t, "GET", "/api/payouts/runs/"+runID, other.key, nil), 404, "payout_run_not_found")
	expect(t, call(t, "GET", "/api/payouts?ref="+ref, other.key, nil), 404, "unknown_ref")
	expect(t, call(t, "GET", "/api/payouts", "", nil), 401, "missing_api_key")
	if b := call(t, "GET", "/api/payouts", p.key, nil); len(b.body["payouts"].([]any)) != 1 {
		t.Fatalf("program payouts: %s", b.raw)
	}
}
