package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// operatorPage is the platform's: totals, fee revenue per day, parked
// Stripe events. Anyone else gets a 404.
func (s *server) operatorPage(c *gin.Context) {
	p, err := s.svc.PlatformView(c.Request.Context(), account(c), 30, time.Now())
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, http.StatusOK, "operator", page{Title: "Platform", Data: map[string]any{"Platform": p}})
}
