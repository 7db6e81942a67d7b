package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/deploy"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// TestDevStackEndToEnd runs `agentlinks dev` as a new user would (a database
// that does not exist yet, the real Temporal dev server with its UI), creates
// a program with the operator commands, and replays the guide through HTTP
// with a hold of seconds: a conversion turns available, a half refund
// mid-hold reverses exactly half, a refund after release claws back, and the
// ledger invariants hold at the end.
func TestDevStackEndToEnd(t *testing.T) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dbName := "agentlinks_dev_" + hex.EncodeToString(b)
	t.Cleanup(func() { testenv.DropDatabase(dbName) })
	temporalAddr, httpAddr, uiAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	uiPort := uiAddr[strings.LastIndex(uiAddr, ":")+1:]
	t.Setenv("DATABASE_URL", testenv.URLFor(dbName))
	t.Setenv("TEMPORAL_ADDRESS", temporalAddr)
	t.Setenv("TEMPORAL_UI_URL", "http://127.0.0.1:"+uiPort)
	t.Setenv("HTTP_ADDR", httpAddr)
	t.Setenv("DATA_DIR", t.TempDir())
	t.Setenv("LOG_LEVEL", "warn")
	t.Setenv("LEDGER_CHECK_INTERVAL", "500ms")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, io.Discard, &logs) }()
	base := "http://" + httpAddr
	waitReady(t, base, done)

	// Operator commands, as docs/integrating.md shows them.
	var app struct{ AppID, SecretKey string }
	cli(t, ctx, &app, "apps", "create", "--name", "Demo", "--commission-percent", "30", "--hold-period", "5s", "--json")
	var creator struct{ CreatorID, Ref string }
	cli(t, ctx, &creator, "creators", "create", "--app", app.AppID, "--email", "alice@example.com", "--json")
	if !strings.HasPrefix(app.AppID, "app_") || !strings.HasPrefix(app.SecretKey, "sk_") || creator.Ref == "" {
		t.Fatalf("operator commands printed %+v and %+v", app, creator)
	}
	h := httpClient{t: t, base: base, key: app.SecretKey}
	ref := creator.Ref

	h.post("/api/track/click", map[string]any{"ref": ref}, 202)
	h.post("/api/track/signup", map[string]any{"ref": ref, "user_id": "usr_abc123", "email": "user@example.com"}, 201)
	first := h.post("/api/track/conversion", map[string]any{"ref": ref, "user_id": "usr_abc123", "amount_cents": 10000, "transaction_id": "ch_1"}, 201)
	if c := first["commission"].(map[string]any); c["commission_cents"] != 3000.0 || c["platform_fee_cents"] != 150.0 || c["net_commission_cents"] != 2850.0 {
		t.Fatalf("guide example: want 3000/150/2850, got %v", c)
	}
	second := h.post("/api/track/conversion", map[string]any{"ref": ref, "user_id": "usr_abc123", "amount_cents": 10000, "transaction_id": "ch_2"}, 201)
	if bal := h.balance(ref); bal != [2]float64{5700, 0} {
		t.Fatalf("want 5700 pending, 0 available; got %v", bal)
	}

	// A half refund of the second payment while its hold runs.
	rf := h.post("/api/track/refund", map[string]any{"ref": ref, "amount_cents": 5000, "transaction_id": "ch_2"}, 200)
	if r := rf["reversed"].(map[string]any); r["commission_cents"] != 1500.0 || r["net_commission_cents"] != 1425.0 || rf["clawback"] != false {
		t.Fatalf("half refund mid-hold: %v", rf)
	}
	if bal := h.balance(ref); bal != [2]float64{2850 + 1425, 0} {
		t.Fatalf("after the half refund: want 4275 pending; got %v", bal)
	}

	// The workflows are findable by app and ref, as in the Temporal UI.
	tc, err := client.Dial(client.Options{HostPort: temporalAddr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	query := fmt.Sprintf("AppID = %q AND RefCode = %q", app.AppID, ref)
	testenv.Eventually(t, 10*time.Second, "workflows listed by search attributes", func() bool {
		res, err := tc.ListWorkflow(ctx, &listRequest{Query: query})
		return err == nil && len(res.GetExecutions()) == 2
	})
	if res, err := http.Get("http://127.0.0.1:" + uiPort + "/namespaces/default/workflows"); err != nil || res.StatusCode != 200 {
		t.Fatalf("Temporal UI not served on %s: %v", uiPort, err)
	} else {
		res.Body.Close()
	}

	// After the hold both turn available, and the balance moves with them.
	for _, c := range []map[string]any{first, second} {
		id := c["conversion_id"].(string)
		testenv.Eventually(t, 30*time.Second, id+" available", func() bool {
			return h.get("/api/conversions/" + id)["status"] == "available"
		})
	}
	if bal := h.balance(ref); bal != [2]float64{0, 4275} {
		t.Fatalf("after release: want 0 pending, 4275 available; got %v", bal)
	}
	testenv.Eventually(t, 10*time.Second, "status search attribute updated", func() bool {
		res, err := tc.ListWorkflow(ctx, &listRequest{Query: query + ` AND ConversionStatus = "available"`})
		return err == nil && len(res.GetExecutions()) == 2
	})

	// A refund after release is a clawback from available.
	claw := h.post("/api/track/refund", map[string]any{"ref": ref, "amount_cents": 10000, "transaction_id": "ch_1"}, 200)
	if claw["clawback"] != true || claw["conversion_status"] != "refunded" {
		t.Fatalf("refund after release: %v", claw)
	}
	if bal := h.balance(ref); bal != [2]float64{0, 1425} {
		t.Fatalf("after the clawback: want 1425 available; got %v", bal)
	}
	stats := h.get("/api/creators/" + ref + "/stats")
	if stats["clicks"] != 1.0 || stats["unique_clicks"] != 1.0 || stats["signups"] != 1.0 || stats["conversions"] != 2.0 {
		t.Fatalf("stats: %v", stats)
	}

	// Cash out, manually: the owner pays and marks the payout paid.
	var settings struct {
		PayoutMode     string
		MinPayoutCents float64
	}
	cli(t, ctx, &settings, "apps", "update", "--app", app.AppID, "--payout-mode", "manual", "--min-payout-cents", "1000", "--json")
	if settings.PayoutMode != "manual" || settings.MinPayoutCents != 1000 {
		t.Fatalf("apps update: %+v", settings)
	}
	var payRun struct {
		RunID, Status      string
		NetCents, FeeCents float64
		Payouts            []struct{ ID, Status string }
	}
	cli(t, ctx, &payRun, "payouts", "run", "--app", app.AppID, "--confirm", "--json")
	if payRun.Status != "awaiting_payment" || payRun.NetCents != 1425 || payRun.FeeCents != 75 || len(payRun.Payouts) != 1 {
		t.Fatalf("payouts run: %+v", payRun)
	}
	var marked struct{ PayoutID, Status, Reference string }
	cli(t, ctx, &marked, "payouts", "mark-paid", "--payout", payRun.Payouts[0].ID, "--reference", "wire 7", "--json")
	if marked.Status != "paid" || marked.Reference != "wire 7" {
		t.Fatalf("payouts mark-paid: %+v", marked)
	}
	var listed struct{ Runs []struct{ Status string } }
	cli(t, ctx, &listed, "payouts", "list", "--app", app.AppID, "--json")
	if len(listed.Runs) != 1 || listed.Runs[0].Status != "completed" {
		t.Fatalf("payouts list: %+v", listed)
	}
	if b := h.get("/api/creators/" + ref + "/balance"); b["paid_cents"] != 1425.0 || b["available_cents"] != 0.0 || b["in_payout_cents"] != 0.0 {
		t.Fatalf("balance after the payout: %v", b)
	}

	pool, err := pgxpool.New(ctx, testenv.URLFor(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bad, err := ledger.Check(ctx, db.New(pool))
	if err != nil || len(bad) > 0 {
		t.Fatalf("ledger invariants: %v %v", err, bad)
	}
	var verify bytes.Buffer
	if err := run(ctx, []string{"verify-ledger"}, &verify, io.Discard); err != nil || !strings.HasPrefix(verify.String(), "ledger ok") {
		t.Fatalf("verify-ledger: %v %s", err, verify.String())
	}
	// The process's /metrics: the money's counters by program, the
	// database's state, the ledger check, and the Temporal SDK's own
	// metrics through its tally bridge.
	var health bytes.Buffer
	if err := run(ctx, []string{"healthcheck"}, &health, io.Discard); err != nil || !strings.Contains(health.String(), "ready") {
		t.Fatalf("healthcheck: %v %s", err, health.String())
	}
	m := testenv.Scrape(t, base+"/metrics")
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"agentlinks_conversions_recorded_total", []string{"app=" + app.AppID}, 2},
		{"agentlinks_commission_cents_total", []string{"app=" + app.AppID}, 6000},
		{"agentlinks_releases_total", []string{"app=" + app.AppID}, 2},
		{"agentlinks_refunds_total", []string{"app=" + app.AppID, "phase=hold"}, 1},
		{"agentlinks_clawbacks_total", []string{"app=" + app.AppID}, 1},
		{"agentlinks_payouts", []string{"status=paid"}, 1},
		{"agentlinks_payouts_cents", []string{"status=paid"}, 1425},
		{"agentlinks_state_up", nil, 1},
		{"agentlinks_ledger_check_failures", nil, 0},
	} {
		if got := m.Value(w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	for _, name := range []string{"agentlinks_ledger_check_timestamp_seconds", "temporal_request_total",
		"temporal_workflow_task_schedule_to_start_latency_seconds", "temporal_activity_execution_latency_seconds", "temporal_sticky_cache_size"} {
		if m.Sum(name) == 0 {
			t.Errorf("%s is missing or 0 on /metrics; temporal_ families: %v", name, temporalFamilies(m))
		}
	}

	// Label values are Temporal's names as the Temporal UI shows them.
	if m.Value("temporal_num_pollers", "task_queue=agentlinks-webhooks", "poller_type=workflow_task") == 0 {
		var queues []string
		for _, s := range m["temporal_num_pollers"].GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "task_queue" {
					queues = append(queues, l.GetValue())
				}
			}
		}
		t.Errorf("no pollers on the task queue agentlinks-webhooks; the task queues are named %q", queues)
	}

	// The Temporal SDK metrics the Grafana board and the alerts read are
	// the ones the worker exports (those counting failures and misses
	// appear with the first one).
	qs, err := deploy.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		names, err := deploy.Metrics(q.Expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, "temporal_") && !strings.HasSuffix(n, "_failed_total") && !strings.HasSuffix(n, "_miss_total") && m[n] == nil {
				t.Errorf("%s reads %s, which the worker does not export; it has %v", q.Where, n, temporalFamilies(m))
			}
		}
	}

	// Damage the books: verify-ledger fails and names the conversion.
	if _, err := pool.Exec(ctx, `INSERT INTO ledger_transfers (transfer_key, app_id, creator_id, conversion_id, debit_account, credit_account, amount_cents, kind)
		SELECT 'bug', app_id, creator_id, id, 'app', 'creator_available', 1, 'credit' FROM conversions WHERE dedupe_key = 'txn:ch_2'`); err != nil {
		t.Fatal(err)
	}
	verify.Reset()
	if err := run(ctx, []string{"verify-ledger"}, &verify, io.Discard); !errors.Is(err, errLedger) || !strings.Contains(verify.String(), second["conversion_id"].(string)) {
		t.Fatalf("verify-ledger on damaged books: %v %s", err, verify.String())
	}
	// The worker's periodic check finds it too, for the alert.
	testenv.Eventually(t, 10*time.Second, "the ledger check reports the damage", func() bool {
		return testenv.Scrape(t, base+"/metrics").Value("agentlinks_ledger_check_failures") >= 1
	})

	// Ctrl-C stops all of it cleanly.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev stopped with %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dev did not stop within 40s")
	}
	if c, err := http.Get(base + "/healthz"); err == nil {
		c.Body.Close()
		t.Fatal("the API still answers after dev stopped")
	}
}

func freeAddr(t *testing.T) string {
	a, err := temporaldev.FreeAddress()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func waitReady(t *testing.T, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("dev exited early: %v", err)
		default:
		}
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("dev stack not ready after 90s")
}

func cli(t *testing.T, ctx context.Context, out any, args ...string) {
	t.Helper()
	var buf bytes.Buffer
	if err := run(ctx, args, &buf, io.Discard); err != nil {
		t.Fatalf("agentlinks %s: %v", strings.Join(args, " "), err)
	}
	// The JSON keys are snake_case; match them to the struct's fields.
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("agentlinks %s printed %q", strings.Join(args, " "), buf.String())
	}
	norm := map[string]any{}
	for k, v := range m {
		norm[strings.ReplaceAll(k, "_", "")] = v
	}
	j, _ := json.Marshal(norm)
	if err := json.Unmarshal(j, out); err != nil {
		t.Fatal(err)
	}
}

type httpClient struct {
	t         *testing.T
	base, key string
}

func (h httpClient) do(method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, m
}

func (h httpClient) post(path string, body any, want int) map[string]any {
	h.t.Helper()
	status, m := h.do("POST", path, body)
	if status != want {
		h.t.Fatalf("POST %s: want %d, got %d %v", path, want, status, m)
	}
	return m
}

func (h httpClient) get(path string) map[string]any {
	h.t.Helper()
	status, m := h.do("GET", path, nil)
	if status != 200 {
		h.t.Fatalf("GET %s: %d %v", path, status, m)
	}
	return m
}

// balance is [pending, available].
func (h httpClient) balance(ref string) [2]float64 {
	m := h.get("/api/creators/" + ref + "/balance")
	return [2]float64{m["pending_cents"].(float64), m["available_cents"].(float64)}
}

type listRequest = workflowservice.ListWorkflowExecutionsRequest

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

func temporalFamilies(m testenv.Metrics) []string {
	var out []string
	for name := range m {
		if strings.HasPrefix(name, "temporal_") {
			out = append(out, name)
		}
	}
	return out
}
