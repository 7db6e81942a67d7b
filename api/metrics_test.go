package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

func scrape(t *testing.T) testenv.Metrics { return testenv.Scrape(t, srv.URL+"/metrics") }

// The money's metrics move as it does, read off /metrics: a conversion
// (count and commission cents by program), a refund in the hold and one
// after release (a clawback), a release with its lag, a parked Stripe
// event (counted, and parked now).
func TestMetricsMoveWithTheMoney(t *testing.T) {
	before := scrape(t)
	app, ens := testenv.Program(t, database.Pool, programs.NewApp{Name: "Metrics", CommissionBPS: 3000, Hold: 0}, "metrics-c@example.com")
	ref, key := ens[0].RefCode, app.SecretKey
	a := call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": ref, "user_id": "m1", "amount_cents": 10000, "transaction_id": "m-t1"})
	if a.status != 201 {
		t.Fatalf("conversion: %d %s", a.status, a.raw)
	}
	appLabel := "app=" + app.App.ID
	testenv.Eventually(t, 20*time.Second, "released", func() bool {
		return scrape(t).Value("agentlinks_releases_total", appLabel) == 1
	})
	a = call(t, "POST", "/api/track/refund", key, map[string]any{"ref": ref, "transaction_id": "m-t1", "amount_cents": 5000, "refund_id": "m-r1"})
	if a.status >= 300 {
		t.Fatalf("refund: %d %s", a.status, a.raw)
	}
	// Another program, on hold: its refund comes out of pending.
	held := newProgram(t)
	call(t, "POST", "/api/track/conversion", held.key, map[string]any{"ref": held.ref, "user_id": "m2", "amount_cents": 2000, "transaction_id": "m-t2"})
	call(t, "POST", "/api/track/refund", held.key, map[string]any{"ref": held.ref, "transaction_id": "m-t2", "amount_cents": 1000, "refund_id": "m-r2"})

	// A Stripe refund whose payment never comes is parked.
	sp := newStripeProgram(t)
	cust := sp.event("", "customer.created", map[string]any{"id": "cus_m", "object": "customer", "metadata": map[string]string{"agentlinks_ref": sp.ref}})
	expect(t, deliver(t, cust, webhookSecret), 200, "")
	settled(t, eventID(cust))
	if ev := sp.orphanRefund(t, "ch_m", "in_m_never", "cus_m"); ev.Status != "parked" {
		t.Fatalf("orphan refund: %+v", ev)
	}

	after := scrape(t)
	for _, w := range []struct {
		name   string
		labels []string
		want   float64 // the change since before
	}{
		{"agentlinks_conversions_recorded_total", []string{appLabel, "currency=usd"}, 1},
		{"agentlinks_commission_cents_total", []string{appLabel, "currency=usd"}, 3000},
		{"agentlinks_releases_total", []string{appLabel}, 1},
		{"agentlinks_refunds_total", []string{appLabel, "phase=clawback"}, 1},
		{"agentlinks_clawbacks_total", []string{appLabel}, 1},
		{"agentlinks_clawback_cents_total", []string{appLabel, "currency=usd"}, 1425}, // half of the 2850 net
		{"agentlinks_commission_reversed_cents_total", []string{appLabel, "currency=usd"}, 1500},
		{"agentlinks_refunds_total", []string{"app=" + held.appID, "phase=hold"}, 1},
		{"agentlinks_commission_reversed_cents_total", []string{"app=" + held.appID, "currency=usd"}, 300},
		{"agentlinks_stripe_events_total", []string{"outcome=parked"}, 1},
		{"agentlinks_stripe_events_parked", nil, 1},
	} {
		if got := after.Value(w.name, w.labels...) - before.Value(w.name, w.labels...); got != w.want {
			t.Errorf("%s%v moved by %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if after.Value("agentlinks_release_lag_seconds") <= before.Value("agentlinks_release_lag_seconds") {
		t.Errorf("the release lag histogram has no new sample")
	}
	if after.Value("agentlinks_state_up") != 1 {
		t.Errorf("agentlinks_state_up is not 1")
	}
	if after.Value("agentlinks_conversions_pending") < 1 {
		t.Errorf("the held conversion is not counted as pending")
	}
	if after.Value("agentlinks_click_batch_size") == 0 {
		// Clicks are tracked by other tests; make one so the writer batches.
		call(t, "POST", "/api/track/click", "", map[string]any{"ref": ref, "url": "https://shop.example/"})
		if scrape(t).Value("agentlinks_click_batch_size") == 0 {
			t.Errorf("the click writer's batches are not counted")
		}
	}
	// No label carries a ref code or a user: the program is the finest.
	for name, f := range after {
		if !strings.HasPrefix(name, "agentlinks_") {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if slices.Contains([]string{"ref", "user", "user_id", "creator", "email"}, l.GetName()) {
					t.Errorf("%s has a %s label", name, l.GetName())
				}
			}
		}
	}
}
