package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/service"
)

// The payouts API, with the app's secret key: a creator's payouts, the
// program's runs, and a run started now.

// runJSON is a payout run as the API answers it.
type runJSON struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Mode            string            `json:"mode"`
	Trigger         string            `json:"trigger"`
	Currency        string            `json:"currency"`
	NetCents        int64             `json:"net_cents"`
	FeeCents        int64             `json:"fee_cents"`
	CreditCents     int64             `json:"credit_cents"`
	ChargeCents     int64             `json:"charge_cents"`
	PaymentIntentID *string           `json:"payment_intent_id"`
	FailureReason   string            `json:"failure_reason,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	ConfirmedAt     *time.Time        `json:"confirmed_at"`
	FundedAt        *time.Time        `json:"funded_at"`
	FinishedAt      *time.Time        `json:"finished_at"`
	Payouts         []service.Payout  `json:"payouts"`
	Skipped         []service.Skipped `json:"skipped"`
}

func runOf(r service.Run) runJSON {
	return runJSON{ID: r.ID, Status: r.Status, Mode: r.Mode, Trigger: r.Trigger, Currency: r.Currency, NetCents: r.NetCents,
		FeeCents: r.FeeCents, CreditCents: r.CreditCents, ChargeCents: r.ChargeCents, PaymentIntentID: r.PaymentIntentID,
		FailureReason: r.FailureReason, CreatedAt: r.CreatedAt.UTC(), ConfirmedAt: r.ConfirmedAt, FundedAt: r.FundedAt,
		FinishedAt: r.FinishedAt, Payouts: r.Payouts, Skipped: r.Skipped}
}

// listPayouts answers GET /api/payouts?ref=: that creator's payouts, or
// without ref the program's newest.
func (s *server) listPayouts(c *gin.Context) {
	ctx, appID := c.Request.Context(), caller(c).AppID
	var ps []service.Payout
	var err error
	if ref := c.Query("ref"); ref != "" {
		ps, err = s.svc.PayoutsOf(ctx, appID, ref)
	} else {
		ps, err = s.svc.AppPayouts(ctx, appID)
	}
	respond(c, http.StatusOK, gin.H{"payouts": ps}, err)
}

// startRun answers POST /api/payouts/runs: a run starts now (202); it
// reserves, then waits for the owner unless the program auto-confirms.
func (s *server) startRun(c *gin.Context) {
	id, err := s.svc.StartPayoutRun(c.Request.Context(), caller(c).AppID, payout.TriggerOwner)
	respond(c, http.StatusAccepted, gin.H{"run_id": id, "url": "/api/payouts/runs/" + id}, err)
}

func (s *server) getRun(c *gin.Context) {
	r, err := s.svc.PayoutRun(c.Request.Context(), caller(c).AppID, c.Param("id"))
	respond(c, http.StatusOK, runOf(r), err)
}
