package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/metrics"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/worker"
	"github.com/agentlinks/agentlinks/workflows"
)

// deps are the connections every role shares.
type deps struct {
	cfg      config.Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	temporal client.Client
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	// stopTemporalMetrics stops the SDK metrics' reporting loop.
	stopTemporalMetrics func()

	serviceOnce sync.Once
	svc         *service.Service
	// recorded connects the worker's activities to the API when one
	// process runs both (runRoles).
	recorded *conversion.Waiters
	// sessions are the dashboard's, swept every few minutes.
	sessions     *scs.SessionManager
	stopSessions func()
}

func connect(ctx context.Context, cfg config.Config, log *slog.Logger) (*deps, error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database at DATABASE_URL does not answer: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sdkMetrics, stopSDKMetrics := temporalMetrics(reg, log)
	tc, err := client.DialContext(ctx, client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         sdklog.NewStructuredLogger(log.With("component", "temporal")),
		MetricsHandler: sdkMetrics,
	})
	if err != nil {
		stopSDKMetrics()
		pool.Close()
		return nil, fmt.Errorf("temporal at TEMPORAL_ADDRESS=%s: %w", cfg.TemporalAddress, err)
	}
	sessions, stopSessions := api.NewSessions(pool, strings.HasPrefix(cfg.PublicURL, "https://"), 5*time.Minute)
	return &deps{cfg: cfg, log: log, pool: pool, temporal: tc, registry: reg, metrics: metrics.New(reg),
		stopTemporalMetrics: stopSDKMetrics, sessions: sessions, stopSessions: stopSessions}, nil
}

// temporalMetrics is the Temporal SDK's own metrics (schedule-to-start
// latency, sticky cache, task failures, …) on the Prometheus registry,
// through the SDK's tally bridge: temporal_… names, timers as histograms
// in seconds.
// temporalSanitize is the SDK's Prometheus sanitizing for names and label
// keys, but label values keep the characters Temporal's names use:
// Prometheus takes any text there, and an alert must name the task queue
// agentlinks-webhooks as the Temporal UI does, not agentlinks_webhooks.
var temporalSanitize = tally.SanitizeOptions{
	NameCharacters:       sdktally.PrometheusSanitizeOptions.NameCharacters,
	KeyCharacters:        sdktally.PrometheusSanitizeOptions.KeyCharacters,
	ValueCharacters:      tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_', '-', '.', ':', '/', '@'}},
	ReplacementCharacter: tally.DefaultReplacementCharacter,
}

func temporalMetrics(reg *prometheus.Registry, log *slog.Logger) (client.MetricsHandler, func()) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
			300, 900, 3600},
		OnRegisterError: func(err error) { log.Warn("temporal metric not registered", "err", err) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &temporalSanitize,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), func() { _ = closer.Close() }
}

func (d *deps) close() {
	d.stopSessions()
	if d.svc != nil {
		d.svc.Close() // writes the clicks still queued
	}
	d.temporal.Close()
	d.stopTemporalMetrics()
	d.pool.Close()
}

// service is the one service of this process; when the process runs a
// worker beside the API, conversions are answered from that worker.
func (d *deps) service() *service.Service {
	d.serviceOnce.Do(func() {
		wf := workflows.Client{Temporal: d.temporal, TaskQueue: d.cfg.TaskQueue, Recorded: d.recorded}
		d.svc = service.New(d.pool, wf, d.cfg.ClickDedupeWindow).WithStripe(d.cfg.Stripe, d.cfg.PublicURL).WithMetrics(d.metrics)
		d.svc.Webhooks = service.WebhookSettings{AllowPrivate: d.cfg.WebhookAllowPrivate,
			Retry: webhook.Retry{Initial: d.cfg.WebhookRetryInitial, Max: d.cfg.WebhookRetryMax, For: d.cfg.WebhookRetryFor}}
	})
	return d.svc
}

// handler builds the API over the shared connections.
func (d *deps) handler() http.Handler {
	return api.New(api.Deps{
		Service:   d.service(),
		PublicURL: d.cfg.PublicURL, TemporalUIURL: d.cfg.TemporalUIURL, TemporalNamespace: d.cfg.TemporalNamespace,
		Sessions: d.sessions,

		RateLimitPerMinute: d.cfg.RateLimit,
		TrustedProxies:     d.cfg.TrustedProxies,
		Logger:             d.log,
		Registry:           d.registry,
		Ready:              d.ready,
	})
}

// ready says whether the database and Temporal answer.
func (d *deps) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if _, err := d.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	return nil
}

// serveAPI serves the API on l until ctx ends, then drains in-flight
// requests for up to 20 seconds.
func (d *deps) serveAPI(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// Cached refs and apps are dropped when the database announces a change.
	listenCtx, stopListening := context.WithCancel(context.Background())
	defer stopListening()
	go d.service().ListenForChanges(listenCtx, d.pool, d.log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	d.log.Info("api listening", "addr", "http://"+l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("api shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	d.log.Info("api stopped")
	return nil
}

// runWorker polls the task queue until ctx ends, then stops polling and
// lets running tasks finish.
func (d *deps) runWorker(ctx context.Context) error {
	acts := activities.New(d.pool)
	acts.Recorded = d.recorded
	acts.Stripe = stripeapi.New(d.cfg.Stripe)
	acts.Payments = d.service()
	acts.BalanceRetry = d.cfg.PayoutBalanceRetry
	acts.Metrics = d.metrics
	acts.Webhooks = webhook.Client(activities.WebhookTimeout, d.cfg.WebhookAllowPrivate)
	w := worker.New(d.temporal, d.cfg.TaskQueue, acts, worker.Sized(d.cfg.Worker, sdkworker.Options{
		WorkerStopTimeout: 20 * time.Second,
	}))
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer w.Stop()
	hooks := worker.NewWebhooks(d.temporal, d.cfg.TaskQueue, acts)
	if err := hooks.Start(); err != nil {
		return fmt.Errorf("webhook worker: %w", err)
	}
	defer hooks.Stop()
	if err := d.service().EnsurePayoutSchedules(ctx); err != nil {
		d.log.Error("payout schedules", "err", err) // runs still start by hand; the next start tries again
	}
	// What is parked, overdue or open is read from the database when
	// Prometheus scrapes: once, by the worker.
	if err := d.registry.Register(metrics.NewState(db.New(d.pool), d.log)); err != nil {
		d.log.Warn("state metrics", "err", err)
	}
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.service().DispatchWebhooks(bg, 500*time.Millisecond, d.log)
	}()
	if d.cfg.LedgerCheckInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.checkLedger(bg, d.cfg.LedgerCheckInterval)
		}()
	}
	d.log.Info("worker polling", "task_queue", d.cfg.TaskQueue, "namespace", d.cfg.TemporalNamespace,
		"cache_size", d.cfg.Worker.CacheSize, "workflow_pollers", d.cfg.Worker.WorkflowPollers,
		"activity_pollers", d.cfg.Worker.ActivityPollers)
	<-ctx.Done()
	stopBackground()
	wg.Wait()
	d.log.Info("worker stopped")
	return nil
}

// checkLedger checks the books every interval for the metrics (and logs
// what it finds broken); agentlinks verify-ledger does the same on demand.
func (d *deps) checkLedger(ctx context.Context, every time.Duration) {
	for {
		bad, err := ledger.Check(ctx, db.New(d.pool))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d.log.Error("ledger check", "err", err)
		default:
			d.metrics.LedgerChecked(len(bad), time.Now())
			for _, b := range bad {
				d.log.Error("ledger check: invariant broken", "problem", b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// serveOps serves /metrics, /healthz and /readyz for a process that runs
// no API (the worker role), until ctx ends.
func (d *deps) serveOps(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := d.ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	d.log.Info("worker metrics listening", "addr", "http://"+l.Addr().String()+"/metrics")
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// runRoles runs the API (when l is not nil) and the worker (when
// withWorker) until ctx ends or one of them fails.
func (d *deps) runRoles(ctx context.Context, l net.Listener, withWorker bool) error {
	return d.run(ctx, l, false, withWorker)
}

// run runs on l the API, or with ops only /metrics and the health checks,
// and the worker when withWorker.
func (d *deps) run(ctx context.Context, l net.Listener, ops, withWorker bool) error {
	if l != nil && withWorker && !ops {
		// The API answers conversions from this process's worker (eager
		// start); the worker's activities tell it what they record.
		d.recorded = conversion.NewWaiters()
	}
	g, ctx := errgroup.WithContext(ctx)
	switch {
	case l != nil && ops:
		g.Go(func() error { return d.serveOps(ctx, l) })
	case l != nil:
		g.Go(func() error { return d.serveAPI(ctx, l) })
	}
	if withWorker {
		g.Go(func() error { return d.runWorker(ctx) })
	}
	return g.Wait()
}
