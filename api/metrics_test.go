package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// scrape reads /metrics as Prometheus does.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is a sample's value (a histogram's count) for the labels given
// as name=value pairs; 0 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

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
		return value(scrape(t), "agentlinks_releases_total", appLabel) == 1
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
	orphan := sp.event("", "charge.refunded", map[string]any{
		"id": "ch_m", "object": "charge", "amount": 4000, "amount_refunded": 4000, "invoice": "in_m_never", "customer": "cus_m",
	})
	expect(t, deliver(t, orphan, webhookSecret), 200, "")
	if ev := settled(t, eventID(orphan)); ev.Status != "parked" {
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
		if got := value(after, w.name, w.labels...) - value(before, w.name, w.labels...); got != w.want {
			t.Errorf("%s%v moved by %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if value(after, "agentlinks_release_lag_seconds") <= value(before, "agentlinks_release_lag_seconds") {
		t.Errorf("the release lag histogram has no new sample")
	}
	if value(after, "agentlinks_state_up") != 1 {
		t.Errorf("agentlinks_state_up is not 1")
	}
	if value(after, "agentlinks_conversions_pending") < 1 {
		t.Errorf("the held conversion is not counted as pending")
	}
	if value(after, "agentlinks_click_batch_size") == 0 {
		// Clicks are tracked by other tests; make one so the writer batches.
		call(t, "POST", "/api/track/click", "", map[string]any{"ref": ref, "url": "https://shop.example/"})
		if value(scrape(t), "agentlinks_click_batch_size") == 0 {
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
