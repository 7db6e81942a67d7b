package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/service"
)

// The payouts API, with the app's secret key: a creator's payouts, the
// program's runs, and a run started now.

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
	respond(c, http.StatusOK, r.View(), err)
}
