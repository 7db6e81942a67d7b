package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/service"
)

// The package's API runs with the worker in its process: a conversion is
// started eagerly and answered from the worker's record, so its workflow's
// history has no update in it.
func TestConversionAnsweredFromTheWorker(t *testing.T) {
	p := newProgram(t)
	body := map[string]any{"ref": p.ref, "user_id": "usr_eager", "amount_cents": 10000, "transaction_id": "tx_eager"}
	a := call(t, "POST", "/api/track/conversion", p.key, body)
	expect(t, a, 201, "")
	if a.num("commission", "commission_cents") != 3000 || a.num("commission", "net_commission_cents") != 2850 {
		t.Fatalf("want 3000/2850, got %s", a.raw)
	}
	if n := recordUpdates(t, a.str("conversion_id")); n != 0 {
		t.Fatalf("answered from the worker, the workflow should have taken no update; it took %d", n)
	}
	// The start set the search attributes and the workflow did not set
	// them again: an operator still finds it by app, ref and status.
	if n := historyCount(t, a.str("conversion_id"), enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES); n != 0 {
		t.Fatalf("the workflow upserted its search attributes %d times while on hold; the start set them", n)
	}
	findByStatus(t, p, a.str("conversion_id"), "pending")
	again := call(t, "POST", "/api/track/conversion", p.key, body)
	expect(t, again, 200, "")
	if again.str("conversion_id") != a.str("conversion_id") {
		t.Fatalf("repeat answered another conversion: %s vs %s", again.raw, a.raw)
	}
	if pending, _ := p.balance(t); pending != 2850 {
		t.Fatalf("want 2850 pending, got %d", pending)
	}
	checkLedger(t)
}

// An API that is not told of the record (no worker in its process, or the
// workflow's task taken by another process's worker) asks the workflow with
// the record update, and answers the same.
func TestConversionFallsBackToTheRecordUpdate(t *testing.T) {
	for name, recorded := range map[string]*conversion.Waiters{
		"api without a worker":     nil,
		"started eagerly, no word": conversion.NewWaiters(), // the stack's worker tells another set
	} {
		t.Run(name, func(t *testing.T) {
			wf := stack.Workflows()
			wf.Recorded, wf.RecordedWait = recorded, 50*time.Millisecond
			svc := service.New(database.Pool, wf, time.Hour)
			defer svc.Close()
			server := httptest.NewServer(api.New(api.Deps{Service: svc, Logger: quietLog}))
			defer server.Close()

			p := newProgram(t)
			body := map[string]any{"ref": p.ref, "user_id": "usr_fallback", "amount_cents": 10000, "transaction_id": "tx_fallback"}
			a := callOn(t, server.URL, "POST", "/api/track/conversion", p.key, body)
			expect(t, a, 201, "")
			if a.num("commission", "commission_cents") != 3000 || a.num("commission", "net_commission_cents") != 2850 {
				t.Fatalf("want 3000/2850, got %s", a.raw)
			}
			if n := recordUpdates(t, a.str("conversion_id")); n != 1 {
				t.Fatalf("want the answer from one record update, the workflow took %d", n)
			}
			again := callOn(t, server.URL, "POST", "/api/track/conversion", p.key, body)
			expect(t, again, 200, "")
			if pending, _ := p.balance(t); pending != 2850 {
				t.Fatalf("want 2850 pending, got %d", pending)
			}
			checkLedger(t)
		})
	}
}

// recordUpdates counts the updates a conversion's workflow accepted, read
// once the workflow has started its hold (so that its first task is in the
// history).
func recordUpdates(t *testing.T, conversionID string) int {
	t.Helper()
	return historyCount(t, conversionID, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
}

// findByStatus waits until visibility finds the conversion's workflow by
// its app, ref and status, as an operator searches the Temporal UI.
func findByStatus(t *testing.T, p program, conversionID, status string) {
	t.Helper()
	query := fmt.Sprintf("WorkflowId = %q AND AppID = %q AND RefCode = %q AND ConversionStatus = %q",
		conversion.WorkflowID(conversionID), p.appID, p.ref, status)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := temporalClient.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.GetExecutions()) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility does not find %s", query)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// historyCount counts the events of one type in a conversion's workflow
// history, read once the workflow has started its hold (its first task is
// in; the hold is 14 days, so nothing after it).
func historyCount(t *testing.T, conversionID string, eventType enumspb.EventType) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		count, holding := 0, false
		it := temporalClient.GetWorkflowHistory(ctx, conversion.WorkflowID(conversionID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			switch e.GetEventType() {
			case eventType:
				count++
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				holding = true
			}
		}
		if holding {
			return count
		}
		select {
		case <-ctx.Done():
			t.Fatalf("conversion %s's workflow did not start its hold", conversionID)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
