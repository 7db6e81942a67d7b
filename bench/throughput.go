package main

// The two throughput sides: clicks and conversions, each against its ceiling.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/worker"
	"github.com/agentlinks/agentlinks/workflows"
)

// clickMix is how a side's clicks are sent.
type clickMix struct {
	name   string
	path   string // the endpoint's path and query
	header func(i int64) http.Header
	body   func(i int64) []byte
}

// bareClicks are the bench's first clicks: a flat body naming its visitor,
// no User-Agent, no Origin.
func bareClicks(ref string) clickMix {
	return clickMix{name: "bare body", path: "/api/track/click",
		header: func(int64) http.Header { return http.Header{"Content-Type": {"application/json"}} },
		body: func(i int64) []byte {
			return fmt.Appendf(nil, `{"ref":%q,"url":"https://shop.example.com/","visitor_id":"v%d"}`, ref, i%5000)
		}}
}

// browserClicks are clicks as agentlinks.js sends them from a shop's
// pages: ?app_id= and the shop's Origin, {ref, url, referrer}, a real
// browser's User-Agent (desktop and mobile, 5% crawlers and previewers),
// 5000 visitors told apart by their address (X-Forwarded-For from the
// trusted load balancer) and agent.
func browserClicks(appID, ref string) (clickMix, error) {
	agents, err := agentMix()
	if err != nil {
		return clickMix{}, err
	}
	referrers := []string{"https://www.instagram.com/", "https://t.co/", "https://www.youtube.com/", "", "https://www.google.com/"}
	return clickMix{name: "browser mix", path: "/api/track/click?app_id=" + appID,
		header: func(i int64) http.Header {
			v := i % 5000
			return http.Header{"Content-Type": {"application/json"}, "Origin": {"https://shop.example.com"},
				"User-Agent": {agents[int(i)%len(agents)]}, "X-Forwarded-For": {fmt.Sprintf("10.%d.%d.%d", v/65536, v/256%256, v%256)},
				"Accept": {"*/*"}, "Accept-Language": {"en-US,en;q=0.9"}}
		},
		body: func(i int64) []byte {
			return fmt.Appendf(nil, `{"ref":%q,"url":"https://shop.example.com/products/item-%d?ref=%s","referrer":%q}`,
				ref, i%300, ref, referrers[int(i)%len(referrers)])
		}}, nil
}

// agentMix is 100 agents from the corpus the bot matcher is tested on: 95
// browsers (desktop and mobile, in turn) and 5 crawlers or previewers.
func agentMix() ([]string, error) {
	b, err := os.ReadFile("internal/botua/testdata/agents.txt")
	if err != nil {
		return nil, fmt.Errorf("the agents corpus (run the bench from the repository's root): %w", err)
	}
	var browsers, bots []string
	for _, line := range strings.Split(string(b), "\n") {
		kind, ua, _ := strings.Cut(line, ": ")
		switch {
		case kind == "browser" && strings.HasPrefix(ua, "Mozilla/"):
			browsers = append(browsers, ua)
		case kind == "bot":
			bots = append(bots, ua)
		}
	}
	var out []string
	for i := 0; i < 95; i++ {
		out = append(out, browsers[i%len(browsers)])
	}
	for i := 0; i < 5; i++ {
		out = append(out, bots[(i*7)%len(bots)])
	}
	return out, nil
}

// bareClick is the body the ceilings bind.
type bareClick struct {
	Ref, AppID, URL, Referrer, VisitorID string
}

// bareGin is the clicks' ceiling: a bare Gin handler that binds the same
// JSON and answers 202.
func bareGin() *gin.Engine {
	g := gin.New()
	g.POST("/api/track/click", func(c *gin.Context) {
		var req bareClick
		if err := c.ShouldBindJSON(&req); err != nil {
			c.Status(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"accepted": true})
	})
	return g
}

func benchClicks(ctx context.Context, d *testenv.Database, appID, ref string) error {
	bareURL, stopBare := serve("ceiling", bareGin())
	defer stopBare()

	var svc *service.Service // its click writer's goroutine is labelled too
	pprof.Do(ctx, pprof.Labels("side", "system"), func(context.Context) { svc = service.New(d.Pool, workflows.Client{}, time.Hour) })
	defer svc.Close()
	// Behind a load balancer on this host: its X-Forwarded-For names the visitor.
	sysURL, stopSys := serve("system", api.New(api.Deps{Service: svc, Logger: slog.Default(), TrustedProxies: []string{"127.0.0.1"}}))
	defer stopSys()
	if _, err := programs.SetAllowedOrigins(ctx, d.Pool, appID, []string{"https://shop.example.com"}); err != nil {
		return err
	}
	browser, err := browserClicks(appID, ref)
	if err != nil {
		return err
	}
	if *httpServers {
		return benchHTTPServers(ctx, browser)
	}
	for _, mix := range []clickMix{bareClicks(ref), browser} {
		if err := clickRounds(ctx, d, svc, mix, bareURL, sysURL, ref); err != nil {
			return err
		}
	}
	return nil
}

// attackClicks drives url with vegeta, sending mix's clicks.
func attackClicks(name, url string, mix clickMix, body func(int64) []byte, n *int64) result {
	return attack(name, url, func(tgt *vegeta.Target) error {
		i := atomic.AddInt64(n, 1)
		tgt.Method, tgt.Header, tgt.Body = "POST", mix.header(i), body(i)
		return nil
	}, 202)
}

// clickRounds drives the ceiling and the system with one mix of clicks.
func clickRounds(ctx context.Context, d *testenv.Database, svc *service.Service, mix clickMix, bareURL, sysURL, ref string) error {
	var n atomic.Int64
	body := func(tgt *vegeta.Target) error {
		i := n.Add(1)
		tgt.Method, tgt.Header, tgt.Body = "POST", mix.header(i), mix.body(i)
		return nil
	}
	load := func(name, url string) (result, error) {
		if *generator == "wrk" {
			return wrkClicks(name, url, ref, mix.name == "browser mix")
		}
		return attack(name, url, body, 202), nil
	}
	// The two sides alternate for -rounds rounds, the first side changing
	// each round, so that a drift of the machine (the ceiling moved between
	// 21,600 and 35,000 req/s within an hour here) falls on both sides.
	ceilingName := "clicks, " + mix.name + ": bare Gin handler, bind + 202 (ceiling)"
	systemName := "clicks, " + mix.name + ": POST /api/track/click (committed)"
	var ceiling, system []result
	var ceilingCPU, systemCPU []cpuSpent
	before := countClicks(ctx, d)
	batchesBefore := svc.ClickWriterStats()
	for i := range *rounds {
		for j := range 2 {
			name, url := ceilingName, bareURL+mix.path
			if (i+j)%2 == 1 {
				name, url = systemName, sysURL+mix.path
			}
			self0, pg0 := cpuNow()
			allocs0 := allocsNow()
			r, err := load(name, url)
			if err != nil {
				return err
			}
			self1, pg1 := cpuNow()
			spent := cpuSpent{self: self1 - self0, postgres: pg1 - pg0, generator: r.generatorCPU, allocs: allocsNow() - allocs0, requests: r.ok}
			if name == ceilingName {
				ceiling, ceilingCPU = append(ceiling, r), append(ceilingCPU, spent)
			} else {
				system, systemCPU = append(system, r), append(systemCPU, spent)
			}
		}
	}
	var ratios []float64
	var sysOK uint64
	for i := range ceiling {
		first := "ceiling"
		if i%2 == 1 {
			first = "system"
		}
		fmt.Printf("round %d (%s first)\n", i+1, first)
		print(ceiling[i])
		fmt.Printf("%-48s %s\n", "", ceilingCPU[i])
		print(system[i])
		fmt.Printf("%-48s %s\n", "", systemCPU[i])
		ratios = append(ratios, system[i].rps/ceiling[i].rps)
		sysOK += system[i].ok
	}
	slices.Sort(ratios)
	stored := countClicks(ctx, d) - before
	if st := svc.ClickWriterStats(); st.Batches > batchesBefore.Batches {
		b, c := st.Batches-batchesBefore.Batches, st.Clicks-batchesBefore.Clicks
		fmt.Printf("%-48s %d clicks in %d batches (%.1f per batch), %.2f ms per batch\n", "  (the click writer)",
			c, b, float64(c)/float64(b), (st.Flushing-batchesBefore.Flushing).Seconds()*1000/float64(b))
	}
	// Nothing acknowledged may be lost. vegeta waits for every answer, so the
	// counts must be equal; wrk stops with up to one request per connection
	// in flight, which may be stored without its 202 being counted.
	inFlight := int64(0)
	if *generator == "wrk" {
		inFlight = int64(*concurrency) * int64(*rounds)
	}
	fmt.Printf("%-48s %9.0f%%   median of %d rounds (%s); target ≥ 60%%\n", "clicks, "+mix.name+": ratio", 100*ratios[len(ratios)/2], len(ratios), percents(ratios))
	fmt.Printf("%-48s clicks stored %d, 202s %d (+ up to %d in flight at the ends of the rounds): %v\n\n", "clicks, "+mix.name+": nothing lost",
		stored, sysOK, inFlight, stored >= int64(sysOK) && stored <= int64(sysOK)+inFlight)
	return nil
}

// percents formats ratios as "41%, 45%, 48%".
func percents(ratios []float64) string {
	var b strings.Builder
	for i, r := range ratios {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.0f%%", 100*r)
	}
	return b.String()
}

func benchConversions(ctx context.Context, d *testenv.Database, key, ref string) error {
	tc, stopTemporal, err := shapedTemporal(ctx)
	if err != nil {
		return err
	}
	defer stopTemporal()

	// The ceiling: a bare client starting a trivial workflow, with a worker
	// (sized as ours) running it, at the same concurrency. A start is
	// answered once the server has stored it; the workflow's task runs
	// later, so the bench also counts how many of them ran within the
	// window, waits for the rest, and measures a second reference in which
	// the client waits for each trivial workflow to finish, as a conversion
	// waits for its workflow's first task.
	var ran atomic.Int64
	trivial := sdkworker.New(tc, "bench-trivial", worker.Sized(config.DefaultWorkerSizing, sdkworker.Options{}))
	trivial.RegisterWorkflowWithOptions(func(workflow.Context) error {
		ran.Add(1) // the body runs once: it ends in its first task
		return nil
	}, workflow.RegisterOptions{Name: "Trivial"})
	if err := trivial.Start(); err != nil {
		return err
	}
	defer trivial.Stop()
	ref0 := startLoop(ctx, tc, "conversions: bare client starting a trivial workflow (ceiling)", false)
	ranInWindow := ran.Load()
	drained := time.Now()
	for ran.Load() < int64(ref0.ok) && time.Since(drained) < 5*time.Minute {
		time.Sleep(100 * time.Millisecond)
	}
	print(ref0)
	fmt.Printf("%-48s %d of %d started ran within the window; the rest took %.1f s more\n",
		"  (their workflow tasks)", ranInWindow, ref0.ok, time.Since(drained).Seconds())
	ref1 := startLoop(ctx, tc, "conversions: trivial workflow started and ended", true)
	print(ref1)

	// The API and the worker in one process on one client, as `agentlinks
	// dev` and `API_WORKER=true` run them: conversions start eagerly and
	// are answered from the worker's record.
	acts := activities.New(d.Pool)
	acts.Recorded = conversion.NewWaiters()
	w := worker.New(tc, "bench", acts, worker.Sized(config.DefaultWorkerSizing, sdkworker.Options{}))
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	wf := workflows.Client{Temporal: tc, TaskQueue: "bench", Recorded: acts.Recorded}
	if *conversionsByUpdate {
		wf.Recorded = nil
	}
	svc := service.New(d.Pool, wf, time.Hour)
	defer svc.Close()
	sysURL, stop := serve("system", api.New(api.Deps{Service: svc, Logger: slog.Default()}))
	defer stop()
	var n atomic.Int64
	body := func(tgt *vegeta.Target) error {
		tgt.Method = "POST"
		tgt.Header = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
		i := n.Add(1)
		tgt.Body = fmt.Appendf(nil, `{"ref":%q,"user_id":"u%d","amount_cents":%d,"transaction_id":"t%d"}`, ref, i, 1000+i%9000, i)
		return nil
	}
	sys := attack("conversions: POST /api/track/conversion", sysURL+"/api/track/conversion", body, 201)
	print(sys)
	var stored int64
	_ = d.Pool.QueryRow(ctx, "SELECT count(*) FROM conversions").Scan(&stored)
	fmt.Printf("%-48s %9.0f%%   target ≥ 70%%; conversions stored %d = 201s %d: %v\n", "conversions: ratio", 100*sys.rps/ref0.rps, stored, sys.ok, stored == int64(sys.ok))
	fmt.Printf("%-48s %9.0f%%\n\n", "conversions: ratio to started and ended", 100*sys.rps/ref1.rps)
	return nil
}
