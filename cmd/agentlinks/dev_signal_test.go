//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// A Ctrl-C in the terminal (SIGINT to the whole foreground process group)
// stops `agentlinks dev` cleanly and quietly: the API and the worker stop
// first, the Temporal dev server last, and nobody logs a warning about a
// server going away.
func TestDevStopsQuietlyOnCtrlC(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "agentlinks")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cli, err := temporaldev.FindBinary("")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	dbName := "agentlinks_dev_" + hex.EncodeToString(b)
	t.Cleanup(func() { testenv.DropDatabase(dbName) })
	httpAddr, uiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "dev")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+testenv.URLFor(dbName), "TEMPORAL_ADDRESS="+freeAddr(t),
		"TEMPORAL_UI_URL=http://"+uiAddr, "HTTP_ADDR="+httpAddr, "DATA_DIR="+t.TempDir(), "TEMPORAL_CLI="+cli)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's job: its own group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitReady(t, "http://"+httpAddr, done)
	time.Sleep(2 * time.Second) // the worker polling

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev exited with %v:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("dev did not stop within a minute of Ctrl-C:\n%s", stderr.String())
	}
	log := stderr.String()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "dial error") {
			t.Errorf("stopping logged: %s", line)
		}
	}
	if !strings.Contains(log, "worker stopped") || !strings.Contains(log, "stopping temporal dev server") ||
		strings.Index(log, "worker stopped") > strings.Index(log, "stopping temporal dev server") {
		t.Errorf("the worker did not stop before the Temporal server:\n%s", log)
	}
}
