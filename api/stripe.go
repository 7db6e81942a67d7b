package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/service"
)

// stripeOn answers 503 when the part of Stripe an endpoint needs is not
// configured (enabled says which).
func (s *server) stripeOn(enabled func() error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := enabled(); err != nil {
			fail(c, stripeOff(err))
		}
	}
}

func stripeOff(err error) error {
	return transportError(http.StatusServiceUnavailable, "stripe_not_configured", err.Error())
}

// stripeWebhook receives the platform's Connect events. It answers 2xx
// once the event is stored and its processing durably started; Stripe
// retries anything else.
func (s *server) stripeWebhook(c *gin.Context) {
	payload, err := readBody(c)
	if err != nil {
		fail(c, err)
		return
	}
	evt, err := s.svc.ReceiveStripeEvent(c.Request.Context(), payload, c.GetHeader("Stripe-Signature"))
	switch {
	case errors.Is(err, service.ErrBadSignature):
		fail(c, badRequest("invalid_signature", err.Error()))
		return
	case errors.Is(err, service.ErrMalformed):
		fail(c, badRequest("invalid_event", err.Error()))
		return
	case err != nil:
		fail(c, err)
		return
	}
	s.log.InfoContext(c.Request.Context(), "stripe event received", "event_id", evt.ID, "type", evt.Type, "account", evt.Account)
	c.JSON(http.StatusOK, gin.H{"received": true, "id": evt.ID})
}

// stripeConnect answers where the app's owner goes to connect a Stripe
// account.
func (s *server) stripeConnect(c *gin.Context) {
	url, err := s.svc.StripeConnectURL(caller(c).AppID)
	respond(c, http.StatusOK, gin.H{"url": url}, stripeErr(err))
}

// stripeCallback is where Stripe sends the owner back after its OAuth
// screens.
func (s *server) stripeCallback(c *gin.Context) {
	if e := c.Query("error"); e != "" {
		fail(c, badRequest("stripe_"+e, "Stripe did not connect the account: "+c.Query("error_description")))
		return
	}
	appID, account, err := s.svc.StripeCallback(c.Request.Context(), c.Query("code"), c.Query("state"))
	if wantsHTML(c) {
		// An owner back from Stripe's screens in a browser: to the app's page.
		if err != nil {
			s.log.ErrorContext(c.Request.Context(), "stripe connect failed", "app_id", appID, "error", err)
			s.render(c, http.StatusBadGateway, "error", page{Title: "Stripe was not connected",
				Data: map[string]any{"Message": "Stripe did not connect the account (" + err.Error() + "). Start again from your app's page."}})
			return
		}
		c.Redirect(http.StatusSeeOther, "/apps/"+appID+"/setup?notice=stripe_connected")
		return
	}
	switch {
	case errors.Is(err, service.ErrBadState):
		fail(c, badRequest("invalid_state",
			"this link did not come from AgentLinks, or it expired: start connecting Stripe again from your app"))
		return
	case errors.Is(err, service.ErrStripeOff):
		fail(c, stripeOff(err))
		return
	case err != nil:
		s.log.ErrorContext(c.Request.Context(), "stripe connect failed", "app_id", appID, "error", err)
		fail(c, transportError(http.StatusBadGateway, "stripe_connect_failed", err.Error()))
		return
	}
	s.log.InfoContext(c.Request.Context(), "stripe account connected", "app_id", appID, "account", account)
	c.JSON(http.StatusOK, gin.H{"app_id": appID, "stripe_account_id": account, "connected": true})
}

func (s *server) stripeDisconnect(c *gin.Context) {
	appID := caller(c).AppID
	err := s.svc.DisconnectStripe(c.Request.Context(), appID)
	respond(c, http.StatusOK, gin.H{"app_id": appID, "connected": false}, stripeErr(err))
}

// stripeErr says Stripe is off, or is the error.
func stripeErr(err error) error {
	if errors.Is(err, service.ErrStripeOff) {
		return stripeOff(err)
	}
	return err
}

// wantsHTML says the caller is a browser navigating, not an API client.
func wantsHTML(c *gin.Context) bool {
	return strings.Contains(c.GetHeader("Accept"), "text/html")
}
