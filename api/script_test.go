package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/web"
)

func TestScriptIsSmallCachedAndRevalidated(t *testing.T) {
	req, _ := http.NewRequest("GET", srv.URL+"/agentlinks.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultTransport.RoundTrip(req) // no transparent gunzip
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("want 200 gzip, got %d %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	if len(body) > 3<<10 {
		t.Fatalf("agentlinks.js is %d bytes gzipped; the budget is 3 KiB", len(body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, web.Script) {
		t.Fatal("gzipped script differs from the embedded one")
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") == "" || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("missing caching headers: %v", res.Header)
	}

	req, _ = http.NewRequest("GET", srv.URL+"/agentlinks.js", nil)
	req.Header.Set("If-None-Match", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with the ETag: want 304, got %d", res.StatusCode)
	}
}

func TestCORSOnlyForAllowedOrigins(t *testing.T) {
	p := newProgram(t)
	if _, err := programs.SetAllowedOrigins(context.Background(), database.Pool, p.appID, []string{"https://Shop.example.com/"}); err != nil {
		t.Fatal(err)
	}
	preflight := func(origin, appID string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", srv.URL+"/api/track/click?app_id="+appID, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	ok := preflight("https://shop.example.com", p.appID)
	if ok.StatusCode != 204 || ok.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("allowed origin: %d %v", ok.StatusCode, ok.Header)
	}
	for _, c := range []struct{ origin, app string }{
		{"https://evil.example.com", p.appID},
		{"https://shop.example.com", ""},
		{"https://shop.example.com", "app_nope"},
	} {
		res := preflight(c.origin, c.app)
		if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from %s for %q: want 403 without CORS headers, got %d %v", c.origin, c.app, res.StatusCode, res.Header)
		}
	}
	// The request itself from a refused page records nothing.
	expect(t, call(t, "POST", "/api/track/click?app_id="+p.appID, "", map[string]any{"ref": p.ref}, "Origin", "https://evil.example.com"), 403, "origin_not_allowed")
	expect(t, call(t, "POST", "/api/track/click?app_id="+p.appID, "", map[string]any{"ref": p.ref}, "Origin", "https://shop.example.com"), 202, "")
	// A browser conversion for an app not in keyless mode says why it fails.
	a := call(t, "POST", "/api/track/conversion?app_id="+p.appID, "", map[string]any{"ref": p.ref, "user_id": "u", "amount_cents": 100}, "Origin", "https://shop.example.com")
	expect(t, a, 401, "missing_api_key")
	if msg := a.body["error"].(map[string]any)["message"].(string); !bytes.Contains([]byte(msg), []byte("keyless")) {
		t.Fatalf("browser conversion refusal should mention keyless mode: %q", msg)
	}
	if st := p.stats(t); st.num("clicks") != 1 {
		t.Fatalf("want only the allowed page's click, got %s", st.raw)
	}
	// The API caches apps; a change in the database reaches it at once
	// (LISTEN/NOTIFY), not after the cache's TTL.
	if _, err := programs.SetAllowedOrigins(context.Background(), database.Pool, p.appID, []string{"https://new.example.com"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for preflight("https://new.example.com", p.appID).StatusCode != 204 || preflight("https://shop.example.com", p.appID).StatusCode != 403 {
		if time.Now().After(deadline) {
			t.Fatal("the allowed origins changed but the API still answers the old ones after 2s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRateLimitsAnswer429WithRetryAfter(t *testing.T) {
	p := newProgram(t)
	limited := httptest.NewServer(api.New(api.Deps{Service: svc, Logger: quietLog, RateLimitPerMinute: 3}))
	defer limited.Close()
	click := func(ip string) *http.Response {
		req, _ := http.NewRequest("POST", limited.URL+"/api/track/click", strings.NewReader(`{"ref":"`+p.ref+`","visitor_id":"`+ip+`"}`))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := 0; i < 3; i++ {
		if res := click("v"); res.StatusCode != 202 {
			t.Fatalf("click %d within the limit: %d", i+1, res.StatusCode)
		}
	}
	res := click("v")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: want 429 with Retry-After, got %d %v", res.StatusCode, res.Header)
	}
	if st := p.stats(t); st.num("clicks") != 3 {
		t.Fatalf("a refused click was counted: %s", st.raw)
	}
}
