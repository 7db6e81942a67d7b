// Package api is the HTTP face of AgentLinks: thin Gin handlers that bind a
// request, call the tracking service, and map its answer. Errors are mapped
// to a status and {"error":{"code","message"}} in one place, fail.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agentlinks/agentlinks/internal/ratelimit"
	"github.com/agentlinks/agentlinks/internal/stripeconnect"
	"github.com/agentlinks/agentlinks/internal/tracking"
)

// MaxBodyBytes is the largest request body accepted (PRODUCT.md: 16 KiB).
const MaxBodyBytes = 16 << 10

// MaxWebhookBytes is the largest Stripe event accepted: an invoice with many
// lines is far larger than a tracking call.
const MaxWebhookBytes = 1 << 20

// Deps is what the API needs.
type Deps struct {
	Tracking *tracking.Service
	// Stripe is the Connect integration; its endpoints say when it is off.
	Stripe *stripeconnect.Service
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
}

type server struct {
	t       *tracking.Service
	log     *slog.Logger
	metrics *metrics
	perIP   *ratelimit.Limiter
	perRef  *ratelimit.Limiter
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
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 15 * time.Second
	}
	s := &server{t: d.Tracking, log: d.Logger, metrics: newMetrics(d.Registry),
		perIP: ratelimit.New(d.RateLimitPerMinute), perRef: ratelimit.New(10 * d.RateLimitPerMinute)}
	r := gin.New()
	// No proxy is trusted unless configured: X-Forwarded-For from a client
	// must not choose the visitor identity or dodge the rate limits.
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		d.Logger.Error("TRUSTED_PROXIES ignored", "error", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.Use(s.recover, s.observe, timeout(d.RequestTimeout))
	r.NoRoute(func(c *gin.Context) {
		fail(c, &tracking.Error{Kind: kindNoRoute, Code: "not_found", Message: "no such endpoint: " + c.Request.Method + " " + c.Request.URL.Path})
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

	js := newScript()
	r.GET("/agentlinks.js", js.serve)
	r.HEAD("/agentlinks.js", js.serve)

	track := r.Group("/api/track", limitBody(MaxBodyBytes), s.cors, s.limitIP)
	for _, p := range []string{"/click", "/signup", "/conversion", "/refund"} {
		track.OPTIONS(p, func(*gin.Context) {}) // answered by cors
	}
	track.POST("/click", s.click)
	track.POST("/signup", s.signup)
	track.POST("/conversion", s.conversion)
	track.POST("/refund", s.refund)

	st := &stripeHandlers{svc: d.Stripe, tracking: d.Tracking, log: d.Logger}
	r.POST("/api/stripe/webhook", limitBody(MaxWebhookBytes), st.webhook)
	r.POST("/api/stripe/connect", limitBody(MaxBodyBytes), st.connect)
	r.GET("/api/stripe/oauth/callback", st.callback)
	r.POST("/api/stripe/disconnect", limitBody(MaxBodyBytes), st.disconnect)

	r.GET("/api/conversions/:id", s.getConversion)
	r.GET("/api/creators/:ref/balance", s.balance)
	r.GET("/api/creators/:ref/stats", s.stats)
	r.GET("/api/stats", s.programStats)
	return r
}

type clickRequest struct {
	Ref       string `json:"ref"`
	AppID     string `json:"app_id"`
	URL       string `json:"url"`
	Referrer  string `json:"referrer"`
	VisitorID string `json:"visitor_id"`
}

func (s *server) click(c *gin.Context) {
	var req clickRequest
	if !bind(c, &req) || !s.limitRef(c, req.Ref) {
		return
	}
	res, err := s.t.Click(c.Request.Context(), tracking.ClickInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), URL: req.URL, Referrer: req.Referrer,
		VisitorID: req.VisitorID, ClientIP: c.ClientIP(), UserAgent: c.Request.UserAgent(),
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"accepted": true, "unique": res.Unique, "cookie_days": res.CookieDays})
}

type signupRequest struct {
	Ref    string `json:"ref"`
	AppID  string `json:"app_id"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

func (s *server) signup(c *gin.Context) {
	var req signupRequest
	if !bind(c, &req) || !s.limitRef(c, req.Ref) {
		return
	}
	ref, created, err := s.t.Signup(c.Request.Context(), tracking.SignupInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, Email: req.Email,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status(created), ref)
}

type conversionRequest struct {
	Ref           string      `json:"ref"`
	AppID         string      `json:"app_id"`
	UserID        string      `json:"user_id"`
	AmountCents   json.Number `json:"amount_cents"`
	Currency      string      `json:"currency"`
	TransactionID string      `json:"transaction_id"`
}

func (s *server) conversion(c *gin.Context) {
	var req conversionRequest
	if !bind(c, &req) || !s.limitRef(c, req.Ref) {
		return
	}
	amount, err := cents(req.AmountCents)
	if err != nil {
		fail(c, err)
		return
	}
	conv, created, err := s.t.Conversion(c.Request.Context(), tracking.ConversionInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, AmountCents: amount, Currency: req.Currency,
		TransactionID: req.TransactionID, IdempotencyKey: c.GetHeader("Idempotency-Key"), Bearer: bearer(c),
		FromBrowser: c.GetHeader("Origin") != "",
	})
	if err != nil {
		fail(c, err)
		return
	}
	if created {
		s.log.InfoContext(c.Request.Context(), "conversion recorded", "conversion_id", conv.ConversionID,
			"workflow_id", conv.WorkflowID, "ref", conv.Ref, "commission_cents", conv.Commission.CommissionCents)
	}
	c.JSON(status(created), conv)
}

type refundRequest struct {
	Ref           string      `json:"ref"`
	AppID         string      `json:"app_id"`
	UserID        string      `json:"user_id"`
	AmountCents   json.Number `json:"amount_cents"`
	TransactionID string      `json:"transaction_id"`
	RefundID      string      `json:"refund_id"`
}

func (s *server) refund(c *gin.Context) {
	var req refundRequest
	if !bind(c, &req) || !s.limitRef(c, req.Ref) {
		return
	}
	amount, err := cents(req.AmountCents)
	if err != nil {
		fail(c, err)
		return
	}
	res, err := s.t.Refund(c.Request.Context(), tracking.RefundInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, AmountCents: amount,
		TransactionID: req.TransactionID, RefundID: req.RefundID,
		IdempotencyKey: c.GetHeader("Idempotency-Key"), Bearer: bearer(c), FromBrowser: c.GetHeader("Origin") != "",
	})
	respond(c, http.StatusOK, res, err)
}

func (s *server) getConversion(c *gin.Context) {
	conv, err := s.t.GetConversion(c.Request.Context(), bearer(c), c.Param("id"))
	respond(c, http.StatusOK, conv, err)
}

func (s *server) balance(c *gin.Context) {
	b, err := s.t.Balance(c.Request.Context(), bearer(c), c.Param("ref"))
	respond(c, http.StatusOK, b, err)
}

func (s *server) stats(c *gin.Context) {
	st, err := s.t.Stats(c.Request.Context(), bearer(c), c.Param("ref"))
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
	st, err := s.t.ProgramStats(c.Request.Context(), bearer(c), days, time.Now())
	respond(c, http.StatusOK, st, err)
}

// respond answers v with status, or the error.
func respond[T any](c *gin.Context, status int, v T, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, v)
}

// appID is the app a request names: in its body, else in the query string,
// where the tracking script puts it so that a CORS preflight carries it too.
func appID(c *gin.Context, body string) string {
	if body != "" {
		return body
	}
	return c.Query("app_id")
}

// cors lets pages on an app's allowed origins call the tracking endpoints,
// and refuses every other page, preflight included. The app is named by the
// app_id query parameter (a preflight has no body). Backends send no
// Origin and are not concerned; nor is a page of this server itself.
func (s *server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || sameOrigin(c.Request, origin) {
		if c.Request.Method == http.MethodOptions {
			c.AbortWithStatus(http.StatusNoContent)
		}
		return
	}
	app := c.Query("app_id")
	ok, err := s.t.OriginAllowed(c.Request.Context(), app, origin)
	if err != nil {
		fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Add("Vary", "Origin")
	if !ok {
		msg := fmt.Sprintf("pages on %s may not call the tracking API for app %q: the app owner adds the site with "+
			"`agentlinks apps update --app %s --allowed-origin %s`", origin, app, app, origin)
		if app == "" {
			msg = "a call from a browser must name its app in the query string (?app_id=app_…), as agentlinks.js does"
		}
		c.AbortWithStatusJSON(http.StatusForbidden, errorBody("origin_not_allowed", msg))
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if c.Request.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Idempotency-Key")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
	}
}

// limitIP answers 429 to a client address over its rate.
func (s *server) limitIP(c *gin.Context) {
	if c.Request.Method == http.MethodOptions {
		return
	}
	if ok, wait := s.perIP.Allow("ip:"+c.ClientIP(), time.Now()); !ok {
		tooMany(c, wait, "too many requests from this address")
	}
}

// limitRef answers 429 when one ref code gets more than its rate, whoever
// sends it: a ref is public, and spraying one is how fake clicks are made.
func (s *server) limitRef(c *gin.Context, ref string) bool {
	if ok, wait := s.perRef.Allow("ref:"+strings.ToLower(strings.TrimSpace(ref)), time.Now()); !ok {
		tooMany(c, wait, "too many requests for this ref code")
		return false
	}
	return true
}

func tooMany(c *gin.Context, wait time.Duration, msg string) {
	secs := int(wait/time.Second) + 1
	c.Header("Retry-After", strconv.Itoa(secs))
	c.AbortWithStatusJSON(http.StatusTooManyRequests, errorBody("rate_limited", fmt.Sprintf("%s; retry in %d s", msg, secs)))
}

func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func status(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// bind decodes a JSON body; unknown fields are ignored (PRODUCT.md). A body
// that is not JSON, or a field of the wrong type, is a 400 that says which.
func bind(c *gin.Context, v any) bool {
	body, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		failTooLarge(c, tooBig.Limit)
		return false
	}
	if err != nil {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_body", Message: "could not read the request body"})
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_json", Message: "the request body must be a JSON object"})
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		msg := "the request body is not valid JSON"
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			msg = fmt.Sprintf("field %q must be a %s, not a JSON %s", typeErr.Field, typeName(typeErr.Type), typeErr.Value)
			if typeErr.Field == "" {
				msg = "the request body must be a JSON object, not a JSON " + typeErr.Value
			}
		}
		fail(c, &tracking.Error{Kind: kindBadRequest, Code: "invalid_json", Message: msg})
		return false
	}
	return true
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeFor[json.Number]() {
		return "number"
	}
	return t.Kind().String()
}

// cents parses amount_cents: a JSON number that is a whole number of cents.
func cents(n json.Number) (int64, error) {
	if n == "" {
		return 0, &tracking.Error{Kind: tracking.KindInvalid, Code: "invalid_amount", Message: "amount_cents is required: a positive whole number of cents"}
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, &tracking.Error{Kind: tracking.KindInvalid, Code: "invalid_amount",
			Message: fmt.Sprintf("amount_cents must be a positive whole number of cents (integer), got %s", n)}
	}
	return v, nil
}

func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Kinds the API adds to the service's own.
const (
	kindBadRequest tracking.Kind = 100 + iota
	kindTooLarge
	kindNoRoute
	kindBadGateway
)

var statusOf = map[tracking.Kind]int{
	tracking.KindInvalid:      http.StatusUnprocessableEntity,
	tracking.KindNotFound:     http.StatusNotFound,
	tracking.KindUnauthorized: http.StatusUnauthorized,
	tracking.KindConflict:     http.StatusConflict,
	kindBadRequest:            http.StatusBadRequest,
	kindTooLarge:              http.StatusRequestEntityTooLarge,
	kindNoRoute:               http.StatusNotFound,
	kindBadGateway:            http.StatusBadGateway,
}

// fail answers an error. A refusal the caller can fix keeps its code; an
// outage is a 503 the caller may retry, and anything else a logged 500
// whose message leaks nothing.
func fail(c *gin.Context, err error) {
	var te *tracking.Error
	switch {
	case errors.As(err, &te):
		c.AbortWithStatusJSON(statusOf[te.Kind], errorBody(te.Code, te.Message))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(c.Request.Context().Err(), context.DeadlineExceeded):
		c.Header("Retry-After", "1")
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, errorBody("timeout",
			"the request took too long; it is safe to retry with the same transaction_id or refund_id"))
		_ = c.Error(err)
	default:
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody("internal",
			"something went wrong on our side; it is safe to retry with the same transaction_id or refund_id"))
		_ = c.Error(err)
	}
}

func failTooLarge(c *gin.Context, n int64) {
	fail(c, &tracking.Error{Kind: kindTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("the request body is larger than %d bytes", n)})
}

func errorBody(code, msg string) gin.H {
	return gin.H{"error": gin.H{"code": code, "message": msg}}
}

// limitBody refuses a body over n bytes: at once when it says so in
// Content-Length, else when reading passes the limit.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			failTooLarge(c, n)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

func timeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

func (s *server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(c.Request.Context(), "panic in handler", "panic", v, "path", c.Request.URL.Path)
			fail(c, fmt.Errorf("panic: %v", v))
		}
	}()
	c.Next()
}

// observe logs every request and counts it in the metrics.
func (s *server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	code := c.Writer.Status()
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(code)).Inc()
	s.metrics.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	// Every request is counted in the metrics; the log has the failures
	// and the refusals, and, at LOG_LEVEL=debug, every request (a busy
	// site's clicks would otherwise flood it).
	level := slog.LevelDebug
	switch {
	case code >= 500:
		level = slog.LevelError
	case code >= 400:
		level = slog.LevelInfo
	}
	if !s.log.Enabled(c.Request.Context(), level) {
		return
	}
	attrs := []any{"method", c.Request.Method, "path", c.Request.URL.Path, "status", code, "duration_ms", elapsed.Milliseconds()}
	if code >= 500 {
		attrs = append(attrs, "error", c.Errors.String())
	}
	s.log.Log(c.Request.Context(), level, "http request", attrs...)
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(r *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentlinks_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agentlinks_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	r.MustRegister(m.requests, m.duration)
	return m
}
