// Package demosite is a tiny shop that integrates AgentLinks the way the
// guide's Option 1 says: the script tag in <head>, trackSignup after a
// signup, trackConversion after a purchase. `agentlinks demo` serves it.
package demosite

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"
)

//go:embed pages/*.html
var pages embed.FS

var tmpl = template.Must(template.ParseFS(pages, "pages/*.html"))

// Config names the app the demo runs for and the AgentLinks server.
type Config struct {
	AppID  string
	APIURL string // where agentlinks.js is served, e.g. http://127.0.0.1:8080
	// SecretKey, when set, makes the shop report purchases from its own
	// backend with the key, as the guide says a shop should (POST /buy);
	// without it the page reports them from the browser (keyless mode).
	SecretKey string
}

// Backend says purchases go through the shop's backend.
func (c Config) Backend() bool { return c.SecretKey != "" }

// Handler serves the demo pages: / (landing), /pricing, /signup, /welcome.
func Handler(cfg Config) http.Handler {
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	mux := http.NewServeMux()
	for pattern, page := range map[string]string{
		"GET /{$}": "index.html", "GET /pricing": "pricing.html", "GET /signup": "signup.html", "GET /welcome": "welcome.html",
	} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_ = tmpl.ExecuteTemplate(w, page, cfg)
		})
	}
	mux.HandleFunc("POST /buy", func(w http.ResponseWriter, r *http.Request) { buy(cfg, w, r) })
	return mux
}

// buy is the shop's backend after a payment: it reports the purchase to
// AgentLinks with the secret key and the ref the visitor's cookie carries.
func buy(cfg Config, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if !cfg.Backend() {
		http.Error(w, `{"error":"this demo reports purchases from the browser"}`, http.StatusNotFound)
		return
	}
	var in struct {
		UserID      string `json:"user_id"`
		AmountCents int64  `json:"amount_cents"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		http.Error(w, `{"error":"bad purchase"}`, http.StatusBadRequest)
		return
	}
	ref, err := r.Cookie("agentlinks_ref")
	if err != nil || ref.Value == "" {
		_, _ = w.Write([]byte(`null`)) // not referred: nothing to report
		return
	}
	body, _ := json.Marshal(map[string]any{"ref": ref.Value, "user_id": in.UserID, "amount_cents": in.AmountCents,
		"transaction_id": fmt.Sprintf("demo_%d", time.Now().UnixNano())})
	req, _ := http.NewRequestWithContext(r.Context(), "POST", cfg.APIURL+"/api/track/conversion", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cfg.SecretKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, `{"error":"AgentLinks did not answer"}`, http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(res.Body, 1<<16))
}
