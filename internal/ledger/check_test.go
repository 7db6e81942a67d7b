package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// TestCheckFindsEveryKindOfDamage records real conversions, checks that the
// books balance, then damages them the ways a bug could and checks that
// each is reported.
func TestCheckFindsEveryKindOfDamage(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	app, ens := testenv.Program(t, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: time.Hour}, "c@example.com", "d@example.com")
	en, other := ens[0], ens[1]
	acts := activities.New(d.Pool)
	for i, id := range []string{"cv_a", "cv_b"} {
		if _, err := acts.RecordConversion(ctx, conversion.Input{
			ConversionID: id, AppID: app.App.ID, RefCode: en.RefCode, CreatorID: en.CreatorID, UserID: "u",
			AmountCents: int64(10000 * (i + 1)), Currency: "usd", CommissionBPS: 3000, Hold: time.Hour, CreatedAt: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acts.ReleaseConversion(ctx, "cv_b"); err != nil {
		t.Fatal(err)
	}
	if _, err := acts.RefundConversion(ctx, conversion.RefundInput{RefundID: "rf_1", ConversionID: "cv_b", AmountCents: 5000}); err != nil {
		t.Fatal(err)
	}
	q := db.New(d.Pool)
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) != 0 {
		t.Fatalf("healthy books reported: %v %v", bad, err)
	}

	damage := func(key, creator, from, to string, cents int64) {
		t.Helper()
		cv := "cv_a"
		if err := q.InsertTransfer(ctx, db.InsertTransferParams{
			TransferKey: key, AppID: app.App.ID, CreatorID: creator, ConversionID: &cv,
			DebitAccount: from, CreditAccount: to, AmountCents: cents, Kind: ledger.KindCredit,
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A double credit: net credited no longer matches.
	damage("bug:double", en.CreatorID, ledger.App, ledger.CreatorPending, 2850)
	// Money moved to another creator under this conversion.
	damage("bug:label", other.CreatorID, ledger.CreatorPending, ledger.CreatorAvailable, 1)
	// A fee released while the conversion is pending.
	damage("bug:fee", en.CreatorID, ledger.PlatformPending, ledger.PlatformRevenue, 150)
	bad, err := ledger.Check(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(bad, "\n")
	for _, want := range []string{
		"conversion cv_a (pending): net credited",
		"transfer bug:label is labelled",
		"platform revenue",
		"creator " + other.CreatorID,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("damage not reported: want %q in\n%s", want, all)
		}
	}
}

// TestCheckFindsDriftingRollups keeps the books right and damages only the
// derived aggregates the dashboard reads: each difference is reported.
func TestCheckFindsDriftingRollups(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	app, ens := testenv.Program(t, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: time.Hour}, "c@example.com")
	en := ens[0]
	acts := activities.New(d.Pool)
	now := time.Now()
	today := now.UTC().Format("2006-01-02")
	if _, err := acts.RecordConversion(ctx, conversion.Input{
		ConversionID: "cv_a", AppID: app.App.ID, RefCode: en.RefCode, CreatorID: en.CreatorID, UserID: "u",
		AmountCents: 10000, Currency: "usd", CommissionBPS: 3000, Hold: time.Hour, CreatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	q := db.New(d.Pool)
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) != 0 {
		t.Fatalf("healthy books reported: %v %v", bad, err)
	}
	for _, sql := range []string{
		`UPDATE creator_balances SET available_cents = available_cents + 1`,
		`UPDATE app_daily SET conversions = conversions + 1`,
		`UPDATE ref_daily SET signups = signups + 2`,
		`INSERT INTO app_click_daily (app_id, day, clicks, unique_clicks) VALUES ('` + app.App.ID + `', '2020-01-01', 3, 1)`,
	} {
		if _, err := d.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := ledger.Check(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(bad, "\n")
	for _, want := range []string{
		"creator " + en.CreatorID + " in app " + app.App.ID + ": rollup pending 2850, available 1, in payout 0, paid 0; the ledger says 2850, 0, 0, 0",
		"app " + app.App.ID + " on " + today + ": the rollup says clicks 0 (unique 0), signups 0, conversions 2",
		"app " + app.App.ID + " on " + today + ": the rows say clicks 0 (unique 0), signups 0, conversions 1",
		"app " + app.App.ID + " on 2020-01-01: the rollup says clicks 3 (unique 1)",
		"ref " + en.RefCode + " on " + today + ": rollup signups 2, conversions 1, net 2850, reversed 0; the rows say 0, 1, 2850, 0",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("drift not reported: want %q in\n%s", want, all)
		}
	}
}

// TestCheckFindsPayoutDamage reserves a real payout run, checks the books
// balance with money in payout, then damages them as a payout bug could.
func TestCheckFindsPayoutDamage(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	app, ens := testenv.Program(t, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: 0}, "p@example.com")
	en := ens[0]
	acts := activities.New(d.Pool)
	if _, err := acts.RecordConversion(ctx, conversion.Input{ConversionID: "cv_p", AppID: app.App.ID, RefCode: en.RefCode, CreatorID: en.CreatorID,
		UserID: "u", AmountCents: 10000, Currency: "usd", CommissionBPS: 3000, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := acts.ReleaseConversion(ctx, "cv_p"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, "UPDATE apps SET payout_mode = 'manual', min_payout_cents = 100 WHERE id = $1", app.App.ID); err != nil {
		t.Fatal(err)
	}
	plan, err := acts.ReservePayouts(ctx, payout.RunInput{RunID: "payout-run-check", AppID: app.App.ID, Trigger: payout.TriggerOperator})
	if err != nil || len(plan.Payouts) != 1 || plan.NetCents != 2850 || plan.FeeCents != 150 {
		t.Fatalf("reserve: %+v %v", plan, err)
	}
	q := db.New(d.Pool)
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) != 0 {
		t.Fatalf("books with money in payout reported: %v %v", bad, err)
	}
	po := plan.Payouts[0].PayoutID
	cv, run := "cv_p", "payout-run-check"
	// Money marked paid while the payout is still reserved.
	if err := q.InsertPayoutTransfer(ctx, db.InsertPayoutTransferParams{TransferKey: "bug:paid", AppID: app.App.ID, CreatorID: &en.CreatorID,
		ConversionID: &cv, PayoutID: &po, RunID: &run, DebitAccount: ledger.CreatorInPayout, CreditAccount: ledger.CreatorPaid,
		AmountCents: 2850, Kind: ledger.KindPayout}); err != nil {
		t.Fatal(err)
	}
	// A run said funded that collected nothing.
	if _, err := d.Pool.Exec(ctx, "UPDATE payout_runs SET funded_at = now(), charge_cents = 3000 WHERE id = $1", run); err != nil {
		t.Fatal(err)
	}
	bad, err := ledger.Check(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(bad, "\n")
	for _, want := range []string{
		"payout " + po + " (reserved, 2850 cents): its transfers leave creator_in_payout 0, want 2850",
		"payout " + po + " (reserved, 2850 cents): its transfers leave creator_paid 2850, want 0",
		"run payout-run-check (awaiting_confirmation) collected 0 in the ledger, want 3000",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("not reported: %s\nreported:\n%s", want, all)
		}
	}
}
