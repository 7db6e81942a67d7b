package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
)

// The owner's forms that change a program: its settings, and moving a
// customer to another creator.

// programForm is the settings of a program as the owner types them (the
// create form's fields and the setup page's), kept as typed so that a
// refused form is shown back with what was typed and the reason at its
// field.
type programForm struct {
	Name, Percent, HoldAmount, HoldUnit, CookieDays, MinPayout, Origins string
	Keyless                                                             bool
	// Errors says, by field name, why the form was refused.
	Errors map[string]string
}

// HoldUnits are the units the hold may be typed in: seconds only when the
// hold already is one that no larger unit divides (set by the CLI).
func (f programForm) HoldUnits() []string {
	if f.HoldUnit == "seconds" {
		return []string{"minutes", "hours", "days", "seconds"}
	}
	return []string{"minutes", "hours", "days"}
}

// newProgramForm is the create form's defaults: the usual program.
func newProgramForm() programForm {
	return programForm{Percent: "30", HoldAmount: "14", HoldUnit: "days", CookieDays: "60",
		MinPayout: commission.Decimal(programs.DefaultMinPayoutCents)}
}

// programFormOf is an app's settings as its form shows them.
func programFormOf(app db.App) programForm {
	amount, unit := holdParts(time.Duration(app.HoldSeconds) * time.Second)
	return programForm{Name: app.Name, Percent: commission.Percent(app.CommissionBps), HoldAmount: strconv.FormatInt(amount, 10),
		HoldUnit: unit, CookieDays: strconv.Itoa(int(app.CookieDays)), MinPayout: commission.Decimal(app.MinPayoutCents),
		Origins: strings.Join(app.AllowedOrigins, "\n"), Keyless: app.KeylessConversions}
}

// postedProgramForm is the form as posted.
func postedProgramForm(c *gin.Context) programForm {
	return programForm{Name: c.PostForm("name"), Percent: c.PostForm("commission_percent"), HoldAmount: c.PostForm("hold_amount"),
		HoldUnit: c.PostForm("hold_unit"), CookieDays: c.PostForm("cookie_days"), MinPayout: c.PostForm("min_payout"),
		Origins: c.PostForm("allowed_origins"), Keyless: c.PostForm("keyless") == "on"}
}

// holdUnits are what a hold is typed in, largest first.
var holdUnits = []struct {
	name string
	d    time.Duration
}{{"days", 24 * time.Hour}, {"hours", time.Hour}, {"minutes", time.Minute}, {"seconds", time.Second}}

// holdParts is a hold in the largest unit that holds it whole: 14 days,
// 36 hours, 1 minute (so it is shown back as it was typed).
func holdParts(d time.Duration) (int64, string) {
	if d == 0 {
		return 0, "days"
	}
	for _, u := range holdUnits {
		if d%u.d == 0 {
			return int64(d / u.d), u.name
		}
	}
	return int64(d / time.Second), "seconds"
}

// fieldOf is the form field a settings refusal is about.
var fieldOf = map[string]string{
	"invalid_name": "name", "invalid_commission": "commission_percent", "invalid_hold": "hold",
	"invalid_cookie_days": "cookie_days", "invalid_min_payout": "min_payout", "invalid_origins": "allowed_origins",
	"invalid_origin": "allowed_origins",
}

// settings reads the form into the service's settings; a refusal names
// the field it is about (fieldOf).
func (f programForm) settings() (service.AppSettings, error) {
	bps, err := commission.ParsePercent(strings.TrimSpace(f.Percent))
	if err != nil {
		return service.AppSettings{}, refusal.Invalid("invalid_commission", "%q is not a percent from 0 to 100 like 30 or 12.5", strings.TrimSpace(f.Percent))
	}
	hold, err := parseHold(f.HoldAmount, f.HoldUnit)
	if err != nil {
		return service.AppSettings{}, err
	}
	cookie, err := strconv.Atoi(strings.TrimSpace(f.CookieDays))
	if err != nil {
		return service.AppSettings{}, refusal.Invalid("invalid_cookie_days", "the cookie window is a whole number of days, from 1 to 730")
	}
	minPayout, err := parseAmount(f.MinPayout)
	if err != nil {
		return service.AppSettings{}, err
	}
	// One origin a line (or comma-separated): a line with a space in it
	// is refused whole, not split into words.
	var origins []string
	for _, o := range strings.FieldsFunc(f.Origins, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	return service.AppSettings{
		Name: f.Name, CommissionBPS: bps, Hold: hold, CookieDays: int32(cookie), MinPayoutCents: minPayout,
		AllowedOrigins: origins, Keyless: f.Keyless,
	}, nil
}

// parseHold reads a hold typed as a whole number and a unit.
func parseHold(amount, unit string) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(amount), 10, 64)
	for _, u := range holdUnits {
		if u.name == unit && err == nil && n >= 0 && n <= int64(365*24*time.Hour/u.d) {
			return time.Duration(n) * u.d, nil
		}
	}
	return 0, refusal.Invalid("invalid_hold", "the hold period %q %s is not a whole number of minutes, hours or days, up to 365 days", strings.TrimSpace(amount), unit)
}

// refusedForm shows a refused program form back: what was typed, and the
// reason at its field. It answers false for an error that is not the
// form's (the caller shows it as a page).
func refusedForm(f *programForm, err error) bool {
	var re *refusal.Error
	if !errors.As(err, &re) || fieldOf[re.Code] == "" {
		return false
	}
	f.Errors = map[string]string{fieldOf[re.Code]: re.Message}
	return true
}

// saveSettings changes the app's settings from its page's form.
func (s *server) saveSettings(c *gin.Context) {
	appID := c.Param("app_id")
	f := postedProgramForm(c)
	settings, err := f.settings()
	if err == nil {
		_, err = s.svc.UpdateOwnedApp(c.Request.Context(), account(c).ID, appID, settings)
	}
	if refusedForm(&f, err) {
		s.showSetup(c, appID, setupView{form: &f})
		return
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+appID+"/setup?notice=settings#settings")
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
		return 0, refusal.Invalid("invalid_min_payout", "the minimum payout %q is not an amount like 50 or 49.99", s)
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
