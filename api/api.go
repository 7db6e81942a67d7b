// Package api is the HTTP face of AgentLinks: thin Gin handlers that bind a
// request, call the service, and map its answer. Who is asking is decided
// once, in middleware (auth.go); errors are mapped to a status and
// {"error":{"code","message"}} in one place (errors.go). Handlers live by
// area: tracking.go (clicks, signups), conversions.go (conversions,
// refunds), reports.go (balances, stats), stripe.go (Connect, webhook).
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alexedwards/scs/v2"

	"github.com/agentlinks/agentlinks/internal/ratelimit"
	"github.com/agentlinks/agentlinks/service"
)

// MaxBodyBytes is the largest request body accepted (PRODUCT.md: 16 KiB).
const MaxBodyBytes = 16 << 10

// MaxWebhookBytes is the largest Stripe event accepted: an invoice with many
// lines is far larger than a tracking call.
const MaxWebhookBytes = 1 << 20

// Deps is what the API needs.
type Deps struct {
	// Service does the work; its Stripe configuration decides whether the
	// Stripe endpoints are on (they say so when off).
	Service *service.Service
	// Ready reports whether the database and Temporal answer; /readyz.
	Ready  func(context.Context) error
	Logger *slog.Logger
	// Registry receives the API's metrics; nil uses a private registry.
	Registry *prometheus.Registry
	// RequestTimeout bounds each request; 0 means 15 seconds.
	RequestTimeout time.Duration
	// RateLimitPerMinute limits the tracking endpoints per client address;
	// each ref gets ten times as much (a popular link is clicked by many).
	// 0 turns the limits off.
	RateLimitPerMinute int
	// TrustedProxies may name the client in X-Forwarded-For; none by default.
	TrustedProxies []string
	// PublicURL is where browsers reach this API (the snippet, join links).
	PublicURL string
	// TemporalUIURL and TemporalNamespace make the links from a conversion
	// to its workflow in the Temporal UI.
	TemporalUIURL, TemporalNamespace string
	// Sessions keeps the dashboard's sessions; nil makes one over the
	// service's database that never sweeps expired sessions (NewSessions).
	Sessions *scs.SessionManager
}

type server struct {
	svc     *service.Service
	log     *slog.Logger
	metrics *metrics
	perIP   *ratelimit.Limiter
	perRef  *ratelimit.Limiter

	// The dashboard's.
	pages        *pages
	sessions     *scs.SessionManager
	origins      *http.CrossOriginProtection
	loginIP      *ratelimit.Limiter
	loginAccount *ratelimit.Limiter
	publicURL    string
	stripePages  string // CSP form-action origins of Stripe's pages
}

// New returns the HTTP handler of the API.
func New(d Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.TemporalUIURL == "" {
		d.TemporalUIURL = "http://localhost:8233"
	}
	if d.TemporalNamespace == "" {
		d.TemporalNamespace = "default"
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 15 * time.Second
	}
	if d.Sessions == nil {
		d.Sessions, _ = NewSessions(d.Service.Pool, strings.HasPrefix(d.PublicURL, "https://"), 0)
	}
	s := &server{svc: d.Service, log: d.Logger, metrics: newMetrics(d.Registry),
		perIP: ratelimit.New(d.RateLimitPerMinute), perRef: ratelimit.New(10 * d.RateLimitPerMinute),
		pages: newPages(d.TemporalUIURL, d.TemporalNamespace), sessions: d.Sessions, stripePages: stripePages(d.Service.Stripe), origins: http.NewCrossOriginProtection(),
		// Login: the sixth attempt for one account within a minute is
		// refused; an address gets more (an office shares one).
		loginIP: ratelimit.New(30), loginAccount: ratelimit.New(5), publicURL: d.PublicURL}
	r := gin.New()
	// No proxy is trusted unless configured: X-Forwarded-For from a client
	// must not choose the visitor identity or dodge the rate limits.
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		d.Logger.Error("TRUSTED_PROXIES ignored", "error", err)
		_ = r.SetTrustedProxies(nil)
	}
	// The busiest route goes without a timer of its own: a click waits
	// only for the click writer, whose batch has its own 10 s bound, and
	// for its client.
	r.Use(s.recover, s.observe, timeout(d.RequestTimeout, "/api/track/click"))
	r.NoRoute(func(c *gin.Context) {
		fail(c, transportError(http.StatusNotFound, "not_found", "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path))
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		if d.Ready != nil {
			if err := d.Ready(c.Request.Context()); err != nil {
				c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": err.Error()})
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))

	r.GET("/api/openapi.json", s.openapiJSON)
	r.GET("/api/docs", s.apiDocs)

	js := newScript()
	r.GET("/agentlinks.js", js.serve)
	r.HEAD("/agentlinks.js", js.serve)

	// Clicks and signups are public (a ref code is); conversions and
	// refunds move money and carry the app's key, unless the app is in
	// keyless mode.
	track := r.Group("/api/track", limitBody(MaxBodyBytes), s.cors, s.limitIP)
	for _, p := range []string{"/click", "/signup", "/conversion", "/refund"} {
		track.OPTIONS(p, func(*gin.Context) {}) // answered by cors
	}
	track.POST("/click", s.trackClick)
	track.POST("/signup", s.trackSignup)
	track.POST("/conversion", s.secretKey(optional), s.conversion)
	track.POST("/refund", s.secretKey(optional), s.refund)

	r.POST("/api/stripe/webhook", limitBody(MaxWebhookBytes), s.stripeOn(s.svc.StripeWebhookEnabled), s.stripeWebhook)
	r.POST("/api/stripe/connect", limitBody(MaxBodyBytes), s.stripeOn(s.svc.StripeConnectEnabled), s.secretKey(required), s.stripeConnect)
	r.GET("/api/stripe/oauth/callback", s.stripeOn(s.svc.StripeConnectEnabled), s.stripeCallback)
	r.POST("/api/stripe/disconnect", limitBody(MaxBodyBytes), s.stripeOn(s.svc.StripeConnectEnabled), s.secretKey(required), s.stripeDisconnect)

	s.dashboardRoutes(r)

	reads := r.Group("/api", s.secretKey(required))
	reads.GET("/conversions/:id", s.getConversion)
	reads.GET("/creators/:ref/balance", s.balance)
	reads.GET("/creators/:ref/stats", s.stats)
	reads.GET("/stats", s.programStats)
	reads.GET("/payouts", s.listPayouts)
	reads.GET("/payouts/runs/:id", s.getRun)
	r.POST("/api/payouts/runs", limitBody(MaxBodyBytes), s.secretKey(required), s.startRun)
	reads.GET("/webhooks", s.listWebhooks)
	hooks := r.Group("/api/webhooks", limitBody(MaxBodyBytes), s.secretKey(required))
	hooks.POST("", s.createWebhook)
	hooks.DELETE("/:id", s.deleteWebhook)
	hooks.POST("/:id/rotate", s.rotateWebhook)
	return r
}
