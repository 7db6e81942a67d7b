package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

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
	ok, err := s.svc.OriginAllowed(c.Request.Context(), app, origin)
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

// limitBody refuses a body over n bytes: at once when it says so in
// Content-Length, else when reading passes the limit.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			fail(c, tooLarge(n))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// timeout bounds each request's context by d, except on the routes named
// (those whose work is bounded elsewhere).
func timeout(d time.Duration, except ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if slices.Contains(except, c.FullPath()) {
			c.Next()
			return
		}
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
	s.metrics.observe(c.Request.Method, route, code, elapsed)
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
	// series caches each (method, route, status)'s counter and
	// histogram: WithLabelValues hashes and looks up its labels on every
	// call.
	series sync.Map // seriesKey → httpSeries
}

type seriesKey struct {
	method, route string
	code          int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) observe(method, route string, code int, elapsed time.Duration) {
	k := seriesKey{method, route, code}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, httpSeries{
			requests: m.requests.WithLabelValues(method, route, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(method, route),
		})
	}
	sr := v.(httpSeries)
	sr.requests.Inc()
	sr.duration.Observe(elapsed.Seconds())
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
