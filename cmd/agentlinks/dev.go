package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/db/migrate"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/worker"
)

// dev runs the whole local stack in one process tree; Ctrl-C stops it all.
func dev(ctx context.Context, cfg config.Config, log *slog.Logger, stderr io.Writer) error {
	if os.Getenv("WEBHOOK_ALLOW_PRIVATE") == "" {
		cfg.WebhookAllowPrivate = true // webhooks to a receiver on this machine
	}
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
	dbFile, err := temporalStateFile(ctx, cfg, log)
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
  Dashboard    http://%[1]s/signup (owners and creators sign up here)
  API          http://%[1]s
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

// temporalStateFile is where the Temporal dev server keeps this database's
// workflows: DATA_DIR/temporal-<installation id>.db. Each database names
// itself (migration 00006), so a stack started against another database,
// or against this one dropped and made again, never resumes workflows that
// belong elsewhere: they would move money against rows that are not there.
func temporalStateFile(ctx context.Context, cfg config.Config, log *slog.Logger) (string, error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	id, err := db.New(pool).GetInstallation(ctx)
	if err != nil {
		return "", fmt.Errorf("read the database's installation id: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "temporal.db")); err == nil {
		log.Warn("DATA_DIR/temporal.db is no longer used: the Temporal state is now kept per database "+
			"(temporal-<installation>.db); delete it once its workflows no longer matter", "data_dir", cfg.DataDir)
	}
	return filepath.Abs(filepath.Join(cfg.DataDir, "temporal-"+id+".db"))
}
