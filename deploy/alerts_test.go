package deploy_test

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/agentlinks/agentlinks/deploy"
)

// The workflow task failure alert fires from the very first failure: the
// SDK's counter has no series before it, so a rule on rate() alone would
// see nothing until a second one. Evaluated by Prometheus's own engine.
func TestWorkflowTaskFailureAlertFiresOnTheFirstFailure(t *testing.T) {
	qs, err := deploy.Queries()
	if err != nil {
		t.Fatal(err)
	}
	var expr string
	for _, q := range qs {
		if q.Where == "alert AgentLinksWorkflowTaskFailures" {
			expr = q.Expr
		}
	}
	if expr == "" {
		t.Fatal("no AgentLinksWorkflowTaskFailures alert")
	}
	// No series for 10 minutes, then the first failure (1), then no more.
	promqltest.RunTest(t, `
load 1m
	temporal_workflow_task_execution_failed_total{workflow_type="Conversion",task_queue="agentlinks"} _x10 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1

eval instant at 5m `+expr+`

eval instant at 11m `+expr+`
	{workflow_type="Conversion"} 1

eval instant at 14m `+expr+`
	{workflow_type="Conversion"} 1

eval instant at 25m `+expr+`
`, promqltest.NewTestEngine(t, false, 5*time.Minute, 10000))
}
