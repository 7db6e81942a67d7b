package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/workflows"
)

// benchHolds puts *holds conversions on hold at once through the tracking
// service (the API's path, without HTTP) and the real worker, run as its own
// process (`agentlinks worker`) so that its memory can be read off
// /proc: the sticky cache bounds it, not the number of workflows asleep.
// After the hold every conversion must be released exactly once (ledger,
// workflow completions) and the books must balance.
func benchHolds(ctx context.Context) error {
	d, err := testenv.NewDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Drop()
	app, err := programs.CreateApp(ctx, d.Pool, programs.NewApp{Name: "Holds", CommissionBPS: 3000, Hold: *holdFor})
	if err != nil {
		return err
	}
	en, err := programs.Enroll(ctx, d.Pool, app.App.ID, "holds@example.com")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "agentlinks-holds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	addr, stopTemporal, shape, err := startTemporal(ctx, dir)
	if err != nil {
		return err
	}
	defer stopTemporal()
	tc, err := dialTemporal(ctx, addr)
	if err != nil {
		return err
	}
	defer tc.Close()

	// The worker: the real binary, sized as in production.
	bin := filepath.Join(dir, "agentlinks")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/agentlinks").CombinedOutput(); err != nil {
		return fmt.Errorf("build agentlinks: %v\n%s", err, out)
	}
	sizing := config.DefaultWorkerSizing
	sizing.CacheSize = *holdsCache
	wlog, err := os.Create(filepath.Join(dir, "worker.log"))
	if err != nil {
		return err
	}
	defer wlog.Close()
	wcmd := exec.Command(bin, "worker")
	wcmd.Env = append(os.Environ(), "DATABASE_URL="+d.URL, "TEMPORAL_ADDRESS="+addr, "TASK_QUEUE=holds",
		"LOG_LEVEL=warn", "WORKER_CACHE_SIZE="+strconv.Itoa(sizing.CacheSize))
	wcmd.Stdout, wcmd.Stderr = wlog, wlog
	wcmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := wcmd.Start(); err != nil {
		return err
	}
	defer func() { _ = wcmd.Process.Kill(); _, _ = wcmd.Process.Wait() }()
	mem := &rssWatch{pid: wcmd.Process.Pid}
	stopWatch := mem.run()
	defer stopWatch()

	svc := service.New(d.Pool, workflows.Client{Temporal: tc, TaskQueue: "holds"}, time.Hour)
	defer svc.Close()
	fmt.Printf("holds: %d conversions, hold %s, on the %s; worker sticky cache %d, %d workflow pollers, %d activity pollers\n",
		*holds, *holdFor, shape, sizing.CacheSize, sizing.WorkflowPollers, sizing.ActivityPollers)

	// Load: every conversion through the service, *concurrency at a time.
	stopAnalyze := autoAnalyze(ctx, d)
	defer stopAnalyze()
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-progress.C:
				n := next.Load()
				fmt.Fprintf(os.Stderr, "holds: %d started in %s (%.0f/s), worker RSS %d MiB\n", n, time.Since(start).Round(time.Second),
					float64(n)/time.Since(start).Seconds(), mem.current()>>20)
			}
		}
	}()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*holds) {
					return
				}
				_, _, err := svc.Conversion(ctx, service.ConversionInput{Ref: en.RefCode, UserID: fmt.Sprint("u", i),
					AmountCents: 1000 + i%9000, TransactionID: fmt.Sprint("t", i), Sender: service.Sender{KeyApp: app.App.ID}})
				if err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "holds: conversion:", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	loaded := time.Since(start)
	var pending, available int64
	_ = d.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'available') FROM conversions`).Scan(&pending, &available)
	fmt.Printf("holds: %d conversions recorded in %s (%.0f/s, %d failed); at the end of the load %d pending at once, %d already released; worker RSS %d MiB\n",
		pending+available, loaded.Round(time.Second), float64(*holds)/loaded.Seconds(), failed.Load(), pending, available, mem.current()>>20)

	// Release: wait for every hold to end and be released.
	deadline := time.Now().Add(*holdFor + 60*time.Minute)
	for {
		var left int64
		_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM conversions WHERE status = 'pending'`).Scan(&left)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("holds: %d conversions still pending an hour after their hold", left)
		}
		fmt.Fprintf(os.Stderr, "holds: %d still pending, worker RSS %d MiB\n", left, mem.current()>>20)
		time.Sleep(10 * time.Second)
	}
	var released, releaseTransfers int64
	var lagP50, lagP99, lagMax float64
	var firstDue, lastDue, lastReleased time.Time
	if err := d.Pool.QueryRow(ctx, `
		SELECT count(*),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM released_at - available_at)),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM released_at - available_at)),
		       max(extract(epoch FROM released_at - available_at)),
		       min(available_at), max(available_at), max(released_at)
		FROM conversions WHERE released_at IS NOT NULL`).Scan(&released, &lagP50, &lagP99, &lagMax, &firstDue, &lastDue, &lastReleased); err != nil {
		return err
	}
	_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transfers WHERE kind = 'release' AND transfer_key LIKE 'release:net:%'`).Scan(&releaseTransfers)
	completed, err := countCompleted(ctx, tc, int64(*holds))
	if err != nil {
		return err
	}
	bad, err := ledger.Check(ctx, db.New(d.Pool))
	if err != nil {
		return err
	}
	fmt.Printf("holds: released %d of %d (release transfers %d, workflows completed %d): exactly once: %v; books balance: %v\n",
		released, *holds, releaseTransfers, completed, released == int64(*holds) && releaseTransfers == int64(*holds) && completed == int64(*holds), len(bad) == 0)
	fmt.Printf("holds: release after the hold ended: p50 %.1f s, p99 %.1f s, max %.1f s; holds ended over %s, all released %s after the last one ended\n",
		lagP50, lagP99, lagMax, lastDue.Sub(firstDue).Round(time.Second), lastReleased.Sub(lastDue).Round(time.Second))
	fmt.Printf("holds: worker RSS peak %d MiB (sticky cache %d workflows) with %d on hold at once\n\n", mem.peak()>>20, sizing.CacheSize, pending)
	for i, b := range bad {
		if i == 5 {
			break
		}
		fmt.Println("holds: ledger:", b)
	}
	return nil
}

// startTemporal starts the server the holds run on: the full server on
// PostgreSQL (-temporal full, the production shape) or the dev server on a
// database file with the WAL pragmas (-temporal dev).
func startTemporal(ctx context.Context, dir string) (addr string, stop func(), shape string, err error) {
	if *temporalShape == "dev" {
		addr, err := temporaldev.FreeAddress()
		if err != nil {
			return "", nil, "", err
		}
		srv, err := temporaldev.Start(ctx, temporaldev.Options{Address: addr, DBFile: filepath.Join(dir, "temporal.db")})
		if err != nil {
			return "", nil, "", err
		}
		return addr, srv.Stop, "Temporal dev server (SQLite file, WAL)", nil
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "agentlinks_bench_temporal_" + hex.EncodeToString(b)
	base, err := temporaldev.FreePortBlock(10)
	if err != nil {
		return "", nil, "", err
	}
	logf, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		return "", nil, "", err
	}
	srv, addr, err := temporaldev.StartFull(ctx, temporaldev.FullOptions{Dir: dir, Database: name, PGHost: "127.0.0.1",
		PGPort: 5432, PGUser: "postgres", BasePort: base, Output: logf})
	if err != nil {
		testenv.DropDatabase(name)
		testenv.DropDatabase(name + "_visibility")
		return "", nil, "", err
	}
	return addr, func() {
		srv.Stop()
		logf.Close()
		testenv.DropDatabase(name)
		testenv.DropDatabase(name + "_visibility")
	}, "full Temporal server 1.29.1 on PostgreSQL (4 history shards)", nil
}

// countCompleted counts completed conversion workflows in visibility,
// which catches up a moment after the last completion.
func countCompleted(ctx context.Context, tc client.Client, want int64) (int64, error) {
	var n int64
	for range 60 {
		res, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = 'Completed'", workflows.ConversionWorkflowName)})
		if err != nil {
			return 0, err
		}
		if n = res.GetCount(); n >= want {
			return n, nil
		}
		time.Sleep(time.Second)
	}
	return n, nil
}

// rssWatch samples a process's resident memory every half second.
type rssWatch struct {
	pid       int
	max, last atomic.Int64
}

func (w *rssWatch) run() (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			if v := readRSS(w.pid); v > 0 {
				w.last.Store(v)
				if v > w.max.Load() {
					w.max.Store(v)
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}

func (w *rssWatch) current() int64 { return w.last.Load() }
func (w *rssWatch) peak() int64    { return w.max.Load() }

// readRSS reads VmRSS (bytes) from /proc/pid/status.
func readRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
