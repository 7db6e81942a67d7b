// Command agentlinks is the one AgentLinks binary: the API, the worker,
// migrations, the local dev stack and the operator commands.
//
//	agentlinks dev                 everything on this machine (make dev)
//	agentlinks api | worker        production roles
//	agentlinks migrate             apply database migrations
//	agentlinks apps create ...     create an app (program) and its secret key
//	agentlinks creators create ... enroll a creator and print their ref code
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/db/migrate"
	"github.com/agentlinks/agentlinks/examples/demosite"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/stripeconnect"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/worker"
)

const usage = `agentlinks: creator (affiliate) programs for apps.

Usage:
  agentlinks dev                  run the whole stack locally: database, migrations,
                                  Temporal dev server with UI, API and worker
  agentlinks api                  serve the HTTP API (production)
  agentlinks worker               run the Temporal worker (production)
  agentlinks migrate              apply database migrations
  agentlinks verify-ledger        check every money invariant over the whole database;
                                  exits 1 and prints the offending rows when one fails
  agentlinks demo --app APP_ID [--addr 127.0.0.1:8081] [--api http://127.0.0.1:8080]
                                  serve the demo shop that uses agentlinks.js
  agentlinks apps create --name N --commission-percent 30 [--hold-period 336h]
                         [--keyless-conversions] [--currency usd] [--cookie-days 60] [--json]
  agentlinks apps update --app APP_ID --allowed-origin https://shop.example.com [--allowed-origin …] [--json]
                                  set the sites whose pages may use agentlinks.js (CORS)
  agentlinks apps connect-stripe --app APP_ID --account acct_…
                                  link a Stripe account by hand (support cases)
  agentlinks creators create --app APP_ID --email E [--json]
  agentlinks stripe-test-event --type invoice.paid --account acct_… --ref CODE [--amount 10000] [--invoice in_…]
  agentlinks stripe-test-event --type charge.refunded --account acct_… --invoice in_… --amount 10000 --refunded 5000
                                  sign an event with STRIPE_WEBHOOK_SECRET and post it to the webhook
                                  (try Stripe Connect locally, without Stripe)
  agentlinks stripe-events [--status parked]
                                  list Stripe events by outcome (received, processed, ignored, parked)

Configuration (environment): DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
HTTP_ADDR, PUBLIC_URL, TASK_QUEUE, DATA_DIR, TEMPORAL_UI_URL, TEMPORAL_CLI,
CLICK_DEDUPE_WINDOW, LOG_LEVEL, STRIPE_SECRET_KEY, STRIPE_CLIENT_ID,
STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE, STRIPE_CONNECT_BASE, STRIPE_PARK_AFTER.
See README.md.
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
		log := newLogger(cfg, stderr, true).With("role", cmd)
		d, err := connect(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer d.close()
		withWorker := cmd == "worker" || cfg.APIWorker
		if withWorker {
			if err := worker.EnsureSearchAttributes(ctx, d.temporal, cfg.TemporalNamespace); err != nil {
				return err
			}
		}
		if cmd == "worker" {
			return d.runRoles(ctx, nil, true)
		}
		l, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
		}
		return d.runRoles(ctx, l, withWorker)
	case "migrate":
		return migrate.Up(ctx, cfg.DatabaseURL)
	case "demo":
		return demo(ctx, rest, stderr)
	case "verify-ledger":
		return verifyLedger(ctx, cfg, stdout)
	case "stripe-test-event":
		return stripeTestEvent(ctx, cfg, rest, stdout)
	case "stripe-events":
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		return stripeEvents(ctx, pool, rest, stdout)
	case "apps", "creators":
		if len(rest) == 0 || (rest[0] != "create" && !(cmd == "apps" && (rest[0] == "update" || rest[0] == "connect-stripe"))) {
			return usageError{fmt.Sprintf("%s: unknown subcommand", cmd)}
		}
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		if cmd == "apps" && rest[0] == "update" {
			return appsUpdate(ctx, pool, rest[1:], stdout)
		}
		if cmd == "apps" && rest[0] == "connect-stripe" {
			return appsConnectStripe(ctx, pool, rest[1:], stdout)
		}
		if cmd == "apps" {
			return appsCreate(ctx, pool, rest[1:], stdout)
		}
		return creatorsCreate(ctx, pool, rest[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
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

// dev runs the whole local stack in one process tree; Ctrl-C stops it all.
func dev(ctx context.Context, cfg config.Config, log *slog.Logger, stderr io.Writer) error {
	if err := migrate.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	if err := migrate.Up(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	uiPort, err := uiPort(cfg.TemporalUIURL)
	if err != nil {
		return err
	}
	dbFile, err := filepath.Abs(filepath.Join(cfg.DataDir, "temporal.db"))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR=%s (is another agentlinks running?): %w", cfg.HTTPAddr, err)
	}
	log.Info("starting temporal dev server", "address", cfg.TemporalAddress, "db_file", dbFile)
	srv, err := temporaldev.Start(ctx, temporaldev.Options{
		Binary: cfg.TemporalCLI, Address: cfg.TemporalAddress, UIPort: uiPort,
		DBFile: dbFile, Namespace: cfg.TemporalNamespace, Output: stderr,
	})
	if err != nil {
		l.Close()
		return err
	}
	defer func() {
		log.Info("stopping temporal dev server")
		srv.Stop()
	}()
	d, err := connect(ctx, cfg, log)
	if err != nil {
		l.Close()
		return err
	}
	defer d.close()
	if err := worker.EnsureSearchAttributes(ctx, d.temporal, cfg.TemporalNamespace); err != nil {
		l.Close()
		return err
	}
	fmt.Fprintf(stderr, `
AgentLinks is running.
  API          http://%s
  Temporal UI  %s/namespaces/%s/workflows
  Database     %s
Create an app:  go run ./cmd/agentlinks apps create --name "My app" --commission-percent 30 --json
Press Ctrl-C to stop everything.

`, l.Addr(), cfg.TemporalUIURL, cfg.TemporalNamespace, redact(cfg.DatabaseURL))

	// The stack stops when asked, or when the Temporal server dies under it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-srv.Done():
			log.Error("temporal dev server exited")
			cancel()
		case <-ctx.Done():
		}
	}()
	return d.runRoles(ctx, l, true)
}

func uiPort(uiURL string) (int, error) {
	u, err := url.Parse(uiURL)
	if err != nil || u.Port() == "" {
		return 0, fmt.Errorf("TEMPORAL_UI_URL=%q must be a URL with a port, like http://localhost:8233", uiURL)
	}
	return strconv.Atoi(u.Port())
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DATABASE_URL)"
	}
	return u.Redacted()
}

func appsCreate(ctx context.Context, pool *pgxpool.Pool, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apps create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "the app's name (required)")
	percent := fs.String("commission-percent", "", "commission percent, e.g. 30 or 12.5 (required)")
	hold := fs.Duration("hold-period", programs.DefaultHold, "refund window before commissions become available")
	keyless := fs.Bool("keyless-conversions", false, "accept conversions and refunds without the secret key (the guide's public mode)")
	currency := fs.String("currency", "usd", "the program's currency")
	cookieDays := fs.Int("cookie-days", 60, "how long the ref cookie lasts")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{"apps create: " + err.Error()}
	}
	if *name == "" || *percent == "" {
		return usageError{"apps create: --name and --commission-percent are required"}
	}
	bps, err := commission.ParsePercent(*percent)
	if err != nil {
		return usageError{"apps create: --commission-percent: " + err.Error()}
	}
	created, err := programs.CreateApp(ctx, pool, programs.NewApp{
		Name: *name, CommissionBPS: bps, Hold: *hold, Currency: *currency,
		CookieDays: int32(*cookieDays), KeylessConversions: *keyless,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"app_id": created.App.ID, "secret_key": created.SecretKey,
			"commission_percent": *percent, "hold_period": (time.Duration(created.App.HoldSeconds) * time.Second).String(),
			"keyless_conversions": created.App.KeylessConversions,
		})
	}
	fmt.Fprintf(stdout, "app_id:     %s\nsecret_key: %s   (shown once: store it now)\n", created.App.ID, created.SecretKey)
	return nil
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (f *stringsFlag) String() string     { return fmt.Sprint(*f) }
func (f *stringsFlag) Set(v string) error { *f = append(*f, v); return nil }

func appsUpdate(ctx context.Context, pool *pgxpool.Pool, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apps update", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app := fs.String("app", "", "the app id (required)")
	var origins stringsFlag
	fs.Var(&origins, "allowed-origin", "a site whose pages may call the tracking API (repeatable; replaces the list)")
	clear := fs.Bool("clear-allowed-origins", false, "allow no site")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{"apps update: " + err.Error()}
	}
	if *app == "" || (len(origins) == 0 && !*clear) {
		return usageError{"apps update: --app and at least one --allowed-origin (or --clear-allowed-origins) are required"}
	}
	updated, err := programs.SetAllowedOrigins(ctx, pool, *app, origins)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"app_id": updated.ID, "allowed_origins": updated.AllowedOrigins})
	}
	fmt.Fprintf(stdout, "app_id:          %s\nallowed_origins: %v\n", updated.ID, updated.AllowedOrigins)
	return nil
}

func creatorsCreate(ctx context.Context, pool *pgxpool.Pool, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("creators create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app := fs.String("app", "", "the app id (required)")
	email := fs.String("email", "", "the creator's email (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{"creators create: " + err.Error()}
	}
	if *app == "" || *email == "" {
		return usageError{"creators create: --app and --email are required"}
	}
	e, err := programs.Enroll(ctx, pool, *app, *email)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"creator_id": e.CreatorID, "ref": e.RefCode})
	}
	fmt.Fprintf(stdout, "creator_id: %s\nref:        %s\n", e.CreatorID, e.RefCode)
	return nil
}

// demo serves the demo shop (examples/demosite) for an app until ctx ends.
func demo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app := fs.String("app", "", "the app id the shop reports to (required)")
	addr := fs.String("addr", "127.0.0.1:8081", "where to serve the shop")
	apiURL := fs.String("api", "http://127.0.0.1:8080", "the AgentLinks API that serves agentlinks.js")
	if err := fs.Parse(args); err != nil {
		return usageError{"demo: " + err.Error()}
	}
	if *app == "" {
		return usageError{"demo: --app is required"}
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: demosite.Handler(demosite.Config{AppID: *app, APIURL: *apiURL}), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stderr, "demo shop for %s on http://%s (allow it: agentlinks apps update --app %s --allowed-origin http://%s)\n",
		*app, l.Addr(), *app, l.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func appsConnectStripe(ctx context.Context, pool *pgxpool.Pool, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apps connect-stripe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app := fs.String("app", "", "the app id (required)")
	account := fs.String("account", "", "the Stripe account id, acct_… (required)")
	if err := fs.Parse(args); err != nil {
		return usageError{"apps connect-stripe: " + err.Error()}
	}
	if *app == "" || *account == "" {
		return usageError{"apps connect-stripe: --app and --account are required"}
	}
	if err := stripeconnect.Link(ctx, db.New(pool), *app, *account); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "app %s is connected to Stripe account %s\n", *app, *account)
	return nil
}

// stripeEvents lists Stripe events by outcome; parked ones need an operator.
func stripeEvents(ctx context.Context, pool *pgxpool.Pool, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("stripe-events", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	status := fs.String("status", "parked", "received, processed, ignored or parked")
	if err := fs.Parse(args); err != nil {
		return usageError{"stripe-events: " + err.Error()}
	}
	rows, err := db.New(pool).ListStripeEventsByStatus(ctx, *status)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, r := range rows {
		if err := enc.Encode(map[string]any{"id": r.ID, "type": r.Type, "account": r.Account, "app_id": r.AppID,
			"status": r.Status, "note": r.Note, "received_at": r.ReceivedAt}); err != nil {
			return err
		}
	}
	return nil
}

// errLedger makes verify-ledger exit non-zero after printing the rows.
var errLedger = errors.New("ledger invariants violated")

func verifyLedger(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := db.New(pool)
	bad, err := ledger.Check(ctx, q)
	if err != nil {
		return fmt.Errorf("verify ledger: %w", err)
	}
	for _, b := range bad {
		fmt.Fprintln(stdout, b)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %d problems", errLedger, len(bad))
	}
	n, err := q.CountTransfers(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ledger ok: %d transfers, every invariant holds\n", n)
	return nil
}
