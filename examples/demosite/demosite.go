// Package demosite is a tiny shop that integrates AgentLinks the way the
// guide's Option 1 says: the script tag in <head>, trackSignup after a
// signup, trackConversion after a purchase. `agentlinks demo` serves it.
package demosite

import (
	"embed"
	"html/template"
	"net/http"
	"strings"
)

//go:embed pages/*.html
var pages embed.FS

var tmpl = template.Must(template.ParseFS(pages, "pages/*.html"))

// Config names the app the demo runs for and the AgentLinks server.
type Config struct {
	AppID  string
	APIURL string // where agentlinks.js is served, e.g. http://127.0.0.1:8080
}

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
	return mux
}
