package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
)

// The owner's forms that change a program: its settings, and moving a
// customer to another creator.

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
