package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentlinks/agentlinks/deploy"
	"github.com/agentlinks/agentlinks/internal/metrics"
)

// The alert rules load as Prometheus loads them, each with a severity and
// a summary; the dashboard is valid JSON with unique panel ids; every
// expression parses; and every agentlinks_ metric they read is one the
// code exports (the temporal_ ones are checked against a live worker in
// cmd/agentlinks's end-to-end test).
func TestRulesAndDashboardLoad(t *testing.T) {
	groups, err := deploy.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning" {
				t.Errorf("alert %s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s has no summary or description", r.Alert)
			}
		}
	}
	// What the issue asks the alerts to watch.
	for _, want := range []string{"AgentLinksStripeEventsParked", "AgentLinksReleaseLagHigh", "AgentLinksReleasesOverdue",
		"AgentLinksWorkflowTasksBehind", "AgentLinksLedgerCheckFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	d, err := deploy.ReadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard: uid %q, %d panels", d.UID, len(d.Panels))
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q does not fit the grid: %+v", p.Title, p.GridPos)
		}
	}
	qs, err := deploy.Queries()
	if err != nil {
		t.Fatal(err)
	}
	known := metrics.Names()
	known = append(known, "agentlinks_http_requests_total", "agentlinks_http_request_duration_seconds") // the API's own
	for _, q := range qs {
		names, err := deploy.Metrics(q.Expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.Where, q.Expr, err)
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(n, "agentlinks_") && !slices.Contains(known, n) {
				t.Errorf("%s reads %s, which AgentLinks does not export", q.Where, n)
			}
			if !strings.HasPrefix(n, "agentlinks_") && !strings.HasPrefix(n, "temporal_") && n != "up" {
				t.Errorf("%s reads %s, from neither AgentLinks nor the Temporal SDK", q.Where, n)
			}
		}
	}
}

// A wrong name is caught (the check above can fail).
func TestMetricsFindsNames(t *testing.T) {
	names, err := deploy.Metrics(`histogram_quantile(0.9, sum by (le) (rate(agentlinks_release_lag_seconds_bucket[5m]))) > on() agentlinks_x`)
	if err != nil || !slices.Equal(names, []string{"agentlinks_release_lag_seconds", "agentlinks_x"}) {
		t.Fatalf("names: %v %v", names, err)
	}
	if slices.Contains(metrics.Names(), "agentlinks_x") || !slices.Contains(metrics.Names(), "agentlinks_stripe_events_parked") {
		t.Fatalf("metrics.Names: %v", metrics.Names())
	}
}
