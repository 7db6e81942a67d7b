// Package metrics holds AgentLinks' business metrics: what the money is
// doing, counted where it moves (the activities, the click writer) and
// read from the database when Prometheus scrapes (what is parked, on hold
// past its release, in payout). Every name follows Prometheus conventions
// (agentlinks_…_total counters, base units: seconds and cents) and no label
// carries a ref code, a user or a conversion: the program (app) is the
// finest label.
//
// A nil *Metrics records nothing, so code paths built without metrics
// (unit tests, one-shot commands) need no checks.
package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the counters and histograms the code moves.
type Metrics struct {
	conversions    *prometheus.CounterVec
	commission     *prometheus.CounterVec
	refunds        *prometheus.CounterVec
	reversed       *prometheus.CounterVec
	clawbacks      *prometheus.CounterVec
	clawbackCents  *prometheus.CounterVec
	releases       *prometheus.CounterVec
	releaseLag     prometheus.Histogram
	stripeEvents   *prometheus.CounterVec
	clickBatch     prometheus.Histogram
	clickWait      prometheus.Histogram
	webhooks       *prometheus.CounterVec
	webhookLatency prometheus.Histogram
	ledgerFailures prometheus.Gauge
	ledgerChecked  prometheus.Gauge
}

// New registers the metrics on r.
func New(r prometheus.Registerer) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentlinks_" + name, Help: help}, labels)
	}
	m := &Metrics{
		conversions: counter("conversions_recorded_total", "Conversions recorded, by program.", "app", "currency"),
		commission: counter("commission_cents_total",
			"Commission credited to creators and the platform, in cents of the program's currency (before refunds).", "app", "currency"),
		refunds:       counter("refunds_total", "Refunds applied to conversions, by program and phase (hold: from pending; clawback: after release).", "app", "phase"),
		reversed:      counter("commission_reversed_cents_total", "Commission reversed by refunds, in cents.", "app", "currency"),
		clawbacks:     counter("clawbacks_total", "Refunds after release, clawed back from the creator's available balance.", "app"),
		clawbackCents: counter("clawback_cents_total", "Net commission clawed back from creators after release, in cents.", "app", "currency"),
		releases:      counter("releases_total", "Conversions released from pending to available at the end of their hold.", "app"),
		releaseLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentlinks_release_lag_seconds",
			Help:    "How long after its hold ended a conversion was released.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		stripeEvents: counter("stripe_events_total", "Stripe events processed, by outcome (processed, ignored, parked).", "outcome"),
		clickBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentlinks_click_batch_size",
			Help:    "Clicks per batch the click writer commits.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 … 1024
		}),
		clickWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentlinks_click_wait_seconds",
			Help:    "How long a click waited for the writer before its batch was written.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
		webhooks: counter("webhook_attempts_total", "Outbound webhook delivery attempts, by outcome (delivered, failed: the endpoint answered non-2xx or not at all).", "outcome"),
		webhookLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentlinks_webhook_delivery_seconds",
			Help:    "How long after its event a webhook was delivered (first successful attempt).",
			Buckets: []float64{0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600, 72 * 3600},
		}),
		ledgerFailures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentlinks_ledger_check_failures",
			Help: "Invariants the last ledger check found broken (0 when the books balance).",
		}),
		ledgerChecked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentlinks_ledger_check_timestamp_seconds",
			Help: "When the ledger was last checked, in Unix seconds.",
		}),
	}
	r.MustRegister(m.conversions, m.commission, m.refunds, m.reversed, m.clawbacks, m.clawbackCents, m.releases,
		m.releaseLag, m.stripeEvents, m.clickBatch, m.clickWait, m.webhooks, m.webhookLatency,
		m.ledgerFailures, m.ledgerChecked)
	return m
}

// ConversionRecorded counts a conversion the first time it is recorded.
func (m *Metrics) ConversionRecorded(app, currency string, commissionCents int64) {
	if m == nil {
		return
	}
	m.conversions.WithLabelValues(app, currency).Inc()
	m.commission.WithLabelValues(app, currency).Add(float64(commissionCents))
}

// Refunded counts a refund applied to a conversion, with the commission it
// reversed and, after release, the creator's net clawed back.
func (m *Metrics) Refunded(app, currency string, clawback bool, reversedCents, netCents int64) {
	if m == nil {
		return
	}
	phase := "hold"
	if clawback {
		phase = "clawback"
		m.clawbacks.WithLabelValues(app).Inc()
		m.clawbackCents.WithLabelValues(app, currency).Add(float64(netCents))
	}
	m.refunds.WithLabelValues(app, phase).Inc()
	m.reversed.WithLabelValues(app, currency).Add(float64(reversedCents))
}

// Released counts a release and how late it came after the hold ended.
func (m *Metrics) Released(app string, lag time.Duration) {
	if m == nil {
		return
	}
	m.releases.WithLabelValues(app).Inc()
	m.releaseLag.Observe(max(lag, 0).Seconds())
}

// StripeEvent counts a processed Stripe event by outcome.
func (m *Metrics) StripeEvent(outcome string) {
	if m == nil {
		return
	}
	m.stripeEvents.WithLabelValues(outcome).Inc()
}

// ClickBatch records a batch the click writer committed and how long each
// of its clicks waited for the writer.
func (m *Metrics) ClickBatch(size int, waits []time.Duration) {
	if m == nil {
		return
	}
	m.clickBatch.Observe(float64(size))
	for _, w := range waits {
		m.clickWait.Observe(w.Seconds())
	}
}

// WebhookAttempt counts a delivery attempt; a delivered one records how
// long after its event it arrived.
func (m *Metrics) WebhookAttempt(delivered bool, sinceEvent time.Duration) {
	if m == nil {
		return
	}
	if !delivered {
		m.webhooks.WithLabelValues("failed").Inc()
		return
	}
	m.webhooks.WithLabelValues("delivered").Inc()
	m.webhookLatency.Observe(sinceEvent.Seconds())
}

// LedgerChecked records the outcome of a ledger check.
func (m *Metrics) LedgerChecked(failures int, at time.Time) {
	if m == nil {
		return
	}
	m.ledgerFailures.Set(float64(failures))
	m.ledgerChecked.Set(float64(at.Unix()))
}

// Names are the families AgentLinks' own collectors export (Metrics and
// State), for the tests that keep dashboards and alerts in step.
func Names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		r := prometheus.NewRegistry()
		m := New(r)
		for _, c := range []prometheus.Collector{m.conversions, m.commission, m.refunds, m.reversed, m.clawbacks, m.clawbackCents,
			m.releases, m.releaseLag, m.stripeEvents, m.clickBatch, m.clickWait, m.webhooks, m.webhookLatency,
			m.ledgerFailures, m.ledgerChecked, NewState(nil, nil)} {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		s := d.String() // Desc{fqName: "…", …}
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			rest := s[i+len(`fqName: "`):]
			out = append(out, rest[:strings.Index(rest, `"`)])
		}
	}
	return out
}
