package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

func (s *server) balance(c *gin.Context) {
	b, err := s.svc.Balance(c.Request.Context(), caller(c).AppID, c.Param("ref"))
	respond(c, http.StatusOK, b, err)
}

func (s *server) stats(c *gin.Context) {
	st, err := s.svc.Stats(c.Request.Context(), caller(c).AppID, c.Param("ref"))
	respond(c, http.StatusOK, st, err)
}

// programStats answers the key's program over ?days= (default 30) days.
func (s *server) programStats(c *gin.Context) {
	days := 30
	if v, ok := c.GetQuery("days"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1 // refused as out of range, with the range in the message
		}
		days = n
	}
	st, err := s.svc.ProgramStats(c.Request.Context(), caller(c).AppID, days, time.Now())
	respond(c, http.StatusOK, st, err)
}
