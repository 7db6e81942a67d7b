package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
)

// The payouts of the dashboard: the owner's payouts tab (settings, the
// card that funds runs, runs to confirm, manual payouts to mark) and the
// creator's payout account and cash out.

func (s *server) payoutRoutes(in *gin.RouterGroup) {
	in.GET("/apps/:app_id/payouts", s.payoutsPage)
	in.POST("/apps/:app_id/payouts/settings", s.savePayoutSettings)
	in.POST("/apps/:app_id/payouts/payment-method", s.setupPaymentMethod)
	in.GET("/apps/:app_id/payouts/payment-method/done", s.paymentMethodDone)
	in.POST("/apps/:app_id/payouts/run", s.once, s.runPayoutsNow)
	in.POST("/apps/:app_id/payouts/runs/:run_id/confirm", s.decideRun(true))
	in.POST("/apps/:app_id/payouts/runs/:run_id/cancel", s.decideRun(false))
	in.GET("/apps/:app_id/payouts/runs/:run_id/export.csv", s.exportRun)
	in.POST("/apps/:app_id/payouts/:payout_id/paid", s.markPayout(true))
	in.POST("/apps/:app_id/payouts/:payout_id/failed", s.markPayout(false))
	in.POST("/payout-account/onboard", s.payoutOnboard)
	in.GET("/payout-account/refresh", s.payoutOnboard) // Stripe's refresh_url: a new link
	in.GET("/payout-account/return", s.payoutReturn)
	in.POST("/payout-account/dashboard", s.payoutDashboard)
	in.POST("/programs/:app_id/cash-out", s.once, s.cashOut)
}

// schedules are the choices the settings form offers.
var schedules = []struct{ Value, Label string }{
	{"", "No schedule: runs start when you or a creator ask"},
	{"monthly:1", "Monthly, on the 1st"}, {"monthly:15", "Monthly, on the 15th"},
	{"every:7", "Every 7 days"}, {"every:14", "Every 14 days"}, {"every:30", "Every 30 days"},
}

func (s *server) payoutsPage(c *gin.Context) {
	pg, err := s.svc.OwnerPayouts(c.Request.Context(), account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	status, problem := formProblem(c)
	opts := schedules
	if cur := pg.App.PayoutSchedule; cur != "" && !hasSchedule(cur) {
		opts = append(append(opts[:0:0], opts...), struct{ Value, Label string }{cur, pg.Schedule.Describe()})
	}
	s.render(c, status, "app_payouts", page{Title: pg.App.Name + " · Payouts", Notice: notices[c.Query("notice")], Error: problem,
		Data: map[string]any{"Tab": "payouts", "App": pg.App, "Page": pg, "Schedules": opts, "StripeOn": s.svc.StripePayoutsEnabled() == nil}})
}

func hasSchedule(v string) bool {
	for _, o := range schedules {
		if o.Value == v {
			return true
		}
	}
	return false
}

// refused shows a refusal the owner can fix on the tab (page) the form is
// on; anything else (another owner's app) is the error page.
func (s *server) refused(c *gin.Context, page gin.HandlerFunc, err error) {
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind != refusal.KindNotFound {
		c.Set(problemKey, re.Message)
		page(c)
		return
	}
	s.failPage(c, err)
}

// formProblem is the status and message of a page shown again with the
// refusal of its form (refused), or 200 and "".
func formProblem(c *gin.Context) (int, string) {
	if p, ok := c.Get(problemKey); ok {
		return http.StatusUnprocessableEntity, p.(string)
	}
	return http.StatusOK, ""
}

// ownerAction runs an owner's form of the payouts tab on their app and
// sends them where it says (ownerActionOn).
func (s *server) ownerAction(c *gin.Context, act func(ctx context.Context, app db.App) (string, error)) {
	s.ownerActionOn(c, s.payoutsPage, act)
}

// ownerActionOn runs an owner's form on their app and sends them where it
// says; a refusal they can fix is shown on page, another owner's app is a
// 404.
func (s *server) ownerActionOn(c *gin.Context, page gin.HandlerFunc, act func(ctx context.Context, app db.App) (string, error)) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	to := ""
	if err == nil {
		to, err = act(ctx, app)
	}
	if err != nil {
		s.refused(c, page, err)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

func payoutsTab(app db.App, notice, anchor string) string {
	u := "/apps/" + app.ID + "/payouts?notice=" + notice
	if anchor != "" {
		u += "#" + url.PathEscape(anchor)
	}
	return u
}

func (s *server) savePayoutSettings(c *gin.Context) {
	s.ownerAction(c, func(ctx context.Context, app db.App) (string, error) {
		_, err := s.svc.SetPayoutSettings(ctx, app.ID, service.PayoutSettings{Mode: c.PostForm("mode"),
			AutoConfirm: c.PostForm("auto_confirm") == "on", Schedule: c.PostForm("schedule"), MinPayoutCents: app.MinPayoutCents})
		return payoutsTab(app, "payout_settings", ""), err
	})
}

// setupPaymentMethod sends the owner to Stripe Checkout to save a card.
func (s *server) setupPaymentMethod(c *gin.Context) {
	s.ownerAction(c, func(ctx context.Context, app db.App) (string, error) {
		base := strings.TrimRight(s.publicURL, "/") + "/apps/" + app.ID + "/payouts"
		return s.svc.StartPaymentMethodSetup(ctx, app, account(c).Email, base+"/payment-method/done?session_id={CHECKOUT_SESSION_ID}", base)
	})
}

// paymentMethodDone is where Checkout sends the owner back.
func (s *server) paymentMethodDone(c *gin.Context) {
	s.ownerAction(c, func(ctx context.Context, app db.App) (string, error) {
		_, err := s.svc.FinishPaymentMethodSetup(ctx, app, c.Query("session_id"))
		return payoutsTab(app, "payment_method", "payment-method"), err
	})
}

func (s *server) runPayoutsNow(c *gin.Context) {
	s.ownerAction(c, func(ctx context.Context, app db.App) (string, error) {
		_, err := s.svc.StartPayoutRunNow(ctx, app.ID)
		return payoutsTab(app, "run_started", ""), err
	})
}

func (s *server) decideRun(confirm bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		notice := map[bool]string{true: "run_confirmed", false: "run_canceled"}[confirm]
		s.ownerAction(c, func(ctx context.Context, app db.App) (string, error) {
			err := s.svc.DecidePayoutRun(ctx, app.ID, c.Param("run_id"), confirm,
				payout.Decision{By: account(c).Email, Reason: strings.TrimSpace(c.PostForm("reason"))})
			if confirm && app.PayoutMode == payout.ModeManual {
				notice = "run_confirmed_manual"
			}
			return payoutsTab(app, notice, "run-"+c.Param("run_id")), err
		})
	}
}

// markPayout records a manual payout paid (with the owner's reference) or
// failed (with the reason the creator sees).
func (s *server) markPayout(paid bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		s.ownerAction(c, func(ctx context.Context, app db.App) (string, error) {
			note := c.PostForm("reference")
			if !paid {
				note = c.PostForm("reason")
			}
			p, err := s.svc.MarkPayout(ctx, app.ID, c.Param("payout_id"), paid, note)
			return payoutsTab(app, "payout_marked", "run-"+p.RunID), err
		})
	}
}

// exportRun is a run's payouts as CSV, for an owner paying by hand.
func (s *server) exportRun(c *gin.Context) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	var run service.Run
	if err == nil {
		run, err = s.svc.PayoutRun(ctx, app.ID, c.Param("run_id"))
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	w := csvHeader(c, run.ID+".csv")
	_ = w.Write([]string{"payout_id", "creator_id", "email", "amount", "currency", "status", "reference", "failure_reason"})
	for _, p := range run.Payouts {
		_ = w.Write([]string{p.ID, p.CreatorID, csvCell(p.Email), commission.Decimal(p.AmountCents), strings.ToUpper(p.Currency), p.Status,
			csvCell(p.Reference), csvCell(p.FailureReason)})
	}
	w.Flush()
}

func (s *server) payoutOnboard(c *gin.Context) {
	base := strings.TrimRight(s.publicURL, "/") + "/payout-account"
	u, err := s.svc.StartPayoutOnboarding(c.Request.Context(), account(c).ID, base+"/refresh", base+"/return")
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, u)
}

func (s *server) payoutReturn(c *gin.Context) {
	if _, err := s.svc.RefreshPayoutAccount(c.Request.Context(), account(c).ID); err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard?notice=payout_account#payout-account")
}

func (s *server) payoutDashboard(c *gin.Context) {
	u, err := s.svc.PayoutDashboardLink(c.Request.Context(), account(c).ID)
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, u)
}

func (s *server) cashOut(c *gin.Context) {
	appID := c.Param("app_id")
	_, err := s.svc.RequestCashOut(c.Request.Context(), account(c).ID, appID)
	// A cash out refused with a reason (below the minimum, nothing left)
	// is said on the dashboard; a program that is not theirs is a 404.
	var re *refusal.Error
	if errors.As(err, &re) && re.Kind != refusal.KindNotFound {
		c.Set(problemKey, "Not cashed out: "+re.Message+".")
		s.dashboard(c)
		return
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard?notice=cash_out#program-"+url.PathEscape(appID))
}

// payoutStatus is a payout's or run's status in words, with its pill.
func payoutStatus(status string) map[string]string {
	words := map[string][2]string{
		payout.StatusReserved: {"Reserved", ""}, payout.StatusProcessing: {"Sending", ""},
		payout.StatusAwaitingPayment: {"Awaiting payment", "warn"}, payout.StatusPaid: {"Paid", "good"},
		payout.StatusFailed: {"Failed", "bad"}, payout.StatusReversed: {"Reversed", "bad"},
		payout.RunAwaitingConfirmation: {"Awaiting your confirmation", "warn"}, payout.RunCharging: {"Charging your card", ""},
		payout.RunPaying: {"Paying", ""}, payout.RunCompleted: {"Completed", "good"}, payout.RunCanceled: {"Canceled", ""},
		payout.RunEmpty: {"Nobody due", ""},
	}[status]
	if words[0] == "" {
		words[0] = strconv.Quote(status)
	}
	return map[string]string{"Text": words[0], "Class": words[1]}
}
