package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/db/migrations"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/workflows"
)

// The dashboard-read data set: one program with readCreators creators and a
// year of history, skewed so that one creator has a large share of it.
const (
	readCreators = 1000
	historyDays  = 365
)

// benchReads loads readClicks clicks and readConversions conversions (one
// referral each) with their ledger transfers, checks that the rollups agree
// with what was loaded, then drives a creator's balance and the program's
// 90-day stats through the API at a fixed rate and reports p50/p95/p99,
// with the query plans.
func benchReads(ctx context.Context) error {
	d, err := testenv.NewDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Drop()
	app, err := programs.CreateApp(ctx, d.Pool, programs.NewApp{Name: "Reads", CommissionBPS: 3000, Hold: programs.DefaultHold})
	if err != nil {
		return err
	}
	start := time.Now()
	top, err := loadHistory(ctx, d, app.App.ID)
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	var clicks, convs, transfers int64
	_ = d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM clicks), (SELECT count(*) FROM conversions), (SELECT count(*) FROM ledger_transfers)`).Scan(&clicks, &convs, &transfers)
	q := db.New(d.Pool)
	drift, err := ledger.CheckRollups(ctx, q)
	if err != nil {
		return err
	}
	var topConvs int64
	_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM conversions WHERE ref_code = $1`, top.ref).Scan(&topConvs)
	fmt.Printf("reads: loaded %d clicks, %d conversions, %d ledger transfers in %s; busiest creator has %d conversions; rollups agree with the rows: %v\n",
		clicks, convs, transfers, loaded.Round(time.Second), topConvs, len(drift) == 0)
	if _, err := d.Pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}

	svc := service.New(d.Pool, workflows.Client{}, time.Hour)
	defer svc.Close()
	url, stop := serve("system", api.New(api.Deps{Service: svc, Logger: slog.Default()}))
	defer stop()
	auth := http.Header{"Authorization": {"Bearer " + app.SecretKey}}
	for _, r := range []struct{ name, path string }{
		{"reads: a creator's balance (busiest creator)", "/api/creators/" + top.ref + "/balance"},
		{"reads: program stats over 90 days", "/api/stats?days=90"},
		{"reads: a creator's all-time link stats", "/api/creators/" + top.ref + "/stats"},
	} {
		res := readAttack(r.name, url+r.path, auth)
		fmt.Printf("%-48s %10.0f %9.2f %9.2f %9.2f %5d/%d   target p95 < 20 ms: %v\n", r.name, res.rps, res.p50, res.p95, res.p99, res.ok, res.total, res.p95 < 20)
	}

	// The dashboard's pages, signed in as the program's owner and as its
	// busiest creator.
	ownerCookie, err := benchLogin(ctx, svc, d, url, "owner@bench.example", `UPDATE apps SET owner_id = $1 WHERE id = $2`, app.App.ID)
	if err != nil {
		return err
	}
	creatorCookie, err := benchLogin(ctx, svc, d, url, "creator@bench.example", `UPDATE creators SET user_id = $1 WHERE id = $2`, top.creator)
	if err != nil {
		return err
	}
	for _, r := range []struct {
		name, path string
		cookie     string
	}{
		{"pages: program overview, 90 days", "/apps/" + app.App.ID + "?days=90", ownerCookie},
		{"pages: program setup", "/apps/" + app.App.ID + "/setup", ownerCookie},
		{"pages: creator dashboard (busiest creator)", "/dashboard", creatorCookie},
	} {
		for _, rate := range []int{*readRate, *pageRate} {
			name := fmt.Sprintf("%s at %d/s", r.name, rate)
			res := readAttackAt(name, url+r.path, http.Header{"Cookie": {r.cookie}}, rate)
			fmt.Printf("%-48s %10.0f %9.2f %9.2f %9.2f %5d/%d   target p95 < 50 ms: %v\n", name, res.rps, res.p50, res.p95, res.p99, res.ok, res.total, res.p95 < 50)
		}
	}

	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, e := range []struct {
		title, sql string
		args       []any
	}{
		{"balance (rollup, what the API runs)", db.QueryText["GetCreatorBalance"], []any{app.App.ID, top.creator}},
		{"program stats over 90 days (rollups, what the API runs)", db.QueryText["ProgramDays"], []any{app.App.ID, today.AddDate(0, 0, -89), today}},
		{"balance summed from the ledger (without the rollup)", db.QueryText["CreatorBalances"], []any{app.App.ID, top.creator}},
		{"the overview's creators, first page of 25 over 90 days", db.QueryText["ProgramCreators"], []any{today.AddDate(0, 0, -89), today, app.App.ID, 0, 25}},
		{"the overview's newest conversions", db.QueryText["RecentConversions"], []any{app.App.ID, 25}},
	} {
		plan, err := explain(ctx, d, e.sql, e.args...)
		if err != nil {
			return err
		}
		fmt.Printf("\nEXPLAIN ANALYZE: %s\n%s", e.title, plan)
	}
	fmt.Println()
	return nil
}

// readResult has the p95 the dashboard target is about.
type readResult struct {
	result
	p95 float64
}

// readAttack drives GETs at a fixed rate (open loop, so a slow answer
// cannot hold the next request back and hide its own latency).
func readAttack(name, url string, header http.Header) readResult {
	return readAttackAt(name, url, header, *readRate)
}

// readAttackAt is readAttack at rate requests per second.
func readAttackAt(name, url string, header http.Header, rate int) readResult {
	a := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second))
	var lat []time.Duration
	var ok, total uint64
	var m vegeta.Metrics
	for res := range a.Attack(vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url, Header: header}),
		vegeta.Rate{Freq: rate, Per: time.Second}, *duration, name) {
		m.Add(res)
		total++
		if res.Code == 200 {
			ok++
			lat = append(lat, res.Latency)
		}
	}
	m.Close()
	return readResult{
		result: result{name: name, rps: float64(ok) / m.Duration.Seconds(), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), ok: ok, total: total},
		p95:    quantile(lat, 0.95),
	}
}

// busiest is the creator with the largest share of the loaded history.
type busiest struct{ ref, creator string }

// loadHistory writes a year of one program's history in bulk SQL: creators
// and their ref codes, raw clicks with the per-day counters the click writer
// keeps, referrals, conversions with their commission split as
// internal/commission computes it, and their ledger transfers (credited, and
// released for those past the 14-day hold). Rows are made consistent by
// construction, so the load skips the per-row foreign-key and rollup
// triggers (session_replication_role = replica: a row trigger per row of
// 15 million would take most of the run) and then builds the rollups with
// the backfill of migration 00004; the drift check that follows confirms
// them, and the triggers themselves are tested in the test suite.
func loadHistory(ctx context.Context, d *testenv.Database, appID string) (busiest, error) {
	backfill, err := rollupBackfill()
	if err != nil {
		return busiest{}, err
	}
	steps := []string{
		fmt.Sprintf(`INSERT INTO creators (id, email) SELECT 'cr_bench' || i, 'creator' || i || '@example.com' FROM generate_series(0, %d) i`, readCreators-1),
		fmt.Sprintf(`INSERT INTO ref_codes (code, app_id, creator_id) SELECT 'ref' || lpad(i::text, 5, '0'), $1, 'cr_bench' || i FROM generate_series(0, %d) i`, readCreators-1),
		// Creator i's share falls off as a power law: creator 0 has about 10%.
		fmt.Sprintf(`INSERT INTO clicks (ref_code, app_id, visitor_hash, is_unique, is_bot, created_at)
			SELECT 'ref' || lpad(floor(%[1]d * power(random(), 3))::int::text, 5, '0'), $1,
			       decode(md5(i::text), 'hex'), i %% 3 = 0, false, now() - random() * interval '%[2]d days'
			FROM generate_series(1, %[3]d) i`, readCreators, historyDays, *readClicks),
		`INSERT INTO click_daily (ref_code, day, clicks, unique_clicks)
			SELECT ref_code, (created_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE is_unique)
			FROM clicks WHERE NOT is_bot GROUP BY 1, 2`,
		fmt.Sprintf(`CREATE TEMP TABLE load AS
			SELECT i, 'ref' || lpad(c::text, 5, '0') AS ref_code, 'cr_bench' || c AS creator_id,
			       now() - random() * interval '%[1]d days' AS created_at, 1000 + (i::bigint * 7919) %% 99000 AS amount
			FROM generate_series(1, %[2]d) i, LATERAL (SELECT floor(%[3]d * power(random() + i * 0, 3))::int AS c) x`,
			historyDays, *readConversions, readCreators),
		`INSERT INTO referrals (id, app_id, ref_code, creator_id, user_id, created_at)
			SELECT 'rfl_bench' || i, $1, ref_code, creator_id, 'user' || i, created_at - interval '1 hour' FROM load`,
		`INSERT INTO conversions (id, app_id, ref_code, creator_id, referral_id, user_id, dedupe_key, amount_cents, currency,
		                          commission_bps, commission_cents, platform_fee_cents, net_commission_cents, status,
		                          workflow_id, created_at, available_at, released_at)
			SELECT 'cv_bench' || i, $1, ref_code, creator_id, 'rfl_bench' || i, 'user' || i, 'in_' || i, amount, 'usd',
			       3000, commission, fee, commission - fee,
			       CASE WHEN created_at + interval '14 days' < now() THEN 'available' ELSE 'pending' END,
			       'conversion-cv_bench' || i, created_at, created_at + interval '14 days',
			       CASE WHEN created_at + interval '14 days' < now() THEN created_at + interval '14 days' END
			FROM (SELECT *, (amount * 3000 + 5000) / 10000 AS commission FROM load) a,
			     LATERAL (SELECT (commission * 500 + 5000) / 10000 AS fee) f`,
		`INSERT INTO ledger_transfers (transfer_key, app_id, creator_id, conversion_id, debit_account, credit_account, amount_cents, kind, created_at)
			SELECT k || id, app_id, creator_id, id, debit, credit, amt, kind, at
			FROM conversions,
			LATERAL (VALUES ('credit:net:', 'app', 'creator_pending', net_commission_cents, 'credit', created_at),
			                ('credit:fee:', 'app', 'platform_pending', platform_fee_cents, 'credit', created_at),
			                ('release:net:', 'creator_pending', 'creator_available', CASE WHEN status = 'available' THEN net_commission_cents END, 'release', released_at),
			                ('release:fee:', 'platform_pending', 'platform_revenue', CASE WHEN status = 'available' THEN platform_fee_cents END, 'release', released_at)
			) t(k, debit, credit, amt, kind, at)
			WHERE amt IS NOT NULL AND amt > 0`,
	}
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		return busiest{}, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		return busiest{}, err
	}
	for i, sql := range steps {
		args := []any{}
		if strings.Contains(sql, "$1") {
			args = append(args, appID)
		}
		t := time.Now()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			return busiest{}, fmt.Errorf("load step %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "reads: load step %d took %s\n", i+1, time.Since(t).Round(time.Millisecond))
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = origin"); err != nil {
		return busiest{}, err
	}
	if _, err := conn.Exec(ctx, backfill); err != nil {
		return busiest{}, fmt.Errorf("rollup backfill: %w", err)
	}
	return busiest{ref: "ref00000", creator: "cr_bench0"}, nil
}

// rollupBackfill is the part of migrations 00004 and 00009 that builds the
// rollups from the rows already there.
func rollupBackfill() (string, error) {
	b, err := fs.ReadFile(migrations.FS, "00004_rollups.sql")
	if err != nil {
		return "", err
	}
	s := string(b)
	i, j := strings.Index(s, "-- What was there before the triggers."), strings.Index(s, "-- +goose Down")
	if i < 0 || j < i {
		return "", errors.New("migration 00004 has no backfill section")
	}
	earnings, err := fs.ReadFile(migrations.FS, "00009_dashboard.sql")
	if err != nil {
		return "", err
	}
	e := string(earnings)
	k, l := strings.Index(e, "-- Earnings before the triggers counted them."), strings.Index(e, "-- End of the earnings backfill.")
	if k < 0 || l < k {
		return "", errors.New("migration 00009 has no earnings backfill section")
	}
	return s[i:j] + "\n" + e[k:l], nil
}

func explain(ctx context.Context, d *testenv.Database, sql string, args ...any) (string, error) {
	// Warm, as the dashboard's queries are: the plan of a repeated read.
	for range 3 {
		if _, err := d.Pool.Exec(ctx, sql, args...); err != nil {
			return "", err
		}
	}
	rows, err := d.Pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString("    " + line + "\n")
	}
	return b.String(), rows.Err()
}

// benchLogin makes an account, ties it to the bench's program with link
// (an UPDATE taking the account id and id), logs in through the dashboard
// and returns the session cookie.
func benchLogin(ctx context.Context, svc *service.Service, d *testenv.Database, base, email, link, id string) (string, error) {
	acct, err := svc.CreateAccount(ctx, email, "bench password", false)
	if err != nil {
		return "", err
	}
	if _, err := d.Pool.Exec(ctx, link, acct.ID, id); err != nil {
		return "", err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(base+"/login", neturl.Values{"email": {email}, "password": {"bench password"}})
	if err != nil {
		return "", err
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "agentlinks_session" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("login as %s answered %d without a session", email, res.StatusCode)
}
