// Package chaos_test proves that money survives crashes: conversions and
// refunds in flight through the real binary while its worker and APIs (one
// without a worker, one with API_WORKER=true) are SIGKILLed, the Temporal dev server and PostgreSQL restarted; afterwards
// every conversion reaches its final state and the ledger balances to the
// cent, with nothing lost and nothing doubled; and that every click
// answered 202 is stored (clicks_test.go). `make test` runs a short form;
// `make chaos` the long one.
package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

var (
	conversions = flag.Int("chaos.conversions", 150, "conversions in flight during the faults (make chaos: 3000)")
	rounds      = flag.Int("chaos.rounds", 1, "rounds of faults; each kills the worker and the API and restarts Temporal and PostgreSQL")
	clients     = flag.Int("chaos.clients", 20, "concurrent clients")
)

const hold = 4 * time.Second

// job is what one client does: a conversion, then maybe a refund, each
// retried with the same ids until it is answered, as real clients do.
type job struct {
	txn, ref    string
	amount      int64
	refund      int64 // 0: none
	refundAfter time.Duration
}

func TestMoneySurvivesCrashes(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	bin := buildAgentlinks(t, tmp)
	pg := startPostgres(t)
	pg.createDB(t, "agentlinks")
	dbURL := pg.url("agentlinks")
	temporalAddr, err := temporaldev.FreeAddress()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := []string{"DATABASE_URL=" + dbURL, "TEMPORAL_ADDRESS=" + temporalAddr, "HTTP_ADDR=" + httpAddr,
		"TASK_QUEUE=chaos", "RATE_LIMIT_PER_MINUTE=0", "LOG_LEVEL=warn"}
	// A second API runs the worker too (API_WORKER=true): its conversions
	// start eagerly and are answered from its own worker.
	httpAddr2 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env2 := append(append([]string(nil), env...), "HTTP_ADDR="+httpAddr2, "API_WORKER=true")
	migrate(t, bin, env)

	temporalOpts := temporaldev.Options{Binary: os.Getenv("TEMPORAL_CLI"), Address: temporalAddr, DBFile: filepath.Join(tmp, "temporal.db")}
	temporal, err := temporaldev.Start(ctx, temporalOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { temporal.Stop() }()
	logs, err := os.Create(filepath.Join(tmp, "agentlinks.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	// The worker serves its /metrics on an HTTP_ADDR of its own.
	workerEnv := append(append([]string(nil), env...), fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", freePort(t)))
	worker := &proc{name: "worker", bin: bin, args: []string{"worker"}, env: workerEnv, log: logs}
	api := &proc{name: "api", bin: bin, args: []string{"api"}, env: env, log: logs}
	apiWorker := &proc{name: "api+worker", bin: bin, args: []string{"api"}, env: env2, log: logs}
	worker.start(t)
	defer worker.kill()
	api.start(t)
	defer api.kill()
	apiWorker.start(t)
	defer apiWorker.kill()
	base, base2 := "http://"+httpAddr, "http://"+httpAddr2
	waitReady(t, base)
	waitReady(t, base2)

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	app, err := programs.CreateApp(ctx, pool, programs.NewApp{Name: "Chaos", CommissionBPS: 2750, Hold: hold})
	if err != nil {
		t.Fatal(err)
	}
	// Payout runs start during the faults: the program pays its creators
	// itself (manual) and confirms its own runs, so each run reserves what
	// is available then, racing releases, refunds and clawbacks.
	if _, err := pool.Exec(ctx, "UPDATE apps SET payout_mode = 'manual', payout_auto_confirm = true, min_payout_cents = 1 WHERE id = $1", app.App.ID); err != nil {
		t.Fatal(err)
	}
	var runs sync.WaitGroup
	startRun := func() {
		runs.Add(1)
		go func() {
			defer runs.Done()
			for attempt := 0; attempt < 60; attempt++ {
				cmd := agentlinks(bin, env, "payouts", "run", "--app", app.App.ID, "--wait", "20s", "--json")
				if err := cmd.Run(); err == nil {
					return
				}
				time.Sleep(time.Second) // Temporal or PostgreSQL restarting
			}
			t.Error("a payout run never started")
		}()
	}
	var refs []string
	for i := range 5 {
		en, err := programs.Enroll(ctx, pool, app.App.ID, fmt.Sprintf("creator%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, en.RefCode)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	jobs := make([]job, *conversions)
	for i := range jobs {
		j := job{txn: fmt.Sprintf("txn_%d", i), ref: refs[i%len(refs)], amount: rng.Int64N(100000) + 1}
		switch i % 4 {
		case 1:
			j.refund = j.amount / 2
		case 2:
			j.refund = j.amount
		case 3:
			j.refund = rng.Int64N(j.amount) + 1
		}
		if j.refund == 0 && i%4 != 0 {
			j.refund = j.amount
		}
		// Before, around (racing the release) and after the end of the hold.
		j.refundAfter = time.Duration(rng.Int64N(int64(2 * hold)))
		jobs[i] = j
	}

	// Half the clients call each API.
	c := &client{t: t, base: base, key: app.SecretKey, http: &http.Client{Timeout: 20 * time.Second}}
	c2 := &client{t: t, base: base2, key: app.SecretKey, http: c.http}
	var next atomic.Int64
	var wg sync.WaitGroup
	for n := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c
			if n%2 == 1 {
				c = c2
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				c.post("/api/track/conversion", map[string]any{"ref": j.ref, "user_id": "usr_" + j.txn, "amount_cents": j.amount, "transaction_id": j.txn})
				if j.refund > 0 {
					time.Sleep(j.refundAfter)
					c.post("/api/track/refund", map[string]any{"ref": j.ref, "amount_cents": j.refund, "transaction_id": j.txn, "refund_id": "re_" + j.txn})
				}
			}
		}()
	}

	// The faults, while the clients work.
	for r := range *rounds {
		step := func(what string, f func()) {
			time.Sleep(1500 * time.Millisecond)
			t.Logf("round %d: %s", r+1, what)
			startRun()
			f()
		}
		step("SIGKILL the worker", func() { worker.kill(); time.Sleep(time.Second); worker.start(t) })
		step("SIGKILL the APIs", func() {
			api.kill()
			apiWorker.kill()
			time.Sleep(500 * time.Millisecond)
			api.start(t)
			apiWorker.start(t)
		})
		step("restart the Temporal server", func() {
			temporal.Stop()
			if temporal, err = temporaldev.Start(ctx, temporalOpts); err != nil {
				t.Fatal(err)
			}
		})
		step("restart PostgreSQL", func() { pg.restart(t) })
		step("SIGKILL worker and APIs together", func() {
			worker.kill()
			api.kill()
			apiWorker.kill()
			time.Sleep(time.Second)
			worker.start(t)
			api.start(t)
			apiWorker.start(t)
		})
	}
	wg.Wait()
	runs.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("all %d conversions and their refunds answered; %d retries", len(jobs), c.retries.Load()+c2.retries.Load())

	// Every conversion reaches its final state.
	q := db.New(pool)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var total, pending int
		err := pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM conversions").Scan(&total, &pending)
		if err == nil && total == len(jobs) && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: %d conversions of %d, %d still pending (%v); logs in %s", total, len(jobs), pending, err, logs.Name())
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Nothing lost, nothing doubled: each conversion once, each refund once,
	// each with exactly its amounts, and the creators' balances exact.
	want := map[string]int64{} // ref -> available
	refunds := 0
	for _, j := range jobs {
		key := "txn:" + j.txn
		conv, err := q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: app.App.ID, DedupeKey: &key})
		if err != nil {
			t.Fatalf("conversion %s lost: %v", j.txn, err)
		}
		wantStatus := "available"
		if j.refund == j.amount {
			wantStatus = "refunded"
		}
		if conv.AmountCents != j.amount || conv.RefundedCents != j.refund || conv.Status != wantStatus {
			t.Fatalf("conversion %s: amount %d refunded %d status %s; want %d %d %s",
				j.txn, conv.AmountCents, conv.RefundedCents, conv.Status, j.amount, j.refund, wantStatus)
		}
		split, _ := commission.Compute(j.amount, 2750)
		left := split.NetCommissionCents
		if j.refund > 0 {
			refunds++
			rev, _ := commission.Reversal(split, 0, j.refund)
			left -= rev.NetCommissionCents
		}
		want[conv.CreatorID] += left
	}
	// Every run reserved and ended (awaiting the owner's payment, or empty);
	// the owner pays every other payout and marks the rest failed.
	var open int
	testenv.Eventually(t, time.Minute, "payout runs settled", func() bool {
		err := pool.QueryRow(ctx, "SELECT count(*) FROM payout_runs WHERE status NOT IN ('awaiting_payment', 'empty', 'completed')").Scan(&open)
		return err == nil && open == 0
	})
	rows, err := pool.Query(ctx, "SELECT id FROM payouts WHERE status = 'awaiting_payment' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var payoutIDs []string
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		payoutIDs = append(payoutIDs, id)
	}
	rows.Close()
	for i, id := range payoutIDs {
		args := []string{"payouts", "mark-paid", "--payout", id, "--reference", "chaos"}
		if i%3 == 2 {
			args = []string{"payouts", "mark-failed", "--payout", id, "--reason", "bounced"}
		}
		cmd := agentlinks(bin, env, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	t.Logf("%d payouts in flight during the faults, marked paid or failed", len(payoutIDs))

	var refundRows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM refunds").Scan(&refundRows); err != nil || refundRows != refunds {
		t.Fatalf("want %d refunds, found %d (%v)", refunds, refundRows, err)
	}
	for creator, available := range want {
		b, err := q.CreatorBalances(ctx, db.CreatorBalancesParams{AppID: app.App.ID, CreatorID: creator})
		// What the creator earned is available or paid out, none of it lost.
		if err != nil || b.PendingCents != 0 || b.InPayoutCents != 0 || b.AvailableCents+b.PaidCents != available {
			t.Fatalf("creator %s: pending %d available %d in payout %d paid %d, want 0, and %d available + paid (%v)",
				creator, b.PendingCents, b.AvailableCents, b.InPayoutCents, b.PaidCents, available, err)
		}
	}
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) > 0 {
		t.Fatalf("ledger: %v\n%s", err, strings.Join(bad, "\n"))
	}
	verify := agentlinks(bin, env, "verify-ledger")
	if out, err := verify.CombinedOutput(); err != nil || !bytes.HasPrefix(out, []byte("ledger ok")) {
		t.Fatalf("verify-ledger: %v\n%s", err, out)
	}
	// The API drains and stops on SIGTERM.
	api.stop()
	apiWorker.stop()
	worker.stop()
	if code := api.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("api exited %d on SIGTERM", code)
	}
	if code := apiWorker.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("api with a worker exited %d on SIGTERM", code)
	}
	if code := worker.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("worker exited %d on SIGTERM", code)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("api not ready after 60s")
}

// client retries like a real one: the same body (same transaction and
// refund ids) until it gets an answer that is not an outage.
type client struct {
	t         *testing.T
	base, key string
	http      *http.Client
	retries   atomic.Int64
}

func (c *client) post(path string, body map[string]any) {
	b, _ := json.Marshal(body)
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest("POST", c.base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.key)
		res, err := c.http.Do(req)
		if err == nil {
			out, _ := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case res.StatusCode < 300:
				return
			case res.StatusCode < 500 && res.StatusCode != 429:
				c.t.Errorf("POST %s %s: %d %s", path, b, res.StatusCode, out)
				return
			}
		}
		if attempt > 400 {
			c.t.Errorf("POST %s %s: no answer after %d attempts: %v", path, b, attempt, err)
			return
		}
		c.retries.Add(1)
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}
