package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/workflows"
)

// TestPayoutsSurviveCrashes kills the worker (SIGKILL) while a payout run
// is in flight: once after Stripe charged the app but before the worker
// heard, and once after Stripe made a transfer but before the payout was
// marked paid. Each creator is paid exactly once, the app is charged once,
// and verify-ledger is clean.
func TestPayoutsSurviveCrashes(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	bin := buildAgentlinks(t, tmp)
	d := testenv.DB(t)
	mock, err := testenv.StartStripeMock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer mock.Stop()
	mockURL, _ := url.Parse(mock.URL)
	bank := testenv.NewStripeBank(httputil.NewSingleHostReverseProxy(mockURL))
	bankSrv := httptest.NewServer(bank)
	defer bankSrv.Close()
	temporalAddr, err := temporaldev.FreeAddress()
	if err != nil {
		t.Fatal(err)
	}
	temporal, err := temporaldev.Start(ctx, temporaldev.Options{Binary: os.Getenv("TEMPORAL_CLI"), Address: temporalAddr, DBFile: filepath.Join(tmp, "temporal.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer temporal.Stop()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	stripeCfg := config.Stripe{SecretKey: "sk_test_chaos", WebhookSecret: "whsec_chaos", APIBase: bankSrv.URL}
	env := []string{"DATABASE_URL=" + d.URL, "TEMPORAL_ADDRESS=" + temporalAddr, "HTTP_ADDR=" + httpAddr, "TASK_QUEUE=payouts-chaos",
		"RATE_LIMIT_PER_MINUTE=0", "LOG_LEVEL=warn", "STRIPE_SECRET_KEY=" + stripeCfg.SecretKey,
		"STRIPE_WEBHOOK_SECRET=" + stripeCfg.WebhookSecret, "STRIPE_API_BASE=" + bankSrv.URL}
	logs, err := os.Create(filepath.Join(tmp, "agentlinks.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	// The worker serves its /metrics on an HTTP_ADDR of its own.
	workerEnv := append(append([]string(nil), env...), fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", freePort(t)))
	worker := &proc{name: "worker", bin: bin, args: []string{"worker"}, env: workerEnv, log: logs}
	api := &proc{name: "api", bin: bin, args: []string{"api"}, env: env, log: logs}
	worker.start(t)
	defer worker.kill()
	api.start(t)
	defer api.kill()
	waitReady(t, "http://"+httpAddr)

	// A program paying through Stripe, confirming its own runs; three
	// creators with ready payout accounts and available money.
	app, err := programs.CreateApp(ctx, d.Pool, programs.NewApp{Name: "Chaos payouts", CommissionBPS: 3000, Hold: 0})
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(d.Pool, workflows.Client{}, time.Hour).WithStripe(stripeCfg, "")
	defer svc.Close()
	if _, err := d.Pool.Exec(ctx, "UPDATE apps SET payout_auto_confirm = true, min_payout_cents = 100 WHERE id = $1", app.App.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetPaymentMethod(ctx, app.App.ID, "cus_chaos", "pm_card_visa", "visa"); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: "http://" + httpAddr, key: app.SecretKey, http: &http.Client{Timeout: 20 * time.Second}}
	accounts := map[string]string{} // creator → account
	for i := range 3 {
		en, err := programs.Enroll(ctx, d.Pool, app.App.ID, fmt.Sprintf("payee%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		acct := fmt.Sprintf("acct_chaos%d", i)
		bank.Account(acct, true, true)
		if err := svc.SetCreatorPayoutAccount(ctx, en.CreatorID, acct); err != nil {
			t.Fatal(err)
		}
		accounts[en.CreatorID] = acct
		for k := range 3 {
			c.post("/api/track/conversion", map[string]any{"ref": en.RefCode, "user_id": fmt.Sprintf("u%d", i),
				"amount_cents": 10000 * (k + 1), "transaction_id": fmt.Sprintf("t%d-%d", i, k)})
		}
	}
	q := db.New(d.Pool)
	testenv.Eventually(t, 60*time.Second, "every conversion released", func() bool {
		var pending int
		err := d.Pool.QueryRow(ctx, "SELECT count(*) FROM conversions WHERE status <> 'available'").Scan(&pending)
		return err == nil && pending == 0
	})

	// Kill 1: Stripe charges the app, the worker dies before it hears.
	charged, releaseCharge := bank.Gate("/v1/payment_intents")
	transferred, releaseTransfer := bank.Gate("/v1/transfers")
	run := agentlinks(bin, env, "payouts", "run", "--app", app.App.ID, "--json")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("payouts run: %v\n%s", err, out)
	}
	var started struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(out, &started); err != nil || started.RunID == "" {
		t.Fatalf("payouts run printed %s", out)
	}
	wait(t, charged, "the charge")
	t.Log("SIGKILL the worker between the charge and the transfers")
	worker.kill()
	releaseCharge()
	worker.start(t)
	// Kill 2: Stripe makes the first transfer, the worker dies before
	// marking it paid.
	wait(t, transferred, "the first transfer")
	t.Log("SIGKILL the worker between a transfer and its mark-paid")
	worker.kill()
	releaseTransfer()
	worker.start(t)

	testenv.Eventually(t, 3*time.Minute, "the run completes", func() bool {
		r, err := q.GetPayoutRun(ctx, started.RunID)
		return err == nil && r.Status == payout.RunCompleted
	})
	r, _ := q.GetPayoutRun(ctx, started.RunID)
	// 30%: creators earn 1800 (net 1710) per 6000 of sales … each
	// creator's 60000 of sales is 18000 commission, 900 fee, 17100 net.
	if r.NetCents != 3*17100 || r.FeeCents != 3*900 || r.ChargeCents != 3*18000 {
		t.Fatalf("run net %d fee %d charge %d", r.NetCents, r.FeeCents, r.ChargeCents)
	}
	charges := bank.Charges()
	if len(charges) != 1 || charges[0].AmountCents != 3*18000 || bank.Asked("/v1/payment_intents", charges[0].Key) < 2 {
		t.Fatalf("charges %+v (asked %d times): want one, asked again after the crash", charges, bank.Asked("/v1/payment_intents", "charge-"+started.RunID))
	}
	per := map[string]int{}
	for _, tr := range bank.Transfers() {
		per[tr.Party]++
		if tr.AmountCents != 17100 || tr.Group != started.RunID {
			t.Fatalf("transfer %+v", tr)
		}
	}
	replayed := 0
	for creator, acct := range accounts {
		if per[acct] != 1 {
			t.Fatalf("%s was paid %d times", acct, per[acct])
		}
		b, err := q.GetCreatorBalance(ctx, db.GetCreatorBalanceParams{AppID: app.App.ID, CreatorID: creator})
		if err != nil || b.PaidCents != 17100 || b.AvailableCents != 0 || b.InPayoutCents != 0 {
			t.Fatalf("creator %s: %+v %v", creator, b, err)
		}
	}
	for _, tr := range bank.Transfers() {
		if bank.Asked("/v1/transfers", tr.Key) > 1 {
			replayed++
		}
	}
	// The held transfer was asked again (others in flight when the worker
	// died may have been too); each was made once all the same.
	if replayed < 1 {
		t.Fatalf("no transfer was asked again after the crash")
	}
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) > 0 {
		t.Fatalf("ledger: %v\n%s", err, strings.Join(bad, "\n"))
	}
	verify := agentlinks(bin, env, "verify-ledger")
	if out, err := verify.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ledger ok") {
		t.Fatalf("verify-ledger: %v\n%s", err, out)
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not reach Stripe within 2 minutes", what)
	}
}
