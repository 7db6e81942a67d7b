package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/service"
)

// payoutProgram is an app paying through Stripe, its creators with ready
// payout accounts, and what each earned (released at once: no hold).
type payoutProgram struct {
	appID, key string
	creators   []programs.Enrollment
	accounts   []string // each creator's Express account
	customer   string
}

func newPayoutProgram(t *testing.T, mode string, earnings ...int64) payoutProgram {
	t.Helper()
	ctx := context.Background()
	name := strings.ReplaceAll(t.Name(), "/", "-")
	emails := make([]string, len(earnings))
	for i := range earnings {
		emails[i] = fmt.Sprintf("c%d-%s-%d@example.com", i, strings.ToLower(name), time.Now().UnixNano())
	}
	app, ens := testenv.Program(t, database.Pool, programs.NewApp{Name: "Payouts", CommissionBPS: 3000, Hold: 0}, emails...)
	p := payoutProgram{appID: app.App.ID, key: app.SecretKey, creators: ens, customer: "cus_" + app.App.ID}
	if _, err := svc.SetPayoutSettings(ctx, p.appID, service.PayoutSettings{Mode: mode, MinPayoutCents: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetPaymentMethod(ctx, p.appID, p.customer, "pm_card_visa", "visa •••• 4242"); err != nil {
		t.Fatal(err)
	}
	for i, en := range ens {
		acct := "acct_" + strings.TrimPrefix(en.CreatorID, "cr_")
		bank.Account(acct, true, true)
		if err := svc.SetCreatorPayoutAccount(ctx, en.CreatorID, acct); err != nil {
			t.Fatal(err)
		}
		p.accounts = append(p.accounts, acct)
		if earnings[i] > 0 {
			p.earn(t, i, earnings[i])
		}
	}
	return p
}

// earn records a sale of the creator's and waits for its release.
func (p payoutProgram) earn(t *testing.T, i int, amount int64) {
	t.Helper()
	before := p.balance(t, i)
	a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.creators[i].RefCode, "user_id": fmt.Sprintf("u%d-%d", i, time.Now().UnixNano()), "amount_cents": amount})
	if a.status != 201 {
		t.Fatalf("conversion: %d %s", a.status, a.raw)
	}
	net := a.num("commission", "net_commission_cents")
	testenv.Eventually(t, 20*time.Second, "conversion released", func() bool { return p.balance(t, i).AvailableCents == before.AvailableCents+net })
}

func (p payoutProgram) balance(t *testing.T, i int) service.Balance {
	t.Helper()
	b, err := svc.Balance(context.Background(), p.appID, p.creators[i].RefCode)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// awaiting starts a run and waits for it to reserve and ask the owner.
func (p payoutProgram) awaiting(t *testing.T) service.Run {
	t.Helper()
	id, err := svc.StartPayoutRun(context.Background(), p.appID, payout.TriggerOwner)
	if err != nil {
		t.Fatal(err)
	}
	return p.waitStatus(t, id, payout.RunAwaitingConfirmation, payout.RunEmpty)
}

func (p payoutProgram) waitStatus(t *testing.T, runID string, statuses ...string) service.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, err := svc.PayoutRun(context.Background(), p.appID, runID)
		for _, s := range statuses {
			if err == nil && run.Status == s {
				return run
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s (%v), not %s, after 30s%s", runID, run.Status, err, strings.Join(statuses, " or "), workflowTrouble(runID))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// workflowTrouble says what a workflow is stuck on, for a failure message.
func workflowTrouble(id string) string {
	d, err := temporalClient.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		return " (" + err.Error() + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, " (workflow %s", d.WorkflowExecutionInfo.Status)
	for _, a := range d.PendingActivities {
		fmt.Fprintf(&b, "; activity %s attempt %d: %s", a.ActivityType.GetName(), a.Attempt, a.LastFailure.GetMessage())
	}
	return b.String() + ")"
}

func (p payoutProgram) confirm(t *testing.T, runID string) service.Run {
	t.Helper()
	ctx := context.Background()
	if err := svc.DecidePayoutRun(ctx, p.appID, runID, true, payout.Decision{By: "owner@example.com"}); err != nil {
		t.Fatal(err)
	}
	run, err := svc.WaitPayoutRun(ctx, p.appID, runID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func booksBalance(t *testing.T) {
	t.Helper()
	bad, err := ledger.Check(context.Background(), db.New(database.Pool))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("the books do not balance:\n%s", strings.Join(bad, "\n"))
	}
}

func (p payoutProgram) transfersTo(acct string) []testenv.BankCall {
	var out []testenv.BankCall
	for _, tr := range bank.Transfers() {
		if tr.Party == acct {
			out = append(out, tr)
		}
	}
	return out
}

func (p payoutProgram) charges() []testenv.BankCall {
	var out []testenv.BankCall
	for _, c := range bank.Charges() {
		if c.Party == p.customer {
			out = append(out, c)
		}
	}
	return out
}

func TestPayoutRunFundsAndPaysThreeCreators(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000, 20000, 33333)
	p.earn(t, 0, 5000) // two conversions: the payout carries both
	run := p.awaiting(t)
	if len(run.Payouts) != 3 {
		t.Fatalf("run reserved %d payouts, want 3: %+v", len(run.Payouts), run)
	}
	// Reserved, not yet paid: the money is in payout, nothing available.
	wantNet := []int64{2850 + 1425, 5700, 9500}
	for i := range p.creators {
		if b := p.balance(t, i); b.AvailableCents != 0 || b.InPayoutCents != wantNet[i] || b.PaidCents != 0 {
			t.Fatalf("creator %d while awaiting: %+v, want %d in payout", i, b, wantNet[i])
		}
	}
	if n := len(p.charges()); n != 0 {
		t.Fatalf("charged %d times before the owner confirmed", n)
	}
	booksBalance(t)

	run = p.confirm(t, run.ID)
	if run.Status != payout.RunCompleted {
		t.Fatalf("run ended %s (%s)", run.Status, run.FailureReason)
	}
	var net, fee int64
	for i := range p.creators {
		b := p.balance(t, i)
		if b.AvailableCents != 0 || b.InPayoutCents != 0 || b.PaidCents != wantNet[i] {
			t.Fatalf("creator %d after the run: %+v, want %d paid", i, b, wantNet[i])
		}
		trs := p.transfersTo(p.accounts[i])
		if len(trs) != 1 || trs[0].AmountCents != wantNet[i] || trs[0].Group != run.ID || !strings.HasPrefix(trs[0].Key, "payout-po_") {
			t.Fatalf("creator %d transfers: %+v", i, trs)
		}
	}
	for _, po := range run.Payouts {
		if po.Status != payout.StatusPaid || po.TransferID == "" || po.PaidAt == nil {
			t.Fatalf("payout %+v", po)
		}
		net += po.AmountCents
		fee += po.FeeCents
	}
	// The commission was 30%: 15000 → 4500 (225 fee), 20000 → 6000 (300),
	// 33333 → 10000 (500). The app pays every cent of it, once.
	if net != 19475 || fee != 1025 {
		t.Fatalf("net %d fee %d, want 19475 and 1025", net, fee)
	}
	ch := p.charges()
	if len(ch) != 1 || ch[0].AmountCents != net+fee || ch[0].Key != "charge-"+run.ID {
		t.Fatalf("charges %+v, want one of %d", ch, net+fee)
	}
	if run.ChargeCents != net+fee || run.PaymentIntentID == nil || *run.PaymentIntentID != ch[0].ID {
		t.Fatalf("run %+v", run.PayoutRun)
	}
	booksBalance(t)
}

func TestTwoRunsAtOnceReserveEachCentOnce(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000, 10000)
	ctx := context.Background()
	ids := make([]string, 6)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := svc.StartPayoutRun(ctx, p.appID, payout.TriggerOperator)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	reserved := map[string]int64{}
	for _, id := range ids {
		run := p.waitStatus(t, id, payout.RunAwaitingConfirmation, payout.RunEmpty)
		for _, po := range run.Payouts {
			reserved[po.CreatorID] += po.AmountCents
		}
		if run.Status == payout.RunEmpty {
			continue
		}
		if run = p.confirm(t, id); run.Status != payout.RunCompleted {
			t.Fatalf("run %s ended %s", id, run.Status)
		}
	}
	for i, en := range p.creators {
		if reserved[en.CreatorID] != 2850 {
			t.Fatalf("creator %d was reserved %d in all, want 2850 once", i, reserved[en.CreatorID])
		}
		if b := p.balance(t, i); b.PaidCents != 2850 || b.AvailableCents != 0 || len(p.transfersTo(p.accounts[i])) != 1 {
			t.Fatalf("creator %d: %+v, %d transfers", i, b, len(p.transfersTo(p.accounts[i])))
		}
	}
	if n := len(p.charges()); n != 1 {
		t.Fatalf("the app was charged %d times, want once", n)
	}
	booksBalance(t)
}

func TestDeclinedChargeReturnsEveryReservation(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000, 20000)
	bank.Decline(p.customer, "insufficient_funds")
	run := p.confirm(t, p.awaiting(t).ID)
	if run.Status != payout.RunFailed || !strings.Contains(run.FailureReason, "declined") {
		t.Fatalf("run %s: %q", run.Status, run.FailureReason)
	}
	for i, want := range []int64{2850, 5700} {
		if b := p.balance(t, i); b.AvailableCents != want || b.InPayoutCents != 0 || b.PaidCents != 0 {
			t.Fatalf("creator %d: %+v, want %d back in available", i, b, want)
		}
		if n := len(p.transfersTo(p.accounts[i])); n != 0 {
			t.Fatalf("creator %d got %d transfers from a declined run", i, n)
		}
	}
	for _, po := range run.Payouts {
		if po.Status != payout.StatusFailed || !strings.Contains(po.FailureReason, "declined") {
			t.Fatalf("payout %+v", po)
		}
	}
	booksBalance(t)
}

func TestRefusedTransferReturnsThatCreatorsAmountAndPaysTheOthers(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 10000, 20000)
	bank.Refuse(p.accounts[1], "Your destination account needs to have at least one of the following capabilities enabled: transfers")
	bank.Short(p.accounts[0], 2) // balance_insufficient twice: waits, then pays
	run := p.confirm(t, p.awaiting(t).ID)
	if run.Status != payout.RunCompleted {
		t.Fatalf("run %s", run.Status)
	}
	if b := p.balance(t, 0); b.PaidCents != 2850 || b.AvailableCents != 0 {
		t.Fatalf("creator 0 (balance short twice): %+v", p.balance(t, 0))
	}
	trs := p.transfersTo(p.accounts[0])
	if len(trs) != 1 || !strings.HasSuffix(trs[0].Key, "-2") {
		t.Fatalf("creator 0 transfers %+v: one, under the key of the third try", trs)
	}
	if b := p.balance(t, 1); b.AvailableCents != 5700 || b.PaidCents != 0 || b.InPayoutCents != 0 {
		t.Fatalf("creator 1 (refused): %+v", b)
	}
	for _, po := range run.Payouts {
		if po.CreatorID == p.creators[1].CreatorID && (po.Status != payout.StatusFailed || !strings.Contains(po.FailureReason, "capabilities")) {
			t.Fatalf("refused payout %+v", po)
		}
	}
	booksBalance(t)
	// What the app paid for creator 1 is held as credit: the next run pays
	// them without charging the app again for the same money.
	bank.Allow(p.accounts[1])
	run = p.confirm(t, p.awaiting(t).ID)
	if run.Status != payout.RunCompleted || run.CreditCents != 6000 || run.ChargeCents != 0 {
		t.Fatalf("second run %s: credit %d charge %d, want 6000 credit and no charge", run.Status, run.CreditCents, run.ChargeCents)
	}
	if b := p.balance(t, 1); b.PaidCents != 5700 || b.AvailableCents != 0 {
		t.Fatalf("creator 1 after the second run: %+v", b)
	}
	if n := len(p.charges()); n != 1 {
		t.Fatalf("the app was charged %d times, want once", n)
	}
	booksBalance(t)
}

func TestBelowMinimumAndClawbackDebtAreRefusedWithTheReason(t *testing.T) {
	p := newPayoutProgram(t, payout.ModeStripe, 1000, 10000)
	// Creator 1 is paid, then the sale is refunded: a clawback debt.
	run := p.confirm(t, p.awaiting(t).ID)
	if len(run.Payouts) != 1 || run.Skipped[0].CreatorID != p.creators[0].CreatorID || !strings.Contains(run.Skipped[0].Reason, "below the program's minimum payout of 10.00") {
		t.Fatalf("run %+v skipped %+v", run.Payouts, run.Skipped)
	}
	a := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.creators[1].RefCode, "amount_cents": 10000})
	if a.status != 200 {
		t.Fatalf("refund %d %s", a.status, a.raw)
	}
	if b := p.balance(t, 1); b.AvailableCents != -2850 || b.PaidCents != 2850 {
		t.Fatalf("creator 1 after the clawback: %+v", b)
	}
	run = p.awaiting(t)
	if run.Status != payout.RunEmpty || len(run.Skipped) != 2 {
		t.Fatalf("second run %s %+v", run.Status, run.Skipped)
	}
	for _, s := range run.Skipped {
		if s.CreatorID == p.creators[1].CreatorID && !strings.Contains(s.Reason, "clawback of 28.50 is owed back first") {
			t.Fatalf("clawback reason %q", s.Reason)
		}
	}
	booksBalance(t)
}
