package migrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/db/migrate"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// TestRollupsBackfillExistingData writes a program's history under the
// schema before the rollups (migration 3), migrates to the latest, and
// checks that the rollups summarise what was already there, then keep up.
func TestRollupsBackfillExistingData(t *testing.T) {
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "agentlinks_test_" + hex.EncodeToString(b)
	url := testenv.URLFor(name)
	if err := migrate.EnsureDatabase(ctx, url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.DropDatabase(name) })
	if err := migrate.UpTo(ctx, url, 3); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// The program in the schema of the time (today's queries name later
	// columns); the money goes through today's activities, whose tables
	// were already there.
	const appID, creatorID, refCode = "app_old", "cr_old", "oldref"
	for _, stmt := range []string{
		`INSERT INTO apps (id, name, commission_bps, hold_seconds) VALUES ('app_old', 'Acme', 3000, 3600)`,
		`INSERT INTO creators (id, email) VALUES ('cr_old', 'c@example.com')`,
		`INSERT INTO ref_codes (code, app_id, creator_id) VALUES ('oldref', 'app_old', 'cr_old')`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	// Today's activities also look for the app's webhook endpoints
	// (migration 11): an empty table of the columns they read stands in
	// for it until the migrations run.
	if _, err := pool.Exec(ctx, `CREATE TABLE webhook_endpoints (id text, app_id text, events text[], deleted_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	acts := activities.New(pool)
	created := time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("", -2*3600)) // 2 March in UTC
	for i, id := range []string{"cv_a", "cv_b"} {
		if _, err := acts.RecordConversion(ctx, conversion.Input{
			ConversionID: id, AppID: appID, RefCode: refCode, CreatorID: creatorID, UserID: "u",
			AmountCents: int64(10000 * (i + 1)), Currency: "usd", CommissionBPS: 3000, Hold: time.Hour, CreatedAt: created,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acts.ReleaseConversion(ctx, "cv_b"); err != nil {
		t.Fatal(err)
	}
	// Half of cv_a refunded, as the refund activity of the time wrote it
	// (today's also names the creator, a column of a later migration):
	// 1500 of commission reversed, 75 of it the fee, 1425 the creator's.
	for _, sql := range []string{
		`INSERT INTO refunds (id, conversion_id, app_id, amount_cents, commission_cents, platform_fee_cents, net_commission_cents, clawback)
		 VALUES ('rf_1', 'cv_a', '` + appID + `', 5000, 1500, 75, 1425, false)`,
		`INSERT INTO ledger_transfers (transfer_key, app_id, creator_id, conversion_id, refund_id, debit_account, credit_account, amount_cents, kind) VALUES
		 ('refund:net:rf_1', '` + appID + `', '` + creatorID + `', 'cv_a', 'rf_1', '` + ledger.CreatorPending + `', '` + ledger.App + `', 1425, '` + ledger.KindReversal + `'),
		 ('refund:fee:rf_1', '` + appID + `', '` + creatorID + `', 'cv_a', 'rf_1', '` + ledger.PlatformPending + `', '` + ledger.App + `', 75, '` + ledger.KindReversal + `')`,
		`UPDATE conversions SET refunded_cents = refunded_cents + 5000 WHERE id = 'cv_a'`,
		`INSERT INTO referrals (id, app_id, ref_code, creator_id, user_id) VALUES ('rfl_1', '` + appID + `', '` + refCode + `', '` + creatorID + `', 'u')`,
		`INSERT INTO click_daily (ref_code, day, clicks, unique_clicks) VALUES ('` + refCode + `', '2026-03-01', 7, 3), ('` + refCode + `', '2026-03-02', 2, 1)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := pool.Exec(ctx, `DROP TABLE webhook_endpoints`); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	q := db.New(pool)
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) != 0 {
		t.Fatalf("after the backfill: %v\n%s", err, strings.Join(bad, "\n"))
	}
	var refundCreator string
	if err := pool.QueryRow(ctx, `SELECT creator_id FROM refunds WHERE id = 'rf_1'`).Scan(&refundCreator); err != nil || refundCreator != creatorID {
		t.Fatalf("the refund's creator is backfilled from its conversion: %q (%v)", refundCreator, err)
	}
	bal, err := q.GetCreatorBalance(ctx, db.GetCreatorBalanceParams{AppID: appID, CreatorID: creatorID})
	if err != nil {
		t.Fatal(err)
	}
	// cv_a: 2850 pending less 1425 refunded; cv_b: 5700 released.
	if bal.PendingCents != 1425 || bal.AvailableCents != 5700 || bal.PaidCents != 0 {
		t.Fatalf("backfilled balance %+v, want 1425 pending, 5700 available", bal)
	}
	var convs, amount, clicks int64
	if err := pool.QueryRow(ctx, `SELECT conversions, amount_cents FROM app_daily WHERE app_id = $1 AND day = '2026-03-02'`,
		appID).Scan(&convs, &amount); err != nil || convs != 2 || amount != 30000 {
		t.Fatalf("2 March: %d conversions of %d cents (%v), want 2 of 30000", convs, amount, err)
	}
	if err := pool.QueryRow(ctx, `SELECT sum(clicks) FROM app_click_daily WHERE app_id = $1`, appID).Scan(&clicks); err != nil || clicks != 9 {
		t.Fatalf("clicks %d (%v), want 9", clicks, err)
	}
	refTotals, err := q.RefTotals(ctx, refCode)
	if err != nil || refTotals.Signups != 1 || refTotals.Conversions != 2 {
		t.Fatalf("ref totals %+v (%v), want 1 signup and 2 conversions", refTotals, err)
	}

	// And the triggers keep them in step from here on.
	if _, err := acts.ReleaseConversion(ctx, "cv_a"); err != nil {
		t.Fatal(err)
	}
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) != 0 {
		t.Fatalf("after a release: %v\n%s", err, strings.Join(bad, "\n"))
	}
}
