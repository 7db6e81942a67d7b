package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/service"
)

type clickRequest struct {
	Ref       string `json:"ref"`
	AppID     string `json:"app_id"`
	URL       string `json:"url"`
	Referrer  string `json:"referrer"`
	VisitorID string `json:"visitor_id"`
}

func (s *server) trackClick(c *gin.Context) {
	var req clickRequest
	if !bindWith(c, func(body []byte) error { return decodeClick(body, &req) }) || !s.limitRef(c, req.Ref) {
		return
	}
	res, err := s.svc.Click(c.Request.Context(), service.ClickInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), URL: req.URL, Referrer: req.Referrer,
		VisitorID: req.VisitorID, ClientIP: c.ClientIP(), UserAgent: c.Request.UserAgent(),
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", clickAnswer(res.Unique, res.CookieDays))
}

// clickAnswer is the 202's body, {"accepted":true,"unique":…,"cookie_days":…},
// written without the JSON encoder: the busiest answer of the API.
func clickAnswer(unique bool, cookieDays int32) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"accepted":true,"unique":`...)
	b = strconv.AppendBool(b, unique)
	b = append(b, `,"cookie_days":`...)
	b = strconv.AppendInt(b, int64(cookieDays), 10)
	return append(b, '}')
}

type signupRequest struct {
	Ref    string `json:"ref"`
	AppID  string `json:"app_id"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

func (s *server) trackSignup(c *gin.Context) {
	var req signupRequest
	if !bind(c, &req) || !s.limitRef(c, req.Ref) {
		return
	}
	ref, created, err := s.svc.Signup(c.Request.Context(), service.SignupInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, Email: req.Email,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status(created), ref)
}

// appID is the app a request names: in its body, else in the query string,
// where the tracking script puts it so that a CORS preflight carries it too.
func appID(c *gin.Context, body string) string {
	if body != "" {
		return body
	}
	return c.Query("app_id")
}
