package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/worker"
	"github.com/agentlinks/agentlinks/workflows"
)

// benchLadder finds where a conversion's time goes on the Temporal side:
// on one dev server (database file, WAL pragmas), with one worker sized as
// ours, it drives workflows that add one step of the conversion workflow at
// a time, with no PostgreSQL and no HTTP, and prints each rate beside the
// bare start of a trivial workflow (the conversions ceiling).
func benchLadder(ctx context.Context) error {
	tc, stopTemporal, err := devTemporal(ctx)
	if err != nil {
		return err
	}
	defer stopTemporal()

	const queue = "bench-ladder"
	var ran atomic.Int64
	var waiters sync.Map // workflow id → chan struct{}, for the in-process answer
	noop := func(context.Context) error { return nil }
	tell := func(_ context.Context, id string) error {
		if ch, ok := waiters.LoadAndDelete(id); ok {
			close(ch.(chan struct{}))
		}
		return nil
	}
	la := func(ctx workflow.Context) workflow.Context {
		return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	}
	// updated answers an update once a no-op local activity has run, like
	// the record update; hold adds the 1-hour timer, upsert the status
	// search attribute set after the record.
	updated := func(hold, upsert bool) func(workflow.Context) error {
		return func(ctx workflow.Context) error {
			recorded := false
			if err := workflow.SetUpdateHandler(ctx, "record", func(ctx workflow.Context) error {
				return workflow.Await(ctx, func() bool { return recorded })
			}); err != nil {
				return err
			}
			if err := workflow.ExecuteLocalActivity(la(ctx), noop).Get(ctx, nil); err != nil {
				return err
			}
			recorded = true
			if upsert {
				if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.ConversionStatusKey.ValueSet("pending")); err != nil {
					return err
				}
			}
			if hold {
				if err := workflow.Sleep(ctx, time.Hour); err != nil {
					return err
				}
			}
			return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
	}
	w := sdkworker.New(tc, queue, worker.Sized(config.DefaultWorkerSizing, sdkworker.Options{}))
	w.RegisterWorkflowWithOptions(func(workflow.Context) error {
		ran.Add(1) // the body runs once: it ends in its first task
		return nil
	}, workflow.RegisterOptions{Name: "LadderTrivial"})
	w.RegisterWorkflowWithOptions(updated(false, false), workflow.RegisterOptions{Name: "LadderUpdate"})
	w.RegisterWorkflowWithOptions(updated(true, false), workflow.RegisterOptions{Name: "LadderUpdateHold"})
	w.RegisterWorkflowWithOptions(updated(true, true), workflow.RegisterOptions{Name: "LadderUpdateHoldUpsert"})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, id string) error {
		if err := workflow.ExecuteLocalActivity(la(ctx), tell, id).Get(ctx, nil); err != nil {
			return err
		}
		return workflow.Sleep(ctx, time.Hour)
	}, workflow.RegisterOptions{Name: "LadderEagerHold"})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	sas := temporal.NewSearchAttributes(workflows.AppIDKey.ValueSet("app_bench"), workflows.RefCodeKey.ValueSet("bench"),
		workflows.ConversionStatusKey.ValueSet("pending"))
	start := func(id, typ string, eager bool, args ...any) (client.WorkflowRun, error) {
		return tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue, EnableEagerStart: eager, TypedSearchAttributes: sas}, typ, args...)
	}
	trivial := func(eager, wait bool) func(int64) error {
		return func(i int64) error {
			run, err := start(fmt.Sprint("trivial-", eager, wait, "-", i), "LadderTrivial", eager)
			if err == nil && wait {
				err = run.Get(ctx, nil)
			}
			return err
		}
	}
	updateWithStart := func(typ string) func(int64) error {
		return func(i int64) error {
			op := tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: fmt.Sprint(typ, "-", i), TaskQueue: queue,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, TypedSearchAttributes: sas}, typ)
			h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
				UpdateOptions: client.UpdateWorkflowOptions{UpdateName: "record", WaitForStage: client.WorkflowUpdateStageCompleted}})
			if err != nil {
				return err
			}
			return h.Get(ctx, nil)
		}
	}
	eagerHold := func(i int64) error {
		id := fmt.Sprint("eager-", i)
		told := make(chan struct{})
		waiters.Store(id, told)
		defer waiters.Delete(id)
		if _, err := start(id, "LadderEagerHold", true, id); err != nil {
			return err
		}
		select {
		case <-told:
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("workflow %s did not run its first task within 30 s", id)
		}
	}

	fmt.Printf("%-64s %8s %9s %9s %11s %8s\n", "Temporal alone (dev server, file + WAL)", "per s", "p50 ms", "p99 ms", "ok", "ratio")
	ceiling := drive("trivial workflow: start answered (the conversions ceiling)", trivial(false, false))
	ranInWindow := ran.Load()
	drained := time.Now()
	for ran.Load() < int64(ceiling.ok) && time.Since(drained) < 5*time.Minute {
		time.Sleep(100 * time.Millisecond)
	}
	row := func(r result) {
		fmt.Printf("%-64s %8.0f %9.2f %9.2f %5d/%-5d %7.0f%%\n", r.name, r.rps, r.p50, r.p99, r.ok, r.total, 100*r.rps/ceiling.rps)
	}
	row(ceiling)
	fmt.Printf("  %d of its %d workflows ran within the window; the rest took %.1f s more\n", ranInWindow, ceiling.ok, time.Since(drained).Seconds())
	for _, step := range []struct {
		name string
		f    func(int64) error
	}{
		{"trivial workflow: start, wait for its end", trivial(false, true)},
		{"trivial workflow: eager start, wait for its end", trivial(true, true)},
		{"Update-With-Start, answered after a local activity", updateWithStart("LadderUpdate")},
		{"  + the hold's timer", updateWithStart("LadderUpdateHold")},
		{"  + the status upsert (the conversion workflow's commands)", updateWithStart("LadderUpdateHoldUpsert")},
		{"eager start, local activity answers in-process, timer", eagerHold},
	} {
		row(drive(step.name, step.f))
	}
	fmt.Println()
	return nil
}
