package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/stripeconnect"
	"github.com/agentlinks/agentlinks/internal/tracking"
)

// stripeHandlers are the Stripe Connect endpoints.
type stripeHandlers struct {
	svc      *stripeconnect.Service
	tracking *tracking.Service
	log      *slog.Logger
}

func (h *stripeHandlers) off(c *gin.Context, err error) bool {
	if h.svc == nil {
		err = stripeconnect.ErrOff
	}
	if errors.Is(err, stripeconnect.ErrOff) {
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, errorBody("stripe_not_configured", err.Error()))
		return true
	}
	return false
}

// webhook receives the platform's Connect events. It answers 2xx once the
// event is stored and its processing durably started; Stripe retries
// anything else.
func (h *stripeHandlers) webhook(c *gin.Context) {
	if h.off(c, nil) || h.off(c, h.svc.WebhookEnabled()) {
		return
	}
	payload, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		failTooLarge(c, tooBig.Limit)
		return
	}
	if err != nil {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_body", Message: "could not read the request body"})
		return
	}
	evt, err := h.svc.Receive(c.Request.Context(), payload, c.GetHeader("Stripe-Signature"))
	if errors.Is(err, stripeconnect.ErrBadSignature) {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_signature", Message: err.Error()})
		return
	}
	if errors.Is(err, stripeconnect.ErrMalformed) {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_event", Message: err.Error()})
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	h.log.InfoContext(c.Request.Context(), "stripe event received", "event_id", evt.ID, "type", evt.Type, "account", evt.Account)
	c.JSON(http.StatusOK, gin.H{"received": true, "id": evt.ID})
}

// connect answers where the app's owner goes to connect a Stripe account.
func (h *stripeHandlers) connect(c *gin.Context) {
	app, ok := h.ownerApp(c)
	if !ok {
		return
	}
	url, err := h.svc.ConnectURL(app.ID)
	h.answer(c, gin.H{"url": url}, err)
}

// ownerApp is the app whose secret key the request carries, once Stripe is
// known to be configured; otherwise it has answered.
func (h *stripeHandlers) ownerApp(c *gin.Context) (db.App, bool) {
	if h.off(c, nil) {
		return db.App{}, false
	}
	app, err := h.tracking.AppForKey(c.Request.Context(), bearer(c))
	if err != nil {
		fail(c, err)
		return db.App{}, false
	}
	return app, true
}

// answer answers v, or says Stripe is off, or the error.
func (h *stripeHandlers) answer(c *gin.Context, v any, err error) {
	if !h.off(c, err) {
		respond(c, http.StatusOK, v, err)
	}
}

// callback is where Stripe sends the owner back after its OAuth screens.
func (h *stripeHandlers) callback(c *gin.Context) {
	if h.off(c, nil) {
		return
	}
	if e := c.Query("error"); e != "" {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "stripe_" + e, Message: "Stripe did not connect the account: " + c.Query("error_description")})
		return
	}
	appID, account, err := h.svc.Callback(c.Request.Context(), c.Query("code"), c.Query("state"))
	if h.off(c, err) {
		return
	}
	if errors.Is(err, stripeconnect.ErrBadState) {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_state",
			Message: "this link did not come from AgentLinks, or it expired: start connecting Stripe again from your app"})
		return
	}
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "stripe connect failed", "app_id", appID, "error", err)
		fail(c, &tracking.Error{Kind: kindBadGateway, Code: "stripe_connect_failed", Message: err.Error()})
		return
	}
	h.log.InfoContext(c.Request.Context(), "stripe account connected", "app_id", appID, "account", account)
	c.JSON(http.StatusOK, gin.H{"app_id": appID, "stripe_account_id": account, "connected": true})
}

func (h *stripeHandlers) disconnect(c *gin.Context) {
	app, ok := h.ownerApp(c)
	if !ok {
		return
	}
	h.answer(c, gin.H{"app_id": app.ID, "connected": false}, h.svc.Disconnect(c.Request.Context(), app))
}
