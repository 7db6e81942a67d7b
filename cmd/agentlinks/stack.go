package main

import (
	"context"
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
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/service"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
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
	tc, err := client.DialContext(ctx, client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal")),
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("temporal at TEMPORAL_ADDRESS=%s: %w", cfg.TemporalAddress, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sessions, stopSessions := api.NewSessions(pool, strings.HasPrefix(cfg.PublicURL, "https://"), 5*time.Minute)
	return &deps{cfg: cfg, log: log, pool: pool, temporal: tc, registry: reg, sessions: sessions, stopSessions: stopSessions}, nil
}

func (d *deps) close() {
	d.stopSessions()
	if d.svc != nil {
		d.svc.Close() // writes the clicks still queued
	}
	d.temporal.Close()
	d.pool.Close()
}

// service is the one service of this process; when the process runs a
// worker beside the API, conversions are answered from that worker.
func (d *deps) service() *service.Service {
	d.serviceOnce.Do(func() {
		wf := workflows.Client{Temporal: d.temporal, TaskQueue: d.cfg.TaskQueue, Recorded: d.recorded}
		d.svc = service.New(d.pool, wf, d.cfg.ClickDedupeWindow).WithStripe(d.cfg.Stripe, d.cfg.PublicURL)
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
		Ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := d.pool.Ping(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			if _, err := d.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
				return fmt.Errorf("temporal: %w", err)
			}
			return nil
		},
	})
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
	w := worker.New(d.temporal, d.cfg.TaskQueue, acts, worker.Sized(d.cfg.Worker, sdkworker.Options{
		WorkerStopTimeout: 20 * time.Second,
	}))
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if err := d.service().EnsurePayoutSchedules(ctx); err != nil {
		d.log.Error("payout schedules", "err", err) // runs still start by hand; the next start tries again
	}
	d.log.Info("worker polling", "task_queue", d.cfg.TaskQueue, "namespace", d.cfg.TemporalNamespace,
		"cache_size", d.cfg.Worker.CacheSize, "workflow_pollers", d.cfg.Worker.WorkflowPollers,
		"activity_pollers", d.cfg.Worker.ActivityPollers)
	<-ctx.Done()
	w.Stop()
	d.log.Info("worker stopped")
	return nil
}

// runRoles runs the API (when l is not nil) and the worker (when
// withWorker) until ctx ends or one of them fails.
func (d *deps) runRoles(ctx context.Context, l net.Listener, withWorker bool) error {
	if l != nil && withWorker {
		// The API answers conversions from this process's worker (eager
		// start); the worker's activities tell it what they record.
		d.recorded = conversion.NewWaiters()
	}
	g, ctx := errgroup.WithContext(ctx)
	if l != nil {
		g.Go(func() error { return d.serveAPI(ctx, l) })
	}
	if withWorker {
		g.Go(func() error { return d.runWorker(ctx) })
	}
	return g.Wait()
}
