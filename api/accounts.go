package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
)

// Dashboard sessions: scs with its PostgreSQL store, a cookie that is
// HttpOnly, SameSite=Lax and, behind TLS, Secure; the token is renewed at
// login. A session holds the account id and the account's password epoch,
// so a password change ends every session made before it.
const (
	sessionAccount = "account"
	sessionEpoch   = "epoch"
	accountKey     = "agentlinks.account"
)

// NewSessions returns the session manager over the database. cleanup is
// how often expired sessions are deleted (0: never; a caller that sets it
// stops the store's goroutine with the returned stop).
func NewSessions(pool *pgxpool.Pool, secure bool, cleanup time.Duration) (*scs.SessionManager, func()) {
	store := pgxstore.NewWithCleanupInterval(pool, cleanup)
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = 30 * 24 * time.Hour
	sm.IdleTimeout = 7 * 24 * time.Hour
	sm.Cookie.Name = "agentlinks_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure
	sm.Cookie.Persist = true
	stop := func() {}
	if cleanup > 0 {
		stop = store.StopCleanup
	}
	return sm, stop
}

// session loads the request's session and saves it before the response's
// headers go out (scs's LoadAndSave, for Gin's writer).
func (s *server) session(c *gin.Context) {
	c.Header("Vary", "Cookie")
	var token string
	if ck, err := c.Request.Cookie(s.sessions.Cookie.Name); err == nil {
		token = ck.Value
	}
	ctx, err := s.sessions.Load(c.Request.Context(), token)
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Request = c.Request.WithContext(ctx)
	w := &sessionWriter{ResponseWriter: c.Writer, save: func(w http.ResponseWriter) { s.saveSession(ctx, w) }}
	c.Writer = w
	c.Next()
	w.before()
}

func (s *server) saveSession(ctx context.Context, w http.ResponseWriter) {
	switch s.sessions.Status(ctx) {
	case scs.Modified:
		token, expiry, err := s.sessions.Commit(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "save session", "error", err)
			return
		}
		s.sessions.WriteSessionCookie(ctx, w, token, expiry)
	case scs.Destroyed:
		s.sessions.WriteSessionCookie(ctx, w, "", time.Time{})
	}
}

// sessionWriter saves the session once, before the status line is written.
type sessionWriter struct {
	gin.ResponseWriter
	save  func(http.ResponseWriter)
	saved bool
}

func (w *sessionWriter) before() {
	if !w.saved {
		w.saved = true
		w.save(w.ResponseWriter)
	}
}

func (w *sessionWriter) WriteHeader(code int)        { w.before(); w.ResponseWriter.WriteHeader(code) }
func (w *sessionWriter) WriteHeaderNow()             { w.before(); w.ResponseWriter.WriteHeaderNow() }
func (w *sessionWriter) Write(b []byte) (int, error) { w.before(); return w.ResponseWriter.Write(b) }
func (w *sessionWriter) WriteString(v string) (int, error) {
	w.before()
	return w.ResponseWriter.WriteString(v)
}

// sameOrigin refuses a cross-site form post (Go's CrossOriginProtection:
// Sec-Fetch-Site, else Origin against Host): a page elsewhere cannot act
// with a signed-in owner's cookie.
func (s *server) sameOrigin(c *gin.Context) {
	if err := s.origins.Check(c.Request); err != nil {
		s.render(c, http.StatusForbidden, "error", page{Title: "Not allowed",
			Data: map[string]any{"Message": "This form was sent from another site. Open AgentLinks and try again there."}})
		c.Abort()
	}
}

// who is the signed-in account, if the session names one still good.
func (s *server) who(c *gin.Context) (service.Account, bool) {
	ctx := c.Request.Context()
	id := s.sessions.GetString(ctx, sessionAccount)
	if id == "" {
		return service.Account{}, false
	}
	acct, err := s.svc.SessionAccount(ctx, id, int32(s.sessions.GetInt(ctx, sessionEpoch)))
	var re *refusal.Error
	if errors.As(err, &re) { // the account's password changed since: this session has ended
		_ = s.sessions.Destroy(ctx)
		return service.Account{}, false
	}
	if err != nil {
		s.log.ErrorContext(ctx, "read the session's account", "error", err)
		return service.Account{}, false
	}
	c.Set(accountKey, acct)
	return acct, true
}

// maybeSignedIn notes the account when there is one.
func (s *server) maybeSignedIn(c *gin.Context) { s.who(c) }

// signedIn sends a visitor without a session to the login page, and back
// here after it.
func (s *server) signedIn(c *gin.Context) {
	if _, ok := s.who(c); ok {
		return
	}
	next := c.Request.URL.Path
	if c.Request.Method != http.MethodGet {
		next = "/dashboard"
	}
	c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
	c.Abort()
}

func account(c *gin.Context) service.Account {
	a, _ := c.Get(accountKey)
	acct, _ := a.(service.Account)
	return acct
}

// safeNext keeps a redirect after login on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/dashboard"
	}
	return next
}

// startSession signs the account in: a new token (no fixation), the
// account and its password epoch.
func (s *server) startSession(c *gin.Context, acct service.Account) error {
	ctx := c.Request.Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionAccount, acct.ID)
	s.sessions.Put(ctx, sessionEpoch, int(acct.Epoch))
	c.Set(accountKey, acct)
	return nil
}

func (s *server) signupPage(c *gin.Context) {
	s.render(c, http.StatusOK, "signup", page{Title: "Sign up", Data: map[string]any{"Next": c.Query("next")}})
}

func (s *server) signup(c *gin.Context) {
	if !s.allowLogin(c, "") { // per address only: a new account has no attempts to guess
		return
	}
	acct, err := s.svc.SignUp(c.Request.Context(), c.PostForm("email"), c.PostForm("password"))
	if appID := c.PostForm("join"); appID != "" {
		s.signInToJoin(c, "signup", appID, acct, err)
		return
	}
	s.signIn(c, "signup", "Sign up", acct, err)
}

// signInToJoin answers a signup or login sent from a program's join page:
// the account is signed in and joins the program in the same step; a
// refusal shows the join page again, with the reason, what was typed and
// the form that fits (an email that has an account is asked to log in).
func (s *server) signInToJoin(c *gin.Context, mode, appID string, acct service.Account, err error) {
	ctx := c.Request.Context()
	var re *refusal.Error
	if errors.As(err, &re) {
		msg := re.Message
		if re.Code == "email_taken" {
			mode, msg = "login", "You already have an account with this email: log in below to join."
		}
		s.joinPageWith(c, appID, msg, mode, c.PostForm("email"), statusOf[re.Kind])
		return
	}
	if err == nil {
		err = s.startSession(c, acct)
	}
	if err == nil {
		_, err = s.svc.Join(ctx, acct, appID)
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/dashboard?notice=joined#program-"+url.PathEscape(appID))
}

// signIn starts the session of an account just signed up or logged in and
// sends it on to where it was going; a refusal shows the form again, with
// the reason and what was typed but the password.
func (s *server) signIn(c *gin.Context, form, title string, acct service.Account, err error) {
	s.renewedSession(c, form, page{Title: title, Data: map[string]any{"Email": c.PostForm("email"), "Next": c.PostForm("next")}},
		acct, err, safeNext(c.PostForm("next")))
}

// renewedSession answers a form that signs an account in anew (a signup, a
// login, a password change): a refusal shows the form again with the
// reason; otherwise the session starts under a new token and the browser
// goes on to next.
func (s *server) renewedSession(c *gin.Context, form string, again page, acct service.Account, err error, next string) {
	var re *refusal.Error
	if errors.As(err, &re) {
		again.Error = re.Message
		s.render(c, statusOf[re.Kind], form, again)
		return
	}
	if err == nil {
		err = s.startSession(c, acct)
	}
	if err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, next)
}

func (s *server) loginPage(c *gin.Context) {
	if _, ok := s.who(c); ok {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	s.render(c, http.StatusOK, "login", page{Title: "Log in", Notice: notices[c.Query("notice")], Data: map[string]any{"Next": c.Query("next")}})
}

func (s *server) login(c *gin.Context) {
	email := c.PostForm("email")
	if !s.allowLogin(c, email) {
		return
	}
	acct, err := s.svc.LogIn(c.Request.Context(), email, c.PostForm("password"))
	if appID := c.PostForm("join"); appID != "" {
		s.signInToJoin(c, "login", appID, acct, err)
		return
	}
	s.signIn(c, "login", "Log in", acct, err)
}

// allowLogin limits attempts per client address and per account, so that
// a password cannot be guessed quickly: the sixth try within a minute is
// refused with 429 and when to retry.
func (s *server) allowLogin(c *gin.Context, email string) bool {
	now := time.Now()
	okIP, waitIP := s.loginIP.Allow("ip:"+c.ClientIP(), now)
	okAcct, waitAcct := true, time.Duration(0)
	if email != "" {
		okAcct, waitAcct = s.loginAccount.Allow("account:"+strings.ToLower(strings.TrimSpace(email)), now)
	}
	if okIP && okAcct {
		return true
	}
	wait := max(waitIP, waitAcct)
	secs := int(wait/time.Second) + 1
	c.Header("Retry-After", strconv.Itoa(secs))
	s.render(c, http.StatusTooManyRequests, "login", page{Title: "Log in",
		Error: "Too many attempts. Wait " + strconv.Itoa(secs) + " seconds, then try again.",
		Data:  map[string]any{"Email": email, "Next": c.PostForm("next")}})
	c.Abort()
	return false
}

func (s *server) logout(c *gin.Context) {
	if err := s.sessions.Destroy(c.Request.Context()); err != nil {
		s.failPage(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/login?notice=logged_out")
}

func (s *server) accountPage(c *gin.Context) {
	s.render(c, http.StatusOK, "account", page{Title: "Your account", Notice: notices[c.Query("notice")]})
}

// changePassword sets a new password, which ends every other session; this
// one is renewed under the new epoch.
func (s *server) changePassword(c *gin.Context) {
	acct, err := s.svc.ChangePassword(c.Request.Context(), account(c).ID, c.PostForm("current_password"), c.PostForm("password"))
	s.renewedSession(c, "account", page{Title: "Your account"}, acct, err, "/account?notice=password")
}

// notices are the messages a redirect may ask a page to show, by name (a
// page never shows text from its URL).
var notices = map[string]string{
	"password":             "Your password is changed. Other sessions are signed out.",
	"logged_out":           "You are logged out.",
	"app":                  "Your app is ready. Copy its secret key now: it is shown only once.",
	"key":                  "A new key is made. Copy it now: it is shown only once.",
	"key_revoked":          "The key is revoked: calls with it are refused from now on.",
	"stripe_connected":     "Stripe is connected: paid invoices of referred customers are credited.",
	"stripe_disconnect":    "Stripe is disconnected.",
	"joined":               "You joined the program. Share your link below.",
	"moved":                "The customer is moved: their next conversions are credited to the new creator.",
	"settings":             "Settings saved. New conversions use them; recorded ones keep theirs.",
	"payout_settings":      "Payout settings saved.",
	"payment_method":       "Your card is saved: payout runs charge it for your creators' commissions.",
	"run_started":          "A payout run started: it reserves what each creator is owed, then waits for you below.",
	"run_confirmed":        "Confirmed: the run is paying your creators.",
	"run_confirmed_manual": "Confirmed: pay each creator below, then mark the payout paid with your reference.",
	"run_canceled":         "The run is canceled: every reserved amount is back in the creators' available balances.",
	"payout_marked":        "The payout is marked.",
	"payout_account":       "Your payout account is updated.",
	"cash_out":             "Cash out requested: your available balance is reserved for you; the program's owner confirms it, then you are paid.",
	"webhook_added":        "Endpoint added: verify each delivery's webhook-signature with its secret below.",
	"webhook_deleted":      "Endpoint deleted: nothing more is sent to it.",
	"webhook_rotated":      "New secret made: the previous one also signs for 24 hours while you switch.",
	"webhook_resent":       "Sending it again now.",
}
