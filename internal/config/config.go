// Package config reads AgentLinks' configuration from the environment, with
// defaults that work on a developer machine.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the binary.
type Config struct {
	DatabaseURL       string        // DATABASE_URL
	TemporalAddress   string        // TEMPORAL_ADDRESS
	TemporalNamespace string        // TEMPORAL_NAMESPACE
	TemporalUIURL     string        // TEMPORAL_UI_URL: links from answers and the dashboard
	TaskQueue         string        // TASK_QUEUE
	HTTPAddr          string        // HTTP_ADDR
	DataDir           string        // DATA_DIR: dev mode's Temporal database file
	TemporalCLI       string        // TEMPORAL_CLI: the temporal binary dev mode runs
	ClickDedupeWindow time.Duration // CLICK_DEDUPE_WINDOW: one unique click per visitor per ref per window
	LogLevel          string        // LOG_LEVEL: debug, info, warn, error
	PublicURL         string        // PUBLIC_URL: this API as browsers and Stripe reach it
	RateLimit         int           // RATE_LIMIT_PER_MINUTE: tracking calls per client address (x10 per ref); 0 is off
	TrustedProxies    []string      // TRUSTED_PROXIES: proxies whose X-Forwarded-For names the client
	APIWorker         bool          // API_WORKER: the api role runs the worker too, and answers conversions from it
	// PAYOUT_BALANCE_RETRY: how long a payout transfer waits after Stripe
	// said the platform's balance cannot cover it yet (default 30m).
	PayoutBalanceRetry time.Duration
	// WEBHOOK_ALLOW_PRIVATE: outbound webhook endpoints may be on loopback
	// and private addresses, and plain http (dev mode sets it; production
	// refuses them).
	WebhookAllowPrivate bool
	// WEBHOOK_RETRY_INITIAL, WEBHOOK_RETRY_MAX, WEBHOOK_RETRY_FOR: a
	// delivery's first retry, the longest wait between retries, and how
	// long it is retried in all (30s, 4h, 72h).
	WebhookRetryInitial, WebhookRetryMax, WebhookRetryFor time.Duration
	// LEDGER_CHECK_INTERVAL: how often the worker checks the books for the
	// metrics (agentlinks_ledger_check_failures); 0 turns it off.
	LedgerCheckInterval time.Duration

	Stripe Stripe
	Worker WorkerSizing
}

// Stripe is the Stripe side of the configuration. Without the keys the
// Connect integration is off and says so.
type Stripe struct {
	SecretKey     string // STRIPE_SECRET_KEY: the platform's key
	ClientID      string // STRIPE_CLIENT_ID: the Connect application, ca_…
	WebhookSecret string // STRIPE_WEBHOOK_SECRET: the Connect webhook's signing secret
	// STRIPE_PLATFORM_WEBHOOK_SECRET: the signing secret of the endpoint
	// for the platform account's own events (transfer.reversed), which
	// Stripe signs apart from Connect events; optional, same URL.
	PlatformWebhookSecret string
	APIBase               string // STRIPE_API_BASE: empty for api.stripe.com; stripe-mock in tests
	ConnectBase           string // STRIPE_CONNECT_BASE: empty for connect.stripe.com
	// ParkAfter is how long an event that cannot be processed yet (a
	// refund that arrived before its payment) is retried before it is
	// parked for an operator. STRIPE_PARK_AFTER.
	ParkAfter time.Duration
}

// DefaultStripeParkAfter is STRIPE_PARK_AFTER's default, and what a Stripe
// event workflow started without one uses.
const DefaultStripeParkAfter = time.Hour

// PayoutsOn says whether creators can be paid through Stripe: charges and
// transfers need the key, and payout accounts' state arrives as events.
func (s Stripe) PayoutsOn() bool { return s.SecretKey != "" && s.WebhookSecret != "" }

// ConnectBaseURL is where Connect's OAuth screens are.
func (s Stripe) ConnectBaseURL() string {
	if s.ConnectBase == "" {
		return "https://connect.stripe.com"
	}
	return s.ConnectBase
}

// WorkerSizing sizes the Temporal worker on purpose (see docs/operating.md,
// "Sizing the worker"): its memory is bounded by the sticky cache, not by
// how many conversions are on hold.
type WorkerSizing struct {
	CacheSize        int // WORKER_CACHE_SIZE: workflows kept in the sticky cache (process-wide)
	WorkflowPollers  int // WORKER_WORKFLOW_POLLERS: concurrent workflow-task polls
	ActivityPollers  int // WORKER_ACTIVITY_POLLERS: concurrent activity-task polls
	MaxWorkflowTasks int // WORKER_MAX_WORKFLOW_TASKS: workflow tasks run at once
	MaxActivities    int // WORKER_MAX_ACTIVITIES: activities (and local activities) run at once
}

// DefaultWorkerSizing is what the worker runs with unless told otherwise.
var DefaultWorkerSizing = WorkerSizing{CacheSize: 2000, WorkflowPollers: 8, ActivityPollers: 4, MaxWorkflowTasks: 200, MaxActivities: 100}

// FromEnv reads the configuration; a malformed value is an error, not a
// silent default.
func FromEnv() (Config, error) {
	c := Config{
		DatabaseURL:       env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentlinks?sslmode=disable"),
		TemporalAddress:   env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: env("TEMPORAL_NAMESPACE", "default"),
		TemporalUIURL:     env("TEMPORAL_UI_URL", "http://localhost:8233"),
		TaskQueue:         env("TASK_QUEUE", "agentlinks"),
		HTTPAddr:          env("HTTP_ADDR", "127.0.0.1:8080"),
		DataDir:           env("DATA_DIR", ".data"),
		TemporalCLI:       env("TEMPORAL_CLI", ""),
		LogLevel:          env("LOG_LEVEL", "info"),

		Stripe: Stripe{
			SecretKey:             env("STRIPE_SECRET_KEY", ""),
			ClientID:              env("STRIPE_CLIENT_ID", ""),
			WebhookSecret:         env("STRIPE_WEBHOOK_SECRET", ""),
			PlatformWebhookSecret: env("STRIPE_PLATFORM_WEBHOOK_SECRET", ""),
			APIBase:               env("STRIPE_API_BASE", ""),
			ConnectBase:           env("STRIPE_CONNECT_BASE", ""),
		},
	}
	c.PublicURL = env("PUBLIC_URL", "http://"+c.HTTPAddr)
	var err error
	if c.ClickDedupeWindow, err = duration("CLICK_DEDUPE_WINDOW", time.Hour); err != nil {
		return c, err
	}
	if c.Stripe.ParkAfter, err = duration("STRIPE_PARK_AFTER", DefaultStripeParkAfter); err != nil {
		return c, err
	}
	if c.PayoutBalanceRetry, err = duration("PAYOUT_BALANCE_RETRY", 30*time.Minute); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"WEBHOOK_RETRY_INITIAL", &c.WebhookRetryInitial, 30 * time.Second},
		{"WEBHOOK_RETRY_MAX", &c.WebhookRetryMax, 4 * time.Hour},
		{"WEBHOOK_RETRY_FOR", &c.WebhookRetryFor, 72 * time.Hour},
		{"LEDGER_CHECK_INTERVAL", &c.LedgerCheckInterval, 15 * time.Minute},
	} {
		if *d.v, err = duration(d.name, d.def); err != nil {
			return c, err
		}
		if *d.v < 0 || (*d.v == 0 && d.name != "LEDGER_CHECK_INTERVAL") {
			return c, fmt.Errorf("%s=%q: want a positive duration", d.name, os.Getenv(d.name))
		}
	}
	if c.WebhookAllowPrivate, err = strconv.ParseBool(env("WEBHOOK_ALLOW_PRIVATE", "false")); err != nil {
		return c, fmt.Errorf("WEBHOOK_ALLOW_PRIVATE=%q: want true or false", os.Getenv("WEBHOOK_ALLOW_PRIVATE"))
	}
	if c.RateLimit, err = strconv.Atoi(env("RATE_LIMIT_PER_MINUTE", "600")); err != nil || c.RateLimit < 0 {
		return c, fmt.Errorf("RATE_LIMIT_PER_MINUTE=%q: want a whole number, 0 to turn the limits off", os.Getenv("RATE_LIMIT_PER_MINUTE"))
	}
	if v := env("TRUSTED_PROXIES", ""); v != "" {
		c.TrustedProxies = strings.Split(v, ",")
	}
	if c.APIWorker, err = strconv.ParseBool(env("API_WORKER", "false")); err != nil {
		return c, fmt.Errorf("API_WORKER=%q: want true or false", os.Getenv("API_WORKER"))
	}
	c.Worker = DefaultWorkerSizing
	for _, f := range []struct {
		name string
		v    *int
	}{
		{"WORKER_CACHE_SIZE", &c.Worker.CacheSize},
		{"WORKER_WORKFLOW_POLLERS", &c.Worker.WorkflowPollers},
		{"WORKER_ACTIVITY_POLLERS", &c.Worker.ActivityPollers},
		{"WORKER_MAX_WORKFLOW_TASKS", &c.Worker.MaxWorkflowTasks},
		{"WORKER_MAX_ACTIVITIES", &c.Worker.MaxActivities},
	} {
		v := os.Getenv(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%s=%q: want a whole number, at least 1", f.name, v)
		}
		*f.v = n
	}
	return c, nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func duration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return d, nil
}
