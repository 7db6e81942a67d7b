package api

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/web"
)

// pages are the dashboard's templates, each parsed with the layout.
type pages struct {
	byName map[string]*template.Template
	static http.Handler
}

func newPages(temporalUI, namespace string) *pages {
	funcs := template.FuncMap{
		"percent":      commission.Percent,
		"payoutStatus": payoutStatus,
		"add":          func(a, b int64) int64 { return a + b },
		"join":         strings.Join,
		"trigger": func(t string) string {
			return map[string]string{payout.TriggerSchedule: "scheduled", payout.TriggerOwner: "started by you",
				payout.TriggerOperator: "started by AgentLinks", payout.TriggerRequest: "a creator cashed out"}[t]
		},
		"sub":             func(a, b int64) int64 { return a - b },
		"money":           money,
		"hold":            func(secs int64) string { return holdText(time.Duration(secs) * time.Second) },
		"amount":          commission.Decimal,
		"formToken":       ids.FormToken,
		"upper":           strings.ToUpper,
		"activityChart":   activityChart,
		"creatorEarnings": creatorEarningsChart,
		"datetime":        func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"rfc3339":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"rate": func(conversions, clicks int64) string {
			if clicks == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f%%", 100*float64(conversions)/float64(clicks))
		},
		"refundKind": conversion.RefundReason,
		"workflowURL": func(id string) string {
			return strings.TrimRight(temporalUI, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(id)
		},
		"date": func(v any) string {
			switch t := v.(type) {
			case time.Time:
				return t.UTC().Format("2 Jan 2006")
			case *time.Time:
				if t != nil {
					return t.UTC().Format("2 Jan 2006")
				}
			}
			return ""
		},
		// A creator's link goes to the app's own site: its first allowed
		// origin, else the bare ?ref= to put on any of its links.
		"refLink": func(app db.App, ref string) string {
			if len(app.AllowedOrigins) > 0 {
				return app.AllowedOrigins[0] + "/?ref=" + ref
			}
			return "?ref=" + ref
		},
	}
	p := &pages{byName: map[string]*template.Template{}, static: http.FileServerFS(web.Static)}
	names, err := fs.Glob(web.Templates, "*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		if n == "layout.html" {
			continue
		}
		t := template.Must(template.New(n).Funcs(funcs).ParseFS(web.Templates, "layout.html", n))
		p.byName[strings.TrimSuffix(n, ".html")] = t
	}
	return p
}

// page is what every page gets; Data is the page's own.
type page struct {
	Title   string
	Account *service.Account
	Error   string
	Notice  string
	Data    any
}

// render answers a page, rendered in full before anything is written so
// that a template error is a 500, not half a page.
func (s *server) render(c *gin.Context, status int, name string, p page) {
	if a, ok := c.Get(accountKey); ok {
		acct := a.(service.Account)
		p.Account = &acct
	}
	// A refusal's message starts in lower case (it reads well after a
	// code in the API); on a page it is a sentence.
	if r, size := utf8.DecodeRuneInString(p.Error); unicode.IsLower(r) {
		p.Error = string(unicode.ToUpper(r)) + p.Error[size:]
	}
	t := s.pages.byName[name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", flatten(p)); err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("X-Frame-Options", "DENY")
	c.Header("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "+
		"frame-ancestors 'none'; form-action 'self' "+s.stripePages)
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// flatten makes the page's own fields reachable at the top of the
// template, beside the layout's.
func flatten(p page) map[string]any {
	m := map[string]any{"Title": p.Title, "Account": p.Account, "Error": p.Error, "Notice": p.Notice}
	if d, ok := p.Data.(map[string]any); ok {
		for k, v := range d {
			m[k] = v
		}
	}
	return m
}

// failPage answers a refusal or an error as a page: a refusal keeps its
// status and says what to do; anything else is a logged 500.
func (s *server) failPage(c *gin.Context, err error) {
	var re *refusal.Error
	if errors.As(err, &re) {
		title := map[refusal.Kind]string{refusal.KindNotFound: "Not found", refusal.KindUnauthorized: "Not allowed",
			refusal.KindConflict: "Already done", refusal.KindInvalid: "That did not work"}[re.Kind]
		s.render(c, statusOf[re.Kind], "error", page{Title: title, Data: map[string]any{"Message": re.Message}})
		c.Abort()
		return
	}
	_ = c.Error(err)
	s.render(c, http.StatusInternalServerError, "error", page{Title: "Something went wrong",
		Data: map[string]any{"Message": "Something went wrong on our side. Try again in a moment."}})
	c.Abort()
}

// money is cents as an amount in the currency: 285050 usd → $2,850.50.
func money(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := fmt.Sprint(cents / 100)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	symbol := map[string]string{"usd": "$", "eur": "€", "gbp": "£"}[currency]
	if symbol == "" {
		return fmt.Sprintf("%s%s.%02d %s", sign, whole, cents%100, strings.ToUpper(currency))
	}
	return fmt.Sprintf("%s%s%s.%02d", sign, symbol, whole, cents%100)
}

// holdText is a hold as people say it: "14 days", "1 minute", "no hold".
func holdText(d time.Duration) string {
	if d == 0 {
		return "no hold"
	}
	n, unit := holdParts(d)
	if n == 1 {
		unit = strings.TrimSuffix(unit, "s")
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// originOf is scheme://host of a URL, for a CSP source.
// stripePages are the origins of the Stripe pages a dashboard form may
// redirect to (CSP form-action): Connect's OAuth screens, Checkout (saving
// the card that funds payouts) and Express onboarding and dashboard; and,
// with STRIPE_API_BASE set (a test double), that base, where the double
// serves them.
func stripePages(cfg config.Stripe) string {
	origins := []string{originOf(cfg.ConnectBaseURL()), "https://checkout.stripe.com", "https://connect.stripe.com"}
	if cfg.APIBase != "" {
		origins = append(origins, originOf(cfg.APIBase))
	}
	return strings.Join(slices.Compact(origins), " ")
}

func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
