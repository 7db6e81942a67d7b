package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// The dashboard's pages. Every one is scoped to the signed-in account by
// the service: an id that is not the account's is a 404 page.

// dashboardRoutes are the pages owners and creators use, behind a session
// and the cross-site form check.
func (s *server) dashboardRoutes(r *gin.Engine) {
	r.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Request.URL.Path = c.Param("file")
		s.pages.static.ServeHTTP(c.Writer, c.Request)
	})
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/dashboard") })
	// Browsers ask for /favicon.ico on every page that names none.
	r.GET("/favicon.ico", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/static/favicon.svg") })
	d := r.Group("/", limitBody(MaxBodyBytes), s.session, s.sameOrigin)
	d.GET("/signup", s.maybeSignedIn, s.signupPage)
	d.POST("/signup", s.once, s.signup)
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
	in.POST("/apps", s.once, s.createApp)
	in.GET("/apps/:app_id", s.appPage)
	in.GET("/apps/:app_id/setup", s.setupPage)
	in.GET("/apps/:app_id/export/conversions.csv", s.exportConversions)
	in.GET("/apps/:app_id/export/creators.csv", s.exportCreators)
	in.POST("/apps/:app_id/customers/move", s.moveCustomer)
	in.GET("/operator", s.operatorPage)
	in.POST("/apps/:app_id/settings", s.saveSettings)
	in.POST("/apps/:app_id/keys", s.once, s.createKey)
	in.POST("/apps/:app_id/keys/:key_id/revoke", s.revokeKey)
	in.POST("/apps/:app_id/stripe/connect", s.connectStripe)
	in.POST("/apps/:app_id/stripe/disconnect", s.disconnectStripe)
	s.payoutRoutes(in)
	s.webhookRoutes(in)
}

func (s *server) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	acct := account(c)
	apps, err := s.svc.OwnedApps(ctx, acct.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	cv, err := s.svc.Creator(ctx, acct.ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	status, problem := formProblem(c)
	s.render(c, status, "dashboard", page{Title: "Dashboard", Notice: notices[c.Query("notice")], Error: problem,
		Data: map[string]any{"Apps": apps, "Memberships": cv.Memberships, "PayoutAccount": cv.PayoutAccount, "NeedsPayoutAccount": cv.NeedsPayoutAccount}})
}

func (s *server) newAppPage(c *gin.Context) {
	s.render(c, http.StatusOK, "app_new", page{Title: "Create an app", Data: map[string]any{"Form": newProgramForm()}})
}

// createApp makes an app from the create form: its name, commission,
// hold, cookie window and minimum payout.
func (s *server) createApp(c *gin.Context) {
	f := postedProgramForm(c)
	settings, err := f.settings()
	var created programs.CreatedApp
	if err == nil {
		created, err = s.svc.CreateOwnedApp(c.Request.Context(), account(c).ID, programs.NewApp{
			Name: settings.Name, CommissionBPS: settings.CommissionBPS, Hold: settings.Hold, CookieDays: settings.CookieDays,
			MinPayoutCents: &settings.MinPayoutCents,
		})
	}
	if refusedForm(&f, err) {
		s.render(c, http.StatusUnprocessableEntity, "app_new", page{Title: "Create an app", Data: map[string]any{"Form": f}})
		return
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.showNewKey(c, created.App.ID, created.SecretKey, "app", "")
}

// showNewKey sends the browser to the app's setup page, which shows the
// secret key just made once: a reload of it shows only the key's prefix
// and makes nothing.
func (s *server) showNewKey(c *gin.Context, appID, key, notice, anchor string) {
	reveal, err := s.svc.KeepSecretForPage(c.Request.Context(), account(c).ID, appID, key)
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+appID+"/setup?notice="+notice+"&key="+reveal+anchor)
}

// appPage is the program's overview: totals and charts over 7, 30 or 90
// days, its creators, its newest conversions and refunds, and moves.
func (s *server) appPage(c *gin.Context) {
	days := 30
	if d, err := strconv.Atoi(c.Query("days")); err == nil && (d == 7 || d == 90) {
		days = d
	}
	creatorsPage, _ := strconv.Atoi(c.Query("creators_page"))
	o, err := s.svc.ProgramOverview(c.Request.Context(), account(c).ID, c.Param("app_id"), days, creatorsPage)
	if err != nil {
		s.failPage(c, err)
		return
	}
	actChart, moneyChart := programCharts(o.Stats)
	// Where the commission goes, on a round sale at this program's rate.
	example, _ := commission.Compute(10000, o.App.CommissionBps)
	status, problem := formProblem(c)
	s.render(c, status, "app", page{Title: o.App.Name, Notice: notices[c.Query("notice")], Error: problem, Data: map[string]any{
		"Tab": "overview", "App": o.App, "Days": days, "Periods": []int{7, 30, 90}, "Stats": o.Stats,
		"ActivityChart": actChart, "MoneyChart": moneyChart, "Example": example, "Creators": o.Creators, "Activity": o.Activity,
	}})
}

// problemKey carries a refused form's reason to the page that shows it.
const problemKey = "agentlinks.problem"

func (s *server) setupPage(c *gin.Context) {
	appID := c.Param("app_id")
	newKey, err := s.svc.RevealSecret(c.Request.Context(), account(c).ID, appID, c.Query("key"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.showSetup(c, appID, setupView{newKey: newKey, notice: notices[c.Query("notice")]})
}

// setupView is what the setup page shows besides the app: a secret key
// just made (shown this once), a notice, a refusal, and the settings form
// as posted when it was refused (else the app's own).
type setupView struct {
	newKey, notice, problem string
	form                    *programForm
}

func (s *server) showSetup(c *gin.Context, appID string, v setupView) {
	st, err := s.svc.ProgramSetup(c.Request.Context(), account(c).ID, appID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	app, ref := st.App, st.ExampleRef
	if ref == "" {
		ref = "REF_CODE" // nobody has joined yet
	}
	base := strings.TrimRight(s.publicURL, "/")
	key := v.newKey
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
	form := programFormOf(app)
	if v.form != nil {
		form, status = *v.form, http.StatusUnprocessableEntity
	}
	if v.problem != "" {
		status = http.StatusUnprocessableEntity
	}
	s.render(c, status, "app_setup", page{Title: app.Name + " · Setup", Notice: v.notice, Error: v.problem, Data: map[string]any{
		"Tab": "setup", "App": app, "Keys": st.Keys, "NewKey": v.newKey, "Snippet": snippet, "Curl": curl,
		"JoinURL": base + "/join/" + app.ID, "StripeConnectOn": s.svc.StripeConnectEnabled() == nil, "Form": form,
	}})
}

func (s *server) createKey(c *gin.Context) {
	key, err := s.svc.CreateAppKey(c.Request.Context(), account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.showNewKey(c, c.Param("app_id"), key, "key", "#keys")
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
		// Said on the setup page, where the owner was (the button is
		// shown disabled when Stripe is off).
		s.showSetup(c, app.ID, setupView{problem: "Stripe is not set up on this AgentLinks, so Stripe cannot be connected yet: " + err.Error() + "."})
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
	mode := "signup"
	if c.Query("mode") == "login" {
		mode = "login"
	}
	s.joinPageWith(c, c.Param("app_id"), "", mode, "", http.StatusOK)
}

// joinPageWith renders a program's join page: for a person signed out, the
// signup form (mode signup) or the login form (mode login), each of which
// joins the program in the same step; problem and email are a refused
// form's reason and what was typed.
func (s *server) joinPageWith(c *gin.Context, appID, problem, mode, email string, status int) {
	p, err := s.svc.JoinablePage(c.Request.Context(), appID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, status, "join", page{Title: "Join " + p.Name, Error: problem,
		Data: map[string]any{"Program": p, "Mode": mode, "Email": email}})
}

func (s *server) join(c *gin.Context) {
	if _, err := s.svc.Join(c.Request.Context(), account(c), c.Param("app_id")); err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard?notice=joined#program-"+c.Param("app_id"))
}
