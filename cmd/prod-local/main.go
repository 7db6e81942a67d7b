// Command prod-local runs AgentLinks in its production shape on this
// machine (make prod-local): the full Temporal server 1.29.1 on the local
// PostgreSQL, `agentlinks migrate`, then `agentlinks api` and `agentlinks
// worker` as separate processes — docker-compose.yml's shape without
// Docker. Its databases (agentlinks_prodlocal*) are made afresh each run.
// Ctrl-C stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentlinks/agentlinks/internal/prodlocal"
)

func main() {
	bin := flag.String("bin", "bin", "directory of agentlinks, temporal-server, temporal-sql-tool (make build temporal-server)")
	api := flag.String("api", "127.0.0.1:8080", "the API's address")
	worker := flag.String("worker", "127.0.0.1:8081", "the worker's /metrics address")
	temporalPort := flag.Int("temporal-port", 7233, "Temporal's frontend port (its services take the 9 ports after it)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := filepath.Join(".data", "prod-local")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	abs, _ := filepath.Abs(*bin)
	s, err := prodlocal.Start(ctx, prodlocal.Options{
		BinDir: abs, Name: "agentlinks_prodlocal", Dir: dir,
		APIAddr: *api, WorkerAddr: *worker, TemporalPort: *temporalPort,
		Env: []string{"WEBHOOK_ALLOW_PRIVATE=true"}, Output: os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "prod-local:", err)
		os.Exit(1)
	}
	defer s.Stop()
	fmt.Fprintf(os.Stderr, `
AgentLinks runs in its production shape:
  API and dashboard  %[1]s/signup
  Worker metrics     %[2]s/metrics      (API metrics: %[1]s/metrics)
  Temporal frontend  %[3]s (full server 1.29.1 on PostgreSQL; no UI: docker compose has one)
  Database           %[4]s
  Logs               %[5]s/*.log
Operator commands against it:  env DATABASE_URL=%[4]s TEMPORAL_ADDRESS=%[3]s go run ./cmd/agentlinks apps create --name Shop --json
Press Ctrl-C to stop.

`, s.APIURL, s.WorkerURL, s.TemporalAddress, s.DatabaseURL, dir)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "prod-local: stopping")
			return
		case <-tick.C:
			if who := s.Exited(); who != "" {
				fmt.Fprintf(os.Stderr, "prod-local: %s exited; see %s/*.log; stopping\n", who, dir)
				return
			}
		}
	}
}
