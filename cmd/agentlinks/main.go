// Command agentlinks is the one AgentLinks binary: the API, the worker,
// migrations, the local dev stack and the operator commands. Each area has
// its file: dev.go (the local stack), stack.go (the roles and their
// wiring), programs.go (apps and creators), stripe.go (Stripe Connect),
// ledger.go (verify-ledger), demo.go (the demo shop); command.go is what
// every operator command shares (flags, --json).
//
//	agentlinks dev                 everything on this machine (make dev)
//	agentlinks api | worker        production roles
//	agentlinks migrate             apply database migrations
//	agentlinks apps create ...     create an app (program) and its secret key
//	agentlinks creators create ... enroll a creator and print their ref code
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentlinks/agentlinks/db/migrate"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/worker"
)

const usage = `agentlinks: creator (affiliate) programs for apps.

Usage:
  agentlinks dev                  run the whole stack locally: database, migrations,
                                  Temporal dev server with UI, API and worker
  agentlinks api                  serve the HTTP API (production)
  agentlinks worker               run the Temporal worker (production)
  agentlinks migrate              apply database migrations
  agentlinks verify-ledger [--json]
                                  check every money invariant over the whole database;
                                  exits 1 and prints the offending rows when one fails
  agentlinks demo --app APP_ID [--addr 127.0.0.1:8081] [--api http://127.0.0.1:8080]
                                  serve the demo shop that uses agentlinks.js
  agentlinks apps create --name N --commission-percent 30 [--hold-period 336h]
                         [--keyless-conversions] [--currency usd] [--cookie-days 60] [--owner EMAIL]
                         [--payout-mode stripe|manual] [--min-payout-cents 5000] [--payout-schedule monthly:1|every:14]
                         [--auto-confirm true] [--json]
  agentlinks apps update --app APP_ID [--allowed-origin https://shop.example.com …] [--clear-allowed-origins]
                         [--payout-mode …] [--min-payout-cents N] [--payout-schedule …|off] [--auto-confirm true|false] [--json]
                                  set the sites whose pages may use agentlinks.js (CORS), and how creators are paid
  agentlinks apps payment-method --app APP_ID --customer cus_… --payment-method pm_… [--json]
                                  the card a Stripe program's payout runs charge (the dashboard saves one too)
  agentlinks creators payout-account --creator cr_… --account acct_… [--json]
                                  link a creator to a Stripe Express account made elsewhere
  agentlinks payouts run --app APP_ID [--confirm] [--json]
                                  run payouts now: reserve every creator due; --confirm confirms it and waits
  agentlinks payouts list --app APP_ID [--json]
  agentlinks payouts mark-paid --payout po_… --reference R [--json]
  agentlinks payouts mark-failed --payout po_… --reason R [--json]
                                  a manual program's payout, paid by the owner or not
  agentlinks apps connect-stripe --app APP_ID --account acct_… [--json]
                                  link a Stripe account by hand (support cases)
  agentlinks creators create --app APP_ID --email E [--json]
  agentlinks users create --email E [--role owner|operator] [--json] < password
                                  make a dashboard account; the password is read from standard input
  agentlinks stripe-test-event --type invoice.paid --account acct_… --ref CODE [--amount 10000] [--invoice in_…] [--json]
  agentlinks stripe-test-event --type charge.refunded --account acct_… --invoice in_… --amount 10000 --refunded 5000 [--json]
                                  sign an event with STRIPE_WEBHOOK_SECRET and post it to the webhook
                                  (try Stripe Connect locally, without Stripe)
  agentlinks healthcheck          ask this host's api or worker (HTTP_ADDR) whether it is ready:
                                  exits 0 when /readyz answers 200 (for container health checks)
  agentlinks stripe-events [--status parked] [--json]
                                  list Stripe events by outcome (received, processed, ignored, parked)

With --json an operator command prints one JSON object.

Configuration (environment): DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
HTTP_ADDR, PUBLIC_URL, TASK_QUEUE, DATA_DIR, TEMPORAL_UI_URL, TEMPORAL_CLI,
CLICK_DEDUPE_WINDOW, LOG_LEVEL, STRIPE_SECRET_KEY, STRIPE_CLIENT_ID,
STRIPE_WEBHOOK_SECRET, STRIPE_PLATFORM_WEBHOOK_SECRET, STRIPE_API_BASE, STRIPE_CONNECT_BASE, STRIPE_PARK_AFTER,
PAYOUT_BALANCE_RETRY, WEBHOOK_ALLOW_PRIVATE, WEBHOOK_RETRY_INITIAL, WEBHOOK_RETRY_MAX, WEBHOOK_RETRY_FOR,
LEDGER_CHECK_INTERVAL, RATE_LIMIT_PER_MINUTE, TRUSTED_PROXIES, API_WORKER, WORKER_CACHE_SIZE,
WORKER_WORKFLOW_POLLERS, WORKER_ACTIVITY_POLLERS, WORKER_MAX_WORKFLOW_TASKS, WORKER_MAX_ACTIVITIES.
See docs/operating.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "agentlinks: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "agentlinks: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// operator commands by name ("apps create"); each gets the arguments after
// its name.
var operatorCommands = map[string]func(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error{
	"apps create":             appsCreate,
	"apps update":             appsUpdate,
	"apps connect-stripe":     appsConnectStripe,
	"creators create":         creatorsCreate,
	"creators payout-account": creatorsPayoutAccount,
	"apps payment-method":     appsPaymentMethod,
	"payouts run":             payoutsRun,
	"payouts list":            payoutsList,
	"payouts mark-paid":       payoutsMark(true),
	"payouts mark-failed":     payoutsMark(false),
	"users create":            usersCreate,
	"verify-ledger":           verifyLedger,
	"stripe-events":           stripeEvents,
	"stripe-test-event":       stripeTestEvent,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"a command is required"}
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return dev(ctx, cfg, newLogger(cfg, stderr, false), stderr)
	case "api", "worker":
		return role(ctx, cfg, cmd, newLogger(cfg, stderr, true).With("role", cmd))
	case "migrate":
		return migrate.Up(ctx, cfg.DatabaseURL)
	case "healthcheck":
		return healthcheck(ctx, cfg, stdout)
	case "demo":
		return demo(ctx, rest, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if f, ok := operatorCommands[cmd]; ok {
		return f(ctx, cfg, rest, stdout)
	}
	if len(rest) > 0 {
		if f, ok := operatorCommands[cmd+" "+rest[0]]; ok {
			return f(ctx, cfg, rest[1:], stdout)
		}
	}
	if cmd == "apps" || cmd == "creators" || cmd == "users" || cmd == "payouts" {
		return usageError{fmt.Sprintf("%s: unknown subcommand", cmd)}
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// role runs a production role: the API (with the worker too when
// API_WORKER is set) or the worker.
func role(ctx context.Context, cfg config.Config, name string, log *slog.Logger) error {
	d, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.close()
	withWorker := name == "worker" || cfg.APIWorker
	if withWorker {
		if err := worker.EnsureSearchAttributes(ctx, d.temporal, cfg.TemporalNamespace); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
	}
	// The worker serves /metrics and the health checks on HTTP_ADDR.
	return d.run(ctx, l, name == "worker", withWorker)
}

func newLogger(cfg config.Config, w io.Writer, json bool) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if json {
		h = slog.NewJSONHandler(w, opts)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l
}

// healthcheck asks the process serving HTTP_ADDR on this host for /readyz.
func healthcheck(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s %s", res.Status, body)
	}
	fmt.Fprintf(stdout, "%s", body)
	return nil
}
