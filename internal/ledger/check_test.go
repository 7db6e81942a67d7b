package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// TestCheckFindsEveryKindOfDamage records real conversions, checks that the
// books balance, then damages them the ways a bug could and checks that
// each is reported.
func TestCheckFindsEveryKindOfDamage(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	app, err := programs.CreateApp(ctx, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	en, err := programs.Enroll(ctx, d.Pool, app.App.ID, "c@example.com")
	if err != nil {
		t.Fatal(err)
	}
	other, err := programs.Enroll(ctx, d.Pool, app.App.ID, "d@example.com")
	if err != nil {
		t.Fatal(err)
	}
	acts := activities.New(d.Pool)
	for i, id := range []string{"cv_a", "cv_b"} {
		if _, err := acts.RecordConversion(ctx, activities.ConversionInput{
			ConversionID: id, AppID: app.App.ID, RefCode: en.RefCode, CreatorID: en.CreatorID, UserID: "u",
			AmountCents: int64(10000 * (i + 1)), Currency: "usd", CommissionBPS: 3000, Hold: time.Hour, CreatedAt: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acts.ReleaseConversion(ctx, "cv_b"); err != nil {
		t.Fatal(err)
	}
	if _, err := acts.RefundConversion(ctx, activities.RefundInput{RefundID: "rf_1", ConversionID: "cv_b", AmountCents: 5000}); err != nil {
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
