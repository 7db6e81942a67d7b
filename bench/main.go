// Command bench measures AgentLinks against the ceiling on the same machine
// in the same run, and prints a table (see BENCHMARKS.md):
//
//	go run ./bench                      # clicks and conversions
//	go run ./bench -only clicks -duration 20s
//
// It starts what it measures: a fresh database on the local PostgreSQL, a
// Temporal dev server on a database file with the WAL pragmas, the API and
// the worker in this process, and vegeta as the load generator on loopback.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/worker"
)

var (
	cpuProfile          = flag.String("cpuprofile", "", "write a CPU profile of the whole run here (the HTTP sides are labelled: go tool pprof -tagfocus side=system)")
	only                = flag.String("only", "clicks,conversions,holds,reads", "which benchmarks to run: clicks, conversions, ladder (where a conversion's Temporal time goes), holds, reads")
	duration            = flag.Duration("duration", 10*time.Second, "how long each side is driven")
	concurrency         = flag.Int("concurrency", 64, "concurrent requests the load generator keeps in flight")
	conversionsByUpdate = flag.Bool("conversions-by-update", false, "conversions: answer from the record update (Update-With-Start), as an API without a worker in its process does")
	generator           = flag.String("generator", "vegeta", "clicks: vegeta (in this process) or wrk (Debian's, in its own process)")
	rounds              = flag.Int("rounds", 3, "clicks: rounds of ceiling and system, alternating which goes first; the ratio is the rounds' median")
	httpServers         = flag.Bool("http-servers", false, "clicks: instead, the bare ceiling's handler on Gin, on net/http alone and on fasthttp (what the HTTP server costs)")

	readClicks      = flag.Int("read-clicks", 10_000_000, "reads: clicks loaded")
	readConversions = flag.Int("read-conversions", 1_000_000, "reads: conversions loaded")
	readRate        = flag.Int("read-rate", 200, "reads: requests per second, fixed rate")
	pageRate        = flag.Int("page-rate", 20, "reads: dashboard pages are also driven at this rate (page views per second)")

	holds         = flag.Int("holds", 100_000, "holds: conversions on hold at once")
	holdFor       = flag.Duration("hold", 45*time.Minute, "holds: the program's hold period: longer than the load (35 minutes for 100k on the dev server here), so that all are on hold at once")
	holdsCache    = flag.Int("holds-cache", 2000, "holds: the worker's sticky workflow cache")
	temporalShape = flag.String("temporal", "dev", "conversions and holds: dev (dev server on a SQLite file, WAL) or full (Temporal server 1.29.1 on PostgreSQL, make temporal-server)")
)

func main() {
	flag.Parse()
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1")
		os.Exit(2)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	gin.SetMode(gin.ReleaseMode)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type result struct {
	name          string
	rps, p50, p99 float64 // requests per second; latencies in ms
	ok, total     uint64
	generatorCPU  time.Duration // the load generator's CPU, when it ran as its own process (wrk)
}

func run(ctx context.Context) error {
	d, err := testenv.NewDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Drop()
	app, err := programs.CreateApp(ctx, d.Pool, programs.NewApp{Name: "Bench", CommissionBPS: 3000, Hold: programs.DefaultHold})
	if err != nil {
		return err
	}
	en, err := programs.Enroll(ctx, d.Pool, app.App.ID, "bench@example.com")
	if err != nil {
		return err
	}
	fmt.Printf("machine: %s; load: %d in flight, %s per side, loopback\n\n", machine(), *concurrency, *duration)
	if strings.Contains(*only, "clicks") || strings.Contains(*only, "conversions") {
		fmt.Printf("%-48s %10s %9s %9s %9s\n", "", "req/s", "p50 ms", "p99 ms", "ok")
	}
	if strings.Contains(*only, "clicks") {
		if err := benchClicks(ctx, d, app.App.ID, en.RefCode); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "conversions") {
		if err := benchConversions(ctx, d, app.SecretKey, en.RefCode); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "ladder") {
		if err := benchLadder(ctx); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "holds") {
		if err := benchHolds(ctx); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "reads") {
		fmt.Printf("%-48s %10s %9s %9s %9s %9s\n", "", "req/s", "p50 ms", "p95 ms", "p99 ms", "ok")
		if err := benchReads(ctx); err != nil {
			return err
		}
	}
	return nil
}

// devTemporal starts a Temporal dev server on a database file with the WAL
// pragmas and connects to it; stop closes both and removes the file.
func devTemporal(ctx context.Context) (client.Client, func(), error) {
	dir, err := os.MkdirTemp("", "agentlinks-bench-")
	if err != nil {
		return nil, nil, err
	}
	addr, err := temporaldev.FreeAddress()
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	srv, err := temporaldev.Start(ctx, temporaldev.Options{Address: addr, DBFile: filepath.Join(dir, "temporal.db")})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	tc, err := dialTemporal(ctx, addr)
	if err != nil {
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return tc, func() { tc.Close(); srv.Stop(); os.RemoveAll(dir) }, nil
}

// shapedTemporal starts the server -temporal names (startTemporal) and
// connects to it; stop closes both.
func shapedTemporal(ctx context.Context) (client.Client, func(), error) {
	if *temporalShape == "dev" {
		return devTemporal(ctx)
	}
	dir, err := os.MkdirTemp("", "agentlinks-bench-")
	if err != nil {
		return nil, nil, err
	}
	addr, stop, shape, err := startTemporal(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	fmt.Printf("conversions on the %s\n", shape)
	tc, err := dialTemporal(ctx, addr)
	if err != nil {
		stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return tc, func() { tc.Close(); stop(); os.RemoveAll(dir) }, nil
}

// dialTemporal connects to the server and registers the search attributes
// the conversion workflow sets.
func dialTemporal(ctx context.Context, addr string) (client.Client, error) {
	tc, err := client.Dial(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(slog.Default())})
	if err != nil {
		return nil, err
	}
	if err := worker.EnsureSearchAttributes(ctx, tc, "default"); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// startLoop starts trivial workflows from *concurrency goroutines; with
// wait, each goroutine also waits for its workflow to end.
func startLoop(ctx context.Context, tc client.Client, name string, wait bool) result {
	return drive(name, func(i int64) error {
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprint("trivial-", wait, "-", i), TaskQueue: "bench-trivial"}, "Trivial")
		if err == nil && wait {
			err = run.Get(ctx, nil)
		}
		return err
	})
}

// drive calls f from *concurrency goroutines for *duration, each call with
// a new sequence number, and reports the rate and latency of the calls that
// succeeded.
func drive(name string, f func(i int64) error) result {
	var lat []time.Duration
	var mu sync.Mutex
	var ok, total atomic.Uint64
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				start := time.Now()
				err := f(seq.Add(1))
				total.Add(1)
				if err == nil {
					ok.Add(1)
					mine = append(mine, time.Since(start))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{name: name, rps: float64(ok.Load()) / duration.Seconds(),
		p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), ok: ok.Load(), total: total.Load()}
}

func attack(name, url string, body func(*vegeta.Target) error, want int) result {
	targeter := func(tgt *vegeta.Target) error {
		tgt.URL = url
		return body(tgt)
	}
	a := vegeta.NewAttacker(vegeta.Workers(uint64(*concurrency)), vegeta.MaxWorkers(uint64(*concurrency)),
		vegeta.KeepAlive(true), vegeta.Connections(*concurrency), vegeta.Timeout(30*time.Second))
	var m vegeta.Metrics
	var lat []time.Duration
	var ok uint64
	for res := range a.Attack(targeter, vegeta.Rate{Freq: 0}, *duration, name) {
		m.Add(res)
		if int(res.Code) == want {
			ok++
			lat = append(lat, res.Latency)
		}
	}
	m.Close()
	return result{name: name, rps: float64(ok) / m.Duration.Seconds(), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), ok: ok, total: m.Requests}
}

func print(r result) {
	fmt.Printf("%-48s %10.0f %9.2f %9.2f %5d/%d\n", r.name, r.rps, r.p50, r.p99, r.ok, r.total)
}

func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sortDurations(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}

// serve serves h on a loopback port. Its goroutines carry the pprof label
// side=name, so that -cpuprofile can be read one side at a time
// (go tool pprof -tagfocus side=system).
func serve(name string, h http.Handler) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: h}
	pprof.Do(context.Background(), pprof.Labels("side", name), func(context.Context) {
		go func() { _ = srv.Serve(l) }()
	})
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }
}

func countClicks(ctx context.Context, d *testenv.Database) int64 {
	var n int64
	_ = d.Pool.QueryRow(ctx, "SELECT count(*) FROM clicks").Scan(&n)
	return n
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
			break
		}
	}
	cores := strings.Count(string(b), "processor\t:")
	j, _ := json.Marshal(model)
	return fmt.Sprintf("%d cores, %s", cores, j)
}

func sortDurations(s []time.Duration) { slices.Sort(s) }

// autoAnalyze runs ANALYZE on the bench's database every 30 seconds until
// stop is called, as PostgreSQL's autovacuum would: this machine's server
// runs with autovacuum off (its CI configuration). Without it the tables
// keep the statistics of their first, empty moments, and a statement
// prepared then keeps a plan chosen for an empty table: during a long load,
// the lookup of a conversion by its dedupe key scanned the program's whole
// conversion index, and the load slowed as the table grew (BENCHMARKS.md,
// Holds).
func autoAnalyze(ctx context.Context, d *testenv.Database) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := d.Pool.Exec(ctx, "ANALYZE"); err != nil && ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "bench: analyze:", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
