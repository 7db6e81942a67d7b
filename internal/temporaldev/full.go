package temporaldev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// FullOptions configures the full Temporal server (go.temporal.io/server
// v1.29.1, built by `make temporal-server`) on the local PostgreSQL: the
// production shape, where the dev server's SQLite is the limit.
type FullOptions struct {
	BinDir    string // holds temporal-server, temporal-sql-tool and temporal-schema/; empty: bin/ found upwards
	Dir       string // config and logs
	Database  string // prefix of the two databases (history, visibility), created fresh
	PGHost    string
	PGPort    int
	PGUser    string
	BasePort  int // frontend gRPC; the other services use BasePort+1…+9
	Shards    int // history shards; 0 is 4
	Namespace string
	Output    io.Writer
}

// FindBinDir returns the bin/ directory holding the full server's files.
func FindBinDir() (string, error) {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "bin")
		if _, err := os.Stat(filepath.Join(p, "temporal-server")); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("bin/temporal-server not found: run `make temporal-server` (builds go.temporal.io/server v1.29.1)")
		}
	}
}

// StartFull creates the databases, loads the schema with temporal-sql-tool,
// starts the server and registers the namespace. Address is its frontend.
func StartFull(ctx context.Context, o FullOptions) (_ *Server, address string, err error) {
	if o.BinDir == "" {
		if o.BinDir, err = FindBinDir(); err != nil {
			return nil, "", err
		}
	}
	if o.Shards == 0 {
		o.Shards = 4
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	schema := filepath.Join(o.BinDir, "temporal-schema", "postgresql", "v12")
	for _, db := range []struct{ name, dir string }{
		{o.Database, "temporal"},
		{o.Database + "_visibility", "visibility"},
	} {
		base := []string{"--plugin", "postgres12", "--ep", o.PGHost, "-p", strconv.Itoa(o.PGPort), "-u", o.PGUser, "--db", db.name}
		for _, step := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "-d", filepath.Join(schema, db.dir, "versioned")},
		} {
			cmd := exec.CommandContext(ctx, filepath.Join(o.BinDir, "temporal-sql-tool"), append(base, step...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				return nil, "", fmt.Errorf("temporal-sql-tool %s %s: %w\n%s", db.name, step[0], err, b)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "config", "dynamicconfig"), 0o755); err != nil {
		return nil, "", err
	}
	cfg := strings.NewReplacer(
		"{{db}}", o.Database, "{{host}}", o.PGHost, "{{port}}", strconv.Itoa(o.PGPort), "{{user}}", o.PGUser,
		"{{shards}}", strconv.Itoa(o.Shards), "{{dynamic}}", filepath.Join(o.Dir, "config", "dynamicconfig", "dynamic.yaml"),
	).Replace(fullConfig)
	for i := 0; i <= 9; i++ {
		cfg = strings.ReplaceAll(cfg, fmt.Sprintf("{{p%d}}", i), strconv.Itoa(o.BasePort+i))
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "config", "agentlinks.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "config", "dynamicconfig", "dynamic.yaml"), []byte(dynamicConfig), 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(filepath.Join(o.BinDir, "temporal-server"), "--root", o.Dir, "--config", "config",
		"--env", "agentlinks", "--allow-no-auth", "start")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	address = fmt.Sprintf("127.0.0.1:%d", o.BasePort)
	if err := s.waitReady(ctx, address, "temporal-system"); err != nil {
		s.Stop()
		return nil, "", err
	}
	if err := registerNamespace(ctx, address, o.Namespace); err != nil {
		s.Stop()
		return nil, "", err
	}
	return s, address, nil
}

// registerNamespace registers the namespace and waits until the frontend
// serves it (namespaces reach the frontend's cache after a refresh).
func registerNamespace(ctx context.Context, address, namespace string) error {
	nc, err := client.NewNamespaceClient(client.Options{HostPort: address, Logger: quiet{}})
	if err != nil {
		return err
	}
	defer nc.Close()
	err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err = nc.Describe(ctx, namespace); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s not served after 60s: %w", namespace, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// fullConfig follows the module's config/development-postgres12.yaml, on
// ports of our choosing, without archival, pprof or metrics listeners.
const fullConfig = `log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: {{shards}}
  datastores:
    postgres-default:
      sql:
        pluginName: "postgres12"
        databaseName: "{{db}}"
        connectAddr: "{{host}}:{{port}}"
        connectProtocol: "tcp"
        user: "{{user}}"
        password: ""
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"
    postgres-visibility:
      sql:
        pluginName: "postgres12"
        databaseName: "{{db}}_visibility"
        connectAddr: "{{host}}:{{port}}"
        connectProtocol: "tcp"
        user: "{{user}}"
        password: ""
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: "1h"

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
  frontend:
    rpc:
      grpcPort: {{p0}}
      membershipPort: {{p1}}
      bindOnLocalHost: true
      httpPort: {{p2}}
  matching:
    rpc:
      grpcPort: {{p3}}
      membershipPort: {{p4}}
      bindOnLocalHost: true
  history:
    rpc:
      grpcPort: {{p5}}
      membershipPort: {{p6}}
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: {{p7}}
      membershipPort: {{p8}}
      bindOnLocalHost: true

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:{{p0}}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: "{{dynamic}}"
  pollInterval: "10s"
`

// dynamicConfig lifts the per-namespace rate limits a burst of conversions
// would hit, and lets the search attributes the app registers be used at
// once (the dev server sets the same).
const dynamicConfig = `frontend.namespaceRPS:
  - value: 100000
frontend.namespaceCount:
  - value: 100000
frontend.rps:
  - value: 100000
history.rps:
  - value: 100000
matching.rps:
  - value: 100000
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.enableUpdateWorkflowExecution:
  - value: true
frontend.enableExecuteMultiOperation:
  - value: true
`

// FreePortBlock finds n consecutive free loopback ports below 32768 (the
// full server keeps its services' membership ports as smallint): a
// BasePort for FullOptions.
func FreePortBlock(n int) (int, error) {
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(12000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports below 32768", n)
}
