// Package prodlocal runs AgentLinks in its production shape on this
// machine, from binaries, without Docker: the full Temporal server 1.29.1
// on the local PostgreSQL (make temporal-server), `agentlinks migrate`,
// then `agentlinks api` and `agentlinks worker` as separate processes —
// what docker-compose.yml runs as containers. `make prod-local` starts it;
// the prodlocal test (make test-long) sends the integration guide's flow
// through it.
package prodlocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/agentlinks/agentlinks/db/migrate"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// Options says where the shape runs.
type Options struct {
	BinDir string // bin/ with agentlinks, temporal-server, temporal-sql-tool, temporal-schema/
	// Name prefixes the databases, on the local PostgreSQL server
	// (testenv.ServerURL: TEST_DATABASE_URL or 127.0.0.1:5432).
	Name string // prefix of the databases: <name> for the app, <name>_temporal(_visibility) for Temporal
	Dir  string // Temporal's config and the processes' logs
	// APIAddr, WorkerAddr and TemporalPort are where the API, the
	// worker's /metrics and Temporal's frontend listen (free ports when
	// empty or zero).
	APIAddr, WorkerAddr string
	TemporalPort        int
	Env                 []string  // more environment for api and worker (KEY=value)
	Output              io.Writer // the processes' output; nil discards
}

// Stack is the running shape.
type Stack struct {
	APIURL, WorkerURL string // http://host:port
	TemporalAddress   string
	DatabaseURL       string
	Env               []string // what api and worker run with (for operator commands)

	temporal *temporaldev.Server
	procs    []*proc
	opts     Options
}

// proc is a running role; done is closed when it exits.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start brings the shape up, databases created afresh, and returns once
// the API and the worker answer /readyz.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Output == nil {
		o.Output = io.Discard
	}
	for _, f := range []string{"agentlinks", "temporal-server", "temporal-sql-tool"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, f)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make build temporal-server`", f, o.BinDir)
		}
	}
	s := &Stack{opts: o}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	u, err := url.Parse(testenv.ServerURL())
	if err != nil {
		return nil, fmt.Errorf("server url: %w", err)
	}
	s.Drop()
	s.DatabaseURL = testenv.URLFor(o.Name)
	if err := migrate.EnsureDatabase(ctx, s.DatabaseURL); err != nil {
		return nil, err
	}

	if o.TemporalPort == 0 {
		if o.TemporalPort, err = temporaldev.FreePortBlock(10); err != nil {
			return nil, err
		}
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 5432
	}
	user := "postgres"
	if u.User != nil {
		user = u.User.Username()
	}
	fmt.Fprintf(o.Output, "prod-local: starting the Temporal server 1.29.1 on PostgreSQL (%s_temporal)\n", o.Name)
	s.temporal, s.TemporalAddress, err = temporaldev.StartFull(ctx, temporaldev.FullOptions{
		BinDir: o.BinDir, Dir: filepath.Join(o.Dir, "temporal"), Database: o.Name + "_temporal",
		PGHost: u.Hostname(), PGPort: port, PGUser: user, BasePort: o.TemporalPort, Output: logFile(o, "temporal"),
	})
	if err != nil {
		return nil, fmt.Errorf("temporal server: %w\n%s", err, tail(filepath.Join(o.Dir, "temporal.log")))
	}
	for _, a := range []*string{&o.APIAddr, &o.WorkerAddr} {
		if *a == "" {
			if *a, err = temporaldev.FreeAddress(); err != nil {
				return nil, err
			}
		}
	}
	s.APIURL, s.WorkerURL = "http://"+o.APIAddr, "http://"+o.WorkerAddr
	s.Env = append([]string{
		"DATABASE_URL=" + s.DatabaseURL, "TEMPORAL_ADDRESS=" + s.TemporalAddress, "TEMPORAL_NAMESPACE=default",
		"PUBLIC_URL=" + s.APIURL, "LOG_LEVEL=info",
	}, o.Env...)
	// The binary's own migrate, as the compose file's one-shot job runs it.
	up := exec.CommandContext(ctx, filepath.Join(o.BinDir, "agentlinks"), "migrate")
	up.Env = append(os.Environ(), s.Env...)
	if out, err := up.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("agentlinks migrate: %w\n%s", err, out)
	}
	for _, role := range []struct{ name, addr string }{{"worker", o.WorkerAddr}, {"api", o.APIAddr}} {
		cmd := exec.Command(filepath.Join(o.BinDir, "agentlinks"), role.name)
		cmd.Env = append(append(os.Environ(), s.Env...), "HTTP_ADDR="+role.addr)
		w := logFile(o, role.name)
		cmd.Stdout, cmd.Stderr = w, w
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("agentlinks %s: %w", role.name, err)
		}
		p := &proc{name: role.name, cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		s.procs = append(s.procs, p)
	}
	for _, base := range []string{s.WorkerURL, s.APIURL} {
		if err := waitReady(ctx, base, 90*time.Second); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Stop stops the api and the worker (SIGTERM: they drain), then Temporal.
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.procs = nil
	if s.temporal != nil {
		s.temporal.Stop()
		s.temporal = nil
	}
}

// Drop removes the shape's databases (after Stop).
func (s *Stack) Drop() {
	for _, db := range []string{s.opts.Name, s.opts.Name + "_temporal", s.opts.Name + "_temporal_visibility"} {
		testenv.DropDatabase(db)
	}
}

// Exited names a role that has exited ("" while both run).
func (s *Stack) Exited() string {
	for _, p := range s.procs {
		select {
		case <-p.done:
			return fmt.Sprintf("agentlinks %s (%v)", p.name, p.cmd.ProcessState)
		default:
		}
	}
	return ""
}

func logFile(o Options, name string) io.Writer {
	f, err := os.Create(filepath.Join(o.Dir, name+".log"))
	if err != nil {
		return o.Output
	}
	return f
}

func waitReady(ctx context.Context, base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(res.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within %s: %v", base, within, last)
}

// tail is the end of a log, for an error.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
