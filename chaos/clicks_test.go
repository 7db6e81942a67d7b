package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
)

// TestClicksSurviveCrashes sends clicks from many clients at once, as
// browsers do (each click once, never retried), while the API is SIGKILLed
// and PostgreSQL restarted. A 202 is a click in PostgreSQL: every click
// answered 202 is stored exactly once, with the answer's unique flag; a
// click left unanswered is stored at most once; and the counters are exact
// against the raw rows, since one statement writes both.
func TestClicksSurviveCrashes(t *testing.T) {
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
	temporal, err := temporaldev.Start(ctx, temporaldev.Options{Binary: os.Getenv("TEMPORAL_CLI"), Address: temporalAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer temporal.Stop()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := []string{"DATABASE_URL=" + dbURL, "TEMPORAL_ADDRESS=" + temporalAddr, "HTTP_ADDR=" + httpAddr,
		"TASK_QUEUE=clicks-chaos", "RATE_LIMIT_PER_MINUTE=0", "LOG_LEVEL=warn"}
	migrate(t, bin, env)
	logs, err := os.Create(filepath.Join(tmp, "agentlinks.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	api := &proc{name: "api", bin: bin, args: []string{"api"}, env: env, log: logs}
	api.start(t)
	defer api.kill()
	base := "http://" + httpAddr
	waitReady(t, base)

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	app, err := programs.CreateApp(ctx, pool, programs.NewApp{Name: "Chaos clicks", CommissionBPS: 2000, Hold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for i := range 3 {
		en, err := programs.Enroll(ctx, pool, app.App.ID, fmt.Sprintf("clicks%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, en.RefCode)
	}

	// Each click names itself in its URL. 150 visitors, so that most
	// clicks repeat a visitor within the dedupe window; every 20th comes
	// from a crawler.
	type answered struct {
		ref    string
		unique bool
	}
	var (
		mu        sync.Mutex
		acked     = map[int]answered{} // click number -> its 202
		sent      atomic.Int64
		unknown   atomic.Int64 // no answer, or not a 202
		ackedLate atomic.Int64 // 202s after the last fault
		last      atomic.Bool
		stop      atomic.Bool
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for !stop.Load() {
				n := int(sent.Add(1))
				ref := refs[n%len(refs)]
				body, _ := json.Marshal(map[string]string{"ref": ref, "url": fmt.Sprintf("https://shop.example.com/?click=%d", n),
					"visitor_id": fmt.Sprintf("v%d", n%150)})
				req, _ := http.NewRequest("POST", base+"/api/track/click?app_id="+app.App.ID, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if n%20 == 0 {
					req.Header.Set("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
				}
				res, err := hc.Do(req)
				if err != nil {
					unknown.Add(1)
					time.Sleep(20 * time.Millisecond) // the API is down
					continue
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					if res.StatusCode < 500 {
						t.Errorf("click %d: %d %s", n, res.StatusCode, out)
					}
					unknown.Add(1)
					continue
				}
				var a struct {
					Accepted, Unique bool
				}
				if err := json.Unmarshal(out, &a); err != nil || !a.Accepted {
					t.Errorf("click %d: 202 with %s", n, out)
					continue
				}
				mu.Lock()
				acked[n] = answered{ref: ref, unique: a.Unique}
				mu.Unlock()
				if last.Load() {
					ackedLate.Add(1)
				}
			}
		})
	}

	step := func(what string, f func()) {
		time.Sleep(1500 * time.Millisecond)
		t.Logf("%s (%d clicks sent so far)", what, sent.Load())
		f()
	}
	step("SIGKILL the API", func() { api.kill(); time.Sleep(300 * time.Millisecond); api.start(t) })
	step("restart PostgreSQL", func() { pg.restart(t) })
	step("SIGKILL the API", func() { api.kill(); time.Sleep(300 * time.Millisecond); api.start(t) })
	waitReady(t, base)
	last.Store(true)
	time.Sleep(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d clicks sent, %d answered 202, %d unanswered or refused during the faults, %d answered after the last",
		sent.Load(), len(acked), unknown.Load(), ackedLate.Load())
	if ackedLate.Load() == 0 || unknown.Load() == 0 {
		t.Fatal("the clicks should both hit the faults and be answered after them")
	}

	// Each stored click once, every 202 among them with its answer.
	rows, err := pool.Query(ctx, "SELECT substring(url from 'click=([0-9]+)$')::int, ref_code, is_unique, is_bot FROM clicks")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close() // before the pool closes, when a check below fails
	stored := map[int]bool{}
	for rows.Next() {
		var n int
		var ref string
		var unique, bot bool
		if err := rows.Scan(&n, &ref, &unique, &bot); err != nil {
			t.Fatal(err)
		}
		if _, twice := stored[n]; twice {
			t.Fatalf("click %d stored twice", n)
		}
		stored[n] = unique
		if a, ok := acked[n]; ok && (a.ref != ref || a.unique != unique || bot != (n%20 == 0)) {
			t.Fatalf("click %d: answered %+v, stored ref %s unique %v bot %v", n, a, ref, unique, bot)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for n := range acked {
		if _, ok := stored[n]; !ok {
			t.Fatalf("click %d was answered 202 and is not stored", n)
		}
	}
	t.Logf("%d clicks stored: %d answered 202 and %d whose answer was lost", len(stored), len(acked), len(stored)-len(acked))

	// The counters against the raw rows, per link and per program; a
	// visitor is counted unique at most once per link within the window.
	var bad int
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT r.ref_code FROM (
				SELECT ref_code, count(*) FILTER (WHERE NOT is_bot) AS clicks, count(*) FILTER (WHERE is_unique) AS uniq FROM clicks GROUP BY ref_code
			) r FULL JOIN (SELECT ref_code, sum(clicks) AS clicks, sum(unique_clicks) AS uniq FROM click_daily GROUP BY ref_code) d USING (ref_code)
			WHERE r.clicks IS DISTINCT FROM d.clicks OR r.uniq IS DISTINCT FROM d.uniq
		) x`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d links whose counters disagree with their raw clicks (%v)", bad, err)
	}
	var appClicks, appUnique, rawClicks, rawUnique int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT sum(clicks) FROM app_click_daily), (SELECT sum(unique_clicks) FROM app_click_daily),
		(SELECT count(*) FROM clicks WHERE NOT is_bot), (SELECT count(*) FROM clicks WHERE is_unique)`).Scan(&appClicks, &appUnique, &rawClicks, &rawUnique); err != nil {
		t.Fatal(err)
	}
	if appClicks != rawClicks || appUnique != rawUnique {
		t.Fatalf("the program's counters: %d clicks, %d unique; the raw rows: %d, %d", appClicks, appUnique, rawClicks, rawUnique)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM clicks WHERE is_unique GROUP BY ref_code, visitor_hash HAVING count(*) > 1) x").Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d visitors counted unique twice on a link within the window (%v)", bad, err)
	}
	if rawUnique == 0 || rawUnique > 150 {
		t.Fatalf("%d unique clicks from 150 visitors on 3 links (a visitor's clicks go to one link)", rawUnique)
	}
}
