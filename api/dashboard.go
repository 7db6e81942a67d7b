package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/internal/service"
)

// The dashboard's pages. Every one is scoped to the signed-in account by
// the service: an id that is not the account's is a 404 page.

func itoa(n int) string { return strconv.Itoa(n) }

// dashboardRoutes are the pages owners and creators use, behind a session
// and the cross-site form check.
func (s *server) dashboardRoutes(r *gin.Engine) {
	r.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Request.URL.Path = c.Param("file")
		s.pages.static.ServeHTTP(c.Writer, c.Request)
	})
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/dashboard") })
	d := r.Group("/", limitBody(MaxBodyBytes), s.session, s.sameOrigin)
	d.GET("/signup", s.maybeSignedIn, s.signupPage)
	d.POST("/signup", s.signup)
	d.GET("/login", s.loginPage)
	d.POST("/login", s.login)
	d.POST("/logout", s.logout)
	d.GET("/join/:app_id", s.maybeSignedIn, s.joinPage)

	in := d.Group("/", s.signedIn)
	in.POST("/join/:app_id", s.join)
	in.GET("/dashboard", s.dashboard)
	in.GET("/account", s.accountPage)
	in.POST("/account/password", s.changePassword)
	in.GET("/apps/new", s.newAppPage)
	in.POST("/apps", s.createApp)
	in.GET("/apps/:app_id", s.appPage)
	in.GET("/apps/:app_id/setup", s.setupPage)
	in.GET("/apps/:app_id/export/conversions.csv", s.exportConversions)
	in.GET("/apps/:app_id/export/creators.csv", s.exportCreators)
	in.POST("/apps/:app_id/customers/move", s.moveCustomer)
	in.GET("/operator", s.operatorPage)
	in.POST("/apps/:app_id/settings", s.saveSettings)
	in.POST("/apps/:app_id/keys", s.createKey)
	in.POST("/apps/:app_id/keys/:key_id/revoke", s.revokeKey)
	in.POST("/apps/:app_id/stripe/connect", s.connectStripe)
	in.POST("/apps/:app_id/stripe/disconnect", s.disconnectStripe)
}

func (s *server) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	acct := account(c)
	apps, err := s.svc.OwnedApps(ctx, acct.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	memberships, err := s.svc.Memberships(ctx, acct.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, http.StatusOK, "dashboard", page{Title: "Dashboard", Notice: notices[c.Query("notice")],
		Data: map[string]any{"Apps": apps, "Memberships": memberships}})
}

type appForm struct {
	Name, Percent        string
	HoldDays, CookieDays string
}

func (s *server) newAppPage(c *gin.Context) {
	s.render(c, http.StatusOK, "app_new", page{Title: "Create an app",
		Data: map[string]any{"Form": appForm{Percent: "30", HoldDays: "14", CookieDays: "60"}}})
}

func (s *server) createApp(c *gin.Context) {
	f := appForm{Name: c.PostForm("name"), Percent: c.PostForm("commission_percent"),
		HoldDays: c.PostForm("hold_days"), CookieDays: c.PostForm("cookie_days")}
	again := func(err error) {
		var re *refusal.Error
		if errors.As(err, &re) {
			s.render(c, statusOf[re.Kind], "app_new", page{Title: "Create an app", Error: re.Message, Data: map[string]any{"Form": f}})
			return
		}
		s.failPage(c, err)
	}
	bps, err := commission.ParsePercent(strings.TrimSpace(f.Percent))
	if err != nil {
		again(refusal.Invalid("invalid_commission", "the commission percent %q is not a percent: %v", f.Percent, err))
		return
	}
	hold, err := strconv.Atoi(strings.TrimSpace(f.HoldDays))
	if err != nil {
		again(refusal.Invalid("invalid_hold", "the hold period is a whole number of days"))
		return
	}
	cookie, err := strconv.Atoi(strings.TrimSpace(f.CookieDays))
	if err != nil {
		again(refusal.Invalid("invalid_cookie_days", "the cookie window is a whole number of days"))
		return
	}
	created, err := s.svc.CreateOwnedApp(c.Request.Context(), account(c).ID, programs.NewApp{
		Name: f.Name, CommissionBPS: bps, Hold: time.Duration(hold) * 24 * time.Hour, CookieDays: int32(cookie),
	})
	if err != nil {
		again(err)
		return
	}
	s.showApp(c, created.App.ID, created.SecretKey, notices["app"])
}

// appPage is the program's overview: totals and charts over 7, 30 or 90
// days, its creators, its newest conversions and refunds, and moves.
func (s *server) appPage(c *gin.Context) {
	ctx := c.Request.Context()
	acct := account(c)
	app, err := s.svc.OwnedApp(ctx, acct.ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	days := 30
	if d, err := strconv.Atoi(c.Query("days")); err == nil && (d == 7 || d == 90) {
		days = d
	}
	stats, err := s.svc.ProgramStats(ctx, app.ID, days, time.Now())
	if err != nil {
		s.failPage(c, err)
		return
	}
	creatorsPage, _ := strconv.Atoi(c.Query("creators_page"))
	creators, err := s.svc.ProgramCreators(ctx, acct.ID, app.ID, days, creatorsPage, 25)
	if err != nil {
		s.failPage(c, err)
		return
	}
	activity, err := s.svc.ProgramActivity(ctx, acct.ID, app.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	actChart, moneyChart := programCharts(stats)
	status, problem := http.StatusOK, ""
	if p, ok := c.Get(problemKey); ok {
		status, problem = http.StatusUnprocessableEntity, p.(string)
	}
	s.render(c, status, "app", page{Title: app.Name, Notice: notices[c.Query("notice")], Error: problem, Data: map[string]any{
		"Tab": "overview", "App": app, "Days": days, "Periods": []int{7, 30, 90}, "Stats": stats,
		"ActivityChart": actChart, "MoneyChart": moneyChart, "Creators": creators, "Activity": activity,
	}})
}

// problemKey carries a refused form's reason to the page that shows it.
const problemKey = "agentlinks.problem"

func (s *server) setupPage(c *gin.Context) {
	s.showApp(c, c.Param("app_id"), "", notices[c.Query("notice")])
}

// showApp renders an app's page; newKey, when set, is a secret key just
// made, shown this once.
func (s *server) showApp(c *gin.Context, appID, newKey, notice string) {
	s.showAppWith(c, appID, newKey, notice, "")
}

// showAppWith is showApp with an error to show (a refused settings form).
func (s *server) showAppWith(c *gin.Context, appID, newKey, notice, problem string) {
	ctx := c.Request.Context()
	acct := account(c)
	app, err := s.svc.OwnedApp(ctx, acct.ID, appID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	keys, err := s.svc.AppKeys(ctx, acct.ID, app.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	stats, err := s.svc.ProgramStats(ctx, app.ID, 30, time.Now())
	if err != nil {
		s.failPage(c, err)
		return
	}
	ref, err := s.svc.ExampleRef(ctx, acct.ID, app.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	if ref == "" {
		ref = "REF_CODE" // nobody has joined yet
	}
	base := strings.TrimRight(s.publicURL, "/")
	key := newKey
	if key == "" {
		key = "sk_…"
	}
	snippet := fmt.Sprintf(`<script async src="%s/agentlinks.js" data-app-id="%s"></script>
<script>
  // after a signup:   AgentLinks.trackSignup({ user_id: "usr_123", email: "user@example.com" })
</script>`, base, app.ID)
	curl := fmt.Sprintf(`curl -X POST %s/api/track/conversion \
  -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
  -d '{"ref":"%s","user_id":"usr_123","amount_cents":10000,"transaction_id":"ch_123"}'`, base, key, ref)
	status := http.StatusOK
	if problem != "" {
		status = http.StatusUnprocessableEntity
	}
	s.render(c, status, "app_setup", page{Title: app.Name + " · Setup", Notice: notice, Error: problem, Data: map[string]any{
		"Tab": "setup", "App": app, "Keys": keys, "Stats": stats, "NewKey": newKey, "Snippet": snippet, "Curl": curl,
		"JoinURL": base + "/join/" + app.ID,
	}})
}

func (s *server) createKey(c *gin.Context) {
	key, err := s.svc.CreateAppKey(c.Request.Context(), account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.showApp(c, c.Param("app_id"), key, "")
}

func (s *server) revokeKey(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("key_id"), 10, 64)
	if err != nil {
		s.failPage(c, refusal.NotFound("key_not_found", "there is no key %.32q", c.Param("key_id")))
		return
	}
	if err := s.svc.RevokeAppKey(c.Request.Context(), account(c).ID, c.Param("app_id"), id); err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+c.Param("app_id")+"/setup?notice=key_revoked")
}

// connectStripe sends the owner to Stripe's OAuth screens for the app.
func (s *server) connectStripe(c *gin.Context) {
	app, err := s.svc.OwnedApp(c.Request.Context(), account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	u, err := s.svc.StripeConnectURL(app.ID)
	if err != nil {
		s.failPage(c, refusal.Invalid("stripe_not_configured", "Stripe Connect is not configured on this AgentLinks: %v", err))
		return
	}
	c.Redirect(http.StatusSeeOther, u)
}

func (s *server) disconnectStripe(c *gin.Context) {
	app, err := s.svc.OwnedApp(c.Request.Context(), account(c).ID, c.Param("app_id"))
	if err == nil {
		err = s.svc.DisconnectStripe(c.Request.Context(), app.ID)
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+app.ID+"/setup?notice=stripe_disconnect")
}

func (s *server) joinPage(c *gin.Context) {
	p, err := s.svc.JoinablePage(c.Request.Context(), c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, http.StatusOK, "join", page{Title: "Join " + p.Name, Data: map[string]any{"Program": p}})
}

func (s *server) join(c *gin.Context) {
	if _, err := s.svc.Join(c.Request.Context(), account(c), c.Param("app_id")); err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard?notice=joined#program-"+c.Param("app_id"))
}

// saveSettings changes the app's settings from its page's form.
func (s *server) saveSettings(c *gin.Context) {
	appID := c.Param("app_id")
	settings, err := settingsForm(c)
	if err == nil {
		_, err = s.svc.UpdateOwnedApp(c.Request.Context(), account(c).ID, appID, settings)
	}
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind == refusal.KindInvalid {
		s.showAppWith(c, appID, "", "", re.Message)
		return
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+appID+"/setup?notice=settings#settings")
}

func settingsForm(c *gin.Context) (service.AppSettings, error) {
	bps, err := commission.ParsePercent(strings.TrimSpace(c.PostForm("commission_percent")))
	if err != nil {
		return service.AppSettings{}, refusal.Invalid("invalid_commission", "the commission percent %.16q is not a percent", c.PostForm("commission_percent"))
	}
	days, err := strconv.ParseFloat(strings.TrimSpace(c.PostForm("hold_days")), 64)
	if err != nil || days < 0 || days > 365 {
		return service.AppSettings{}, refusal.Invalid("invalid_hold", "the hold period is a number of days from 0 to 365")
	}
	cookie, err := strconv.Atoi(strings.TrimSpace(c.PostForm("cookie_days")))
	if err != nil {
		return service.AppSettings{}, refusal.Invalid("invalid_cookie_days", "the cookie window is a whole number of days")
	}
	minPayout, err := parseAmount(c.PostForm("min_payout"))
	if err != nil {
		return service.AppSettings{}, err
	}
	return service.AppSettings{
		Name: c.PostForm("name"), CommissionBPS: bps,
		Hold:       time.Duration(math.Round(days*86400)) * time.Second,
		CookieDays: int32(cookie), MinPayoutCents: minPayout,
		AllowedOrigins: strings.FieldsFunc(c.PostForm("allowed_origins"), func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' }),
		Keyless:        c.PostForm("keyless") == "on",
	}, nil
}

// parseAmount reads an amount typed by a person ("50", "49.5", "49.99") as
// whole cents, exactly.
func parseAmount(s string) (int64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", ""))
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) == 1 {
		frac += "0"
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt("0"+frac, 10, 64)
	if whole == "" || err1 != nil || err2 != nil || len(frac) > 2 || w < 0 || w > 1_000_000 || strings.HasPrefix(frac, "-") {
		return 0, refusal.Invalid("invalid_min_payout", "the minimum payout %.16q is not an amount like 50 or 49.99", s)
	}
	return w*100 + f, nil
}

// moveCustomer gives a customer to another creator of the program.
func (s *server) moveCustomer(c *gin.Context) {
	appID := c.Param("app_id")
	err := s.svc.MoveCustomer(c.Request.Context(), account(c).ID, appID, c.PostForm("user_id"), c.PostForm("ref"))
	// A refused move (an unknown ref or customer) is said on the page;
	// another owner's app is a 404 like everywhere.
	var re *refusal.Error
	if errors.As(err, &re) && re.Code != "app_not_found" {
		c.Set(problemKey, re.Message)
		s.appPage(c)
		return
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+appID+"?notice=moved#move")
}

// csvCell keeps a cell from being read as a formula by a spreadsheet: a
// value that begins with = + - @ (or a tab or carriage return) is prefixed
// with a quote (OWASP, CSV injection).
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func csvHeader(c *gin.Context, name string) *csv.Writer {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	return csv.NewWriter(c.Writer)
}

// decimal is cents as an exact decimal amount: -1234 → "-12.34".
func decimal(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

func (s *server) exportConversions(c *gin.Context) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	w := csvHeader(c, app.ID+"-conversions.csv")
	_ = w.Write([]string{"conversion_id", "created_at", "ref", "creator_email", "user_id", "status", "currency",
		"amount", "commission", "platform_fee", "net_commission", "refunded", "available_at", "transaction"})
	err = s.svc.ExportConversions(ctx, account(c).ID, app.ID, func(r db.ExportConversionsRow) error {
		return w.Write([]string{r.ID, r.CreatedAt.UTC().Format(time.RFC3339), csvCell(r.RefCode), csvCell(r.CreatorEmail), csvCell(r.UserID),
			r.Status, r.Currency, decimal(r.AmountCents), decimal(r.CommissionCents), decimal(r.PlatformFeeCents), decimal(r.NetCommissionCents),
			decimal(r.RefundedCents), r.AvailableAt.UTC().Format(time.RFC3339), csvCell(strings.TrimPrefix(strings.TrimPrefix(r.DedupeKey, "txn:"), "idem:"))})
	})
	w.Flush()
	if err != nil {
		_ = c.Error(err) // the header is out: the file ends short, and the log says why
	}
}

func (s *server) exportCreators(c *gin.Context) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	w := csvHeader(c, app.ID+"-creators.csv")
	_ = w.Write([]string{"creator_id", "email", "ref", "clicks", "signups", "conversions", "net_earned", "pending", "available", "paid"})
	err = s.svc.ExportCreators(ctx, account(c).ID, app.ID, func(r db.ProgramCreatorsRow) error {
		return w.Write([]string{r.CreatorID, csvCell(r.Email), csvCell(r.Code), fmt.Sprint(r.Clicks), fmt.Sprint(r.Signups), fmt.Sprint(r.Conversions),
			decimal(r.NetCents), decimal(r.PendingCents), decimal(r.AvailableCents), decimal(r.PaidCents)})
	})
	w.Flush()
	if err != nil {
		_ = c.Error(err)
	}
}

// operatorPage is the platform's: totals, fee revenue per day, parked
// Stripe events. Anyone else gets a 404.
func (s *server) operatorPage(c *gin.Context) {
	p, err := s.svc.PlatformView(c.Request.Context(), account(c), 30, time.Now())
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, http.StatusOK, "operator", page{Title: "Platform", Data: map[string]any{"Platform": p}})
}
