package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentlinks/agentlinks/db"
)

// State reads what is waiting or stuck from the database when Prometheus
// scrapes: Stripe events parked for an operator, conversions whose release
// is overdue, payouts by status, runs not yet ended, webhooks not yet
// delivered.
// These are gauges of the shared database, so one role registers them (the
// worker; dev mode's single process).
type State struct {
	q   *db.Queries
	log *slog.Logger

	up, stripeParked, stripeWaiting, pending, overdue, oldestOverdue, webhooksPending, webhooksUndispatched *prometheus.Desc
	payouts, payoutCents, openRuns                                                                          *prometheus.Desc
}

// NewState returns the collector; register it on the registry /metrics
// serves.
func NewState(q *db.Queries, log *slog.Logger) *State {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("agentlinks_"+name, help, labels, nil)
	}
	return &State{q: q, log: log,
		up:                   d("state_up", "1 when the last scrape could read the database's state, 0 when it could not."),
		stripeParked:         d("stripe_events_parked", "Stripe events parked for an operator now (agentlinks stripe events --parked)."),
		stripeWaiting:        d("stripe_events_waiting", "Stripe events received more than 5 minutes ago and not yet processed."),
		pending:              d("conversions_pending", "Conversions on hold now."),
		overdue:              d("releases_overdue", "Conversions still pending more than 5 minutes after their hold ended."),
		oldestOverdue:        d("release_overdue_seconds", "How long past its hold the oldest unreleased conversion is (0 when none)."),
		webhooksPending:      d("webhook_deliveries_pending", "Outbound webhook deliveries not yet delivered (retrying)."),
		webhooksUndispatched: d("webhook_deliveries_undispatched", "Outbound webhook deliveries whose workflow the worker has not started yet."),
		payouts:              d("payouts", "Payouts by status (reserved, processing, awaiting_payment, paid, failed, reversed).", "status", "currency"),
		payoutCents:          d("payouts_cents", "Money of the payouts by status, in cents.", "status", "currency"),
		openRuns:             d("payout_runs_open", "Payout runs not yet ended, by status.", "status"),
	}
}

// Describe implements prometheus.Collector.
func (s *State) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.up, s.stripeParked, s.stripeWaiting, s.pending, s.overdue, s.oldestOverdue,
		s.webhooksPending, s.webhooksUndispatched, s.payouts, s.payoutCents, s.openRuns} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: three indexed reads, bounded by
// a timeout so that a slow database makes state_up 0, not a hung scrape.
func (s *State) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st, err := s.q.MetricsState(ctx)
	if err != nil {
		s.log.Error("metrics: reading the state", "err", err)
		gauge(s.up, 0)
		return
	}
	payouts, err := s.q.MetricsPayouts(ctx)
	if err != nil {
		s.log.Error("metrics: reading payouts", "err", err)
		gauge(s.up, 0)
		return
	}
	runs, err := s.q.MetricsOpenRuns(ctx)
	if err != nil {
		s.log.Error("metrics: reading open runs", "err", err)
		gauge(s.up, 0)
		return
	}
	gauge(s.up, 1)
	gauge(s.stripeParked, float64(st.StripeParked))
	gauge(s.stripeWaiting, float64(st.StripeWaiting))
	gauge(s.pending, float64(st.ConversionsPending))
	gauge(s.overdue, float64(st.ReleasesOverdue))
	gauge(s.oldestOverdue, st.OldestOverdueSeconds)
	gauge(s.webhooksPending, float64(st.WebhooksPending))
	gauge(s.webhooksUndispatched, float64(st.WebhooksUndispatched))
	for _, p := range payouts {
		gauge(s.payouts, float64(p.Payouts), p.Status, p.Currency)
		gauge(s.payoutCents, float64(p.Cents), p.Status, p.Currency)
	}
	for _, r := range runs {
		gauge(s.openRuns, float64(r.Runs), r.Status)
	}
}
