package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/webhook"
)

// Outbound webhooks: an app registers endpoints with its key (or on the
// dashboard's Webhooks tab) and receives signed events.

type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// createWebhook answers POST /api/webhooks: {url, events} →
// {webhook_id, secret, url, events, created_at} (201). The secret is shown
// here and on the dashboard; it verifies the webhook-signature header.
func (s *server) createWebhook(c *gin.Context) {
	var req webhookRequest
	if !bind(c, &req) {
		return
	}
	ep, err := s.svc.RegisterWebhook(c.Request.Context(), caller(c).AppID, req.URL, req.Events)
	respond(c, http.StatusCreated, ep, err)
}

func (s *server) listWebhooks(c *gin.Context) {
	eps, err := s.svc.WebhookEndpoints(c.Request.Context(), caller(c).AppID, false)
	respond(c, http.StatusOK, gin.H{"webhooks": eps}, err)
}

func (s *server) deleteWebhook(c *gin.Context) {
	err := s.svc.DeleteWebhook(c.Request.Context(), caller(c).AppID, c.Param("id"))
	respond(c, http.StatusOK, gin.H{"webhook_id": c.Param("id"), "deleted": true}, err)
}

// rotateWebhook answers POST /api/webhooks/:id/rotate: a new secret; the
// old one keeps signing for 24 hours.
func (s *server) rotateWebhook(c *gin.Context) {
	ep, err := s.svc.RotateWebhookSecret(c.Request.Context(), caller(c).AppID, c.Param("id"))
	respond(c, http.StatusOK, ep, err)
}

// The dashboard's Webhooks tab.

func (s *server) webhookRoutes(in *gin.RouterGroup) {
	in.GET("/apps/:app_id/webhooks", s.webhooksPage)
	in.POST("/apps/:app_id/webhooks", s.once, s.addWebhook)
	in.POST("/apps/:app_id/webhooks/:webhook_id/delete", s.removeWebhook)
	in.POST("/apps/:app_id/webhooks/:webhook_id/rotate", s.rotateWebhookSecret)
	in.POST("/apps/:app_id/webhooks/deliveries/:delivery_id/resend", s.resendWebhook)
}

func (s *server) webhooksPage(c *gin.Context) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	var eps any
	var deliveries any
	if err == nil {
		eps, err = s.svc.WebhookEndpoints(ctx, app.ID, true)
	}
	if err == nil {
		deliveries, err = s.svc.WebhookDeliveries(ctx, app.ID, 50)
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	status, problem := formProblem(c)
	s.render(c, status, "app_webhooks", page{Title: app.Name + " · Webhooks", Notice: notices[c.Query("notice")], Error: problem,
		Data: map[string]any{"Tab": "webhooks", "App": app, "Endpoints": eps, "Deliveries": deliveries,
			"Events": webhookEventChoices(c.PostFormArray("events")), "URL": c.PostForm("url")}})
}

func webhooksTab(app db.App, notice string) string {
	return "/apps/" + app.ID + "/webhooks?notice=" + notice
}

func (s *server) addWebhook(c *gin.Context) {
	s.ownerActionOn(c, s.webhooksPage, func(ctx context.Context, app db.App) (string, error) {
		_, err := s.svc.RegisterWebhook(ctx, app.ID, c.PostForm("url"), c.PostFormArray("events"))
		return webhooksTab(app, "webhook_added"), err
	})
}

func (s *server) removeWebhook(c *gin.Context) {
	s.ownerActionOn(c, s.webhooksPage, func(ctx context.Context, app db.App) (string, error) {
		return webhooksTab(app, "webhook_deleted"), s.svc.DeleteWebhook(ctx, app.ID, c.Param("webhook_id"))
	})
}

func (s *server) rotateWebhookSecret(c *gin.Context) {
	s.ownerActionOn(c, s.webhooksPage, func(ctx context.Context, app db.App) (string, error) {
		_, err := s.svc.RotateWebhookSecret(ctx, app.ID, c.Param("webhook_id"))
		return webhooksTab(app, "webhook_rotated"), err
	})
}

func (s *server) resendWebhook(c *gin.Context) {
	s.ownerActionOn(c, s.webhooksPage, func(ctx context.Context, app db.App) (string, error) {
		return webhooksTab(app, "webhook_resent"), s.svc.ResendWebhook(ctx, app.ID, c.Param("delivery_id"))
	})
}

// webhookEvent is a box of the form, ticked again when a refused form is
// shown back.
type webhookEvent struct {
	Type, Means string
	Ticked      bool
}

func webhookEventChoices(ticked []string) []webhookEvent {
	var out []webhookEvent
	for _, t := range webhook.Types {
		out = append(out, webhookEvent{Type: t, Means: webhook.Describe(t), Ticked: slices.Contains(ticked, t)})
	}
	return out
}
