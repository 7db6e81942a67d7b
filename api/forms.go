package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
)

// Forms that create something (an app, a key, an endpoint, a payout run,
// a cash out, an account) carry a one-time token (formToken in the
// templates), and every form answers with a redirect: a reload after a post
// shows the page again without posting, and the same form posted twice
// creates one thing.

// formPostWait is how long a repeat waits for its first post to finish.
const formPostWait = 10 * time.Second

// once runs the form's handler for the first post of its token only. A
// repeat is sent where the first one led; a first post that did not end in
// a redirect (a refusal shown on the form) lets the token go, so the
// corrected form can be sent with it.
func (s *server) once(c *gin.Context) {
	token := c.PostForm("form_token")
	first, loc, err := s.svc.ClaimFormPost(c.Request.Context(), token, formPostWait)
	if errors.Is(err, service.ErrFormPostRunning) {
		err = refusal.Conflict("form_running", "This form was sent twice and the first one is still being worked on: open the page again in a moment to see its result.")
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	if !first {
		c.Redirect(http.StatusSeeOther, loc)
		c.Abort()
		return
	}
	c.Next()
	// The request may have been given up by the browser (a second click
	// replaces the first): the claim is settled all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
	defer cancel()
	loc = c.Writer.Header().Get("Location")
	if c.Writer.Status() == http.StatusSeeOther && strings.HasPrefix(loc, "/") {
		err = s.svc.FinishFormPost(ctx, token, loc)
	} else {
		err = s.svc.ReleaseFormPost(ctx, token)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "settle form post", "error", err)
	}
}
