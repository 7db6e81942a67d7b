package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/workflows"
)

// stripeOAuth answers Connect's OAuth as Stripe does, with the owner's
// consent already given: authorize sends the browser back to the
// redirect_uri with a code, and token exchanges that code for an account.
type stripeOAuth struct{}

func (stripeOAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	switch r.URL.Path {
	case "/oauth/authorize":
		back, err := url.Parse(r.Form.Get("redirect_uri"))
		if err != nil || r.Form.Get("client_id") != "ca_web" || r.Form.Get("state") == "" {
			http.Error(w, "bad authorize request", http.StatusBadRequest)
			return
		}
		q := back.Query()
		q.Set("code", "ac_web")
		q.Set("state", r.Form.Get("state"))
		q.Set("scope", "read_write")
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case "/oauth/token":
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("code") != "ac_web" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"no such code"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"sk_test_x","livemode":false,"token_type":"bearer","stripe_user_id":"acct_web_demo","scope":"read_write"}`)
	default:
		http.NotFound(w, r)
	}
}

// shot saves a screenshot of the page as name.png in the test's artifact
// directory (go test ./web -run Dashboard -artifacts -outputdir DIR keeps
// them), at the viewport's size.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// A page just navigated to may not be laid out yet (Chromium then
	// refuses a screenshot of zero width): wait for its body, and retry.
	do(t, ctx, chromedp.WaitVisible(`body`))
	var png []byte
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	saveShot(t, name, png)
	// No page scrolls sideways, at any width: wide tables scroll inside
	// their card.
	if wide := eval[string](t, ctx, `(() => { const w = document.documentElement.scrollWidth, v = window.innerWidth;
		if (w <= v) return "";
		const over = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > v + 0.5)
			.slice(-3).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "") + " " + Math.round(e.getBoundingClientRect().right) + "px");
		return w + " px wide in a " + v + " px window: " + over.join(", "); })()`); wide != "" {
		t.Errorf("%s: the page scrolls sideways: %s", name, wide)
	}
}

// saveShot keeps a screenshot with the test's artifacts (or in
// $SCREENSHOT_DIR).
func saveShot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := t.ArtifactDir()
	if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
		dir = d
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// textNow is the element's text, or "" while the page is changing (for
// checks that are retried).
func textNow(ctx context.Context, sel string) string {
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}

// overviewShowsOneSale waits until the app's Overview at page shows one
// click, one signup and one $25 purchase at 30%: $7.50 of commission.
func overviewShowsOneSale(t *testing.T, owner context.Context, page string) {
	t.Helper()
	eventually(t, "the owner's Overview shows the click, the signup and the purchase", func() bool {
		do(t, owner, chromedp.Navigate(page))
		return textNow(owner, `[data-total=clicks]`) == "1" && textNow(owner, `[data-total=signups]`) == "1" &&
			textNow(owner, `[data-total=conversions]`) == "1" && textNow(owner, `[data-total=commission]`) == "$7.50"
	})
}

func at(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if u, perr := url.Parse(loc); err == nil && perr == nil && strings.HasPrefix(u.RequestURI(), path) {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text("body"))
			t.Fatalf("want the page at %s, the browser is at %s (%v):\n%s", path, loc, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An owner signs up, creates an app, connects Stripe and installs the
// snippet on the demo shop; a creator joins and shares the link; a visit,
// a signup and a purchase show on both dashboards, and the creator's
// balance moves from pending to available after a short hold.
func TestDashboardOwnerAndCreator(t *testing.T) {
	owner := tabFor(t, 3*time.Minute)
	do(t, owner, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(apiURL+"/signup"))
	shot(t, owner, "01-signup")
	ownerEmail := fmt.Sprintf("owner-%d@example.com", time.Now().UnixNano())
	do(t, owner,
		chromedp.SendKeys(`input[name=email]`, ownerEmail),
		chromedp.SendKeys(`input[name=password]`, "owner password"),
		chromedp.Click(`main button[type=submit]`))
	at(t, owner, "/dashboard")
	shot(t, owner, "02-owner-dashboard-empty")

	do(t, owner, chromedp.Click(`a[href="/apps/new"]`))
	at(t, owner, "/apps/new")
	do(t, owner,
		chromedp.SendKeys(`input[name=name]`, "Demo Shop"),
		chromedp.SetValue(`input[name=commission_percent]`, "30"),
		chromedp.SetValue(`input[name=hold_amount]`, "14"),
		chromedp.Click(`main button[type=submit]`))
	if err := chromedp.Do(owner, chromedp.WaitVisible(`#new-key`)); err != nil {
		shot(t, owner, "03-app-created-failed")
		t.Fatalf("no new key shown after creating the app: %v\n%s", err, text(t, owner, "main"))
	}
	shot(t, owner, "03-app-created")
	key, err := chromedp.Run(owner, chromedp.Value(`#new-key`))
	if err != nil || !strings.HasPrefix(key, "sk_") {
		t.Fatalf("the new key is shown once: %q %v", key, err)
	}
	snippet := text(t, owner, `#snippet`)
	var appID string
	if i := strings.Index(snippet, `data-app-id="`); i >= 0 {
		appID = strings.SplitN(snippet[i+len(`data-app-id="`):], `"`, 2)[0]
	}
	if !strings.HasPrefix(appID, "app_") || !strings.Contains(snippet, apiURL+"/agentlinks.js") {
		t.Fatalf("the install snippet: %s", snippet)
	}
	// A reload of the page the form led to makes no second app and shows
	// the key no more (post/redirect/get; the key is shown once).
	do(t, owner, chromedp.Reload(), chromedp.WaitVisible(`#snippet`))
	if apps, err := db.New(stack.DB.Pool).ListOwnedApps(context.Background(), ownerID(t, ownerEmail)); err != nil || len(apps) != 1 {
		t.Fatalf("after a reload the owner has %d apps (%v)", len(apps), err)
	}
	if has(owner, `#new-key`) {
		t.Fatal("the secret key is shown again after a reload")
	}
	// A few seconds' hold, so that the release is seen here (the form takes
	// minutes at the least; the CLI and this test may set seconds).
	if _, err := stack.DB.Pool.Exec(context.Background(), "UPDATE apps SET hold_seconds = 4 WHERE id = $1", appID); err != nil {
		t.Fatal(err)
	}

	// Connect Stripe: Stripe's OAuth (a local double) sends the owner back.
	do(t, owner, chromedp.Click(`form[action$="/stripe/connect"] button`))
	at(t, owner, "/apps/"+appID)
	eventually(t, "Stripe shown connected", func() bool { return strings.Contains(textNow(owner, `main`), "acct_web_demo") })
	shot(t, owner, "04-stripe-connected")

	// The owner installs the snippet on the demo shop and allows its site
	// in the app's settings.
	site := shopWithKey(t, appID, "www.dash.agentlinks.test", key)
	do(t, owner, chromedp.SetValue(`textarea[name=allowed_origins]`, site+"/"),
		chromedp.Click(`#settings button[type=submit]`))
	eventually(t, "the settings saved", func() bool { return strings.Contains(textNow(owner, `main`), "Settings saved") })
	if app, _ := db.New(stack.DB.Pool).GetApp(context.Background(), appID); len(app.AllowedOrigins) != 1 || app.AllowedOrigins[0] != site {
		t.Fatalf("the allowed origin saved from the form: %v", app.AllowedOrigins)
	}
	shot(t, owner, "05-settings-saved")

	// A creator joins from the program's join page, the link the owner copies.
	join, err := chromedp.Run(owner, chromedp.Value(`#join-link`))
	if err != nil || join != apiURL+"/join/"+appID {
		t.Fatalf("the join link on the setup page: %q %v", join, err)
	}
	creator := tabFor(t, 3*time.Minute)
	do(t, creator, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(join))
	shot(t, creator, "06-join")
	do(t, creator,
		chromedp.SendKeys(`input[name=email]`, "creator-"+ownerEmail),
		chromedp.SendKeys(`input[name=password]`, "creator password"),
		chromedp.Click(`main button[type=submit]`))
	// Signed up from the join page, the creator is in the program.
	at(t, creator, "/dashboard")
	link, err := chromedp.Run(creator, chromedp.Value(`#program-`+appID+` input[readonly]`))
	if err != nil || !strings.HasPrefix(link, site+"/?ref=") {
		t.Fatalf("the creator's link: %q %v", link, err)
	}
	if ref := strings.TrimPrefix(link, site+"/?ref="); len(ref) < 3 {
		t.Fatalf("the link carries no ref code: %q", link)
	}
	shot(t, creator, "06b-creator-joined")

	// A visitor follows the link, signs up on the shop, and buys: the app's
	// backend reports the purchase with its secret key (the guide's way).
	visitor := tab(t)
	do(t, visitor, chromedp.Navigate(link), loaded(visitor))
	do(t, visitor, chromedp.Navigate(site+"/signup"), loaded(visitor),
		chromedp.SetValue(`#user_id`, "usr_dash"),
		chromedp.SendKeys(`#email`, "buyer@example.com"),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#result[data-done]`))
	// The purchase: the shop's backend reports it with the secret key.
	do(t, visitor, chromedp.Navigate(site+"/pricing"), loaded(visitor),
		chromedp.SetValue(`#user_id`, "usr_dash"),
		chromedp.Click(`#buy`),
		chromedp.WaitVisible(`#result[data-done]`))
	if got := eval[string](t, visitor, `document.getElementById("result").textContent`); !strings.Contains(got, `"net_commission_cents":712`) {
		t.Fatalf("the purchase reported by the shop's backend: %s", got)
	}
	// Both dashboards show it within seconds: the owner's totals, the
	// creator's row, and the conversion with a link to its workflow.
	overviewShowsOneSale(t, owner, apiURL+"/apps/"+appID)
	if m := text(t, owner, `main`); !strings.Contains(m, "creator-"+ownerEmail) || !strings.Contains(m, "usr_dash") {
		t.Fatalf("the overview lists the creator and the conversion:\n%s", m)
	}
	if href, err := chromedp.Run(owner, chromedp.Evaluate[string](`document.querySelector('a[href*="/workflows/conversion-"]').href`)); err != nil ||
		!strings.Contains(href, "/namespaces/default/workflows/conversion-cv_") {
		t.Fatalf("the conversion links to its workflow in the Temporal UI: %q %v", href, err)
	}
	shot(t, owner, "07-app-overview")
	eventually(t, "the creator sees a pending commission", func() bool {
		do(t, creator, chromedp.Navigate(apiURL+"/dashboard"))
		return textNow(creator, `#program-`+appID+` [data-balance=pending]`) == "$7.12" &&
			textNow(creator, `#program-`+appID+` [data-stat=signups]`) == "1" && textNow(creator, `#program-`+appID+` [data-stat=clicks]`) == "1"
	})
	shot(t, creator, "08-creator-pending")
	eventually(t, "the hold ends and the commission is available", func() bool {
		do(t, creator, chromedp.Navigate(apiURL+"/dashboard"))
		return textNow(creator, `#program-`+appID+` [data-balance=available]`) == "$7.12" &&
			textNow(creator, `#program-`+appID+` [data-balance=pending]`) == "$0.00"
	})
	shot(t, creator, "09-creator-available")
	do(t, creator, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(apiURL+"/dashboard"))
	shot(t, creator, "10-creator-phone")

	// Logged out, the dashboard sends to the login page.
	do(t, owner, chromedp.Click(`form[action="/logout"] button`))
	at(t, owner, "/login")
	if n := text(t, owner, `.notice`); n != "You are logged out." {
		t.Fatalf("after logging out the page says %q", n)
	}
	// The page's icon is served (no 404 on every page).
	if got := eval[string](t, owner, `fetch("/favicon.ico").then(r => r.status + " " + r.headers.get("content-type"))`); got != "200 image/svg+xml" {
		t.Fatalf("/favicon.ico: %s", got)
	}
	shot(t, owner, "11-login")
}

// The operator's page and the account page, as an operator sees them.
func TestDashboardOperatorAndAccountPages(t *testing.T) {
	svc := service.New(stack.DB.Pool, workflows.Client{}, time.Hour)
	defer svc.Close()
	email := fmt.Sprintf("operator-%d@example.com", time.Now().UnixNano())
	if _, err := svc.CreateAccount(context.Background(), email, "operator password", true); err != nil {
		t.Fatal(err)
	}
	op := tab(t)
	do(t, op, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(apiURL+"/login"),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, "operator password"),
		chromedp.Click(`main button[type=submit]`))
	at(t, op, "/dashboard")
	do(t, op, chromedp.Click(`a[href="/operator"]`))
	at(t, op, "/operator")
	if m := text(t, op, "main"); !strings.Contains(m, "Platform fee revenue per day") || !strings.Contains(m, "Parked Stripe events") {
		t.Fatalf("the operator page:\n%s", m)
	}
	shot(t, op, "12-operator")
	do(t, op, chromedp.Navigate(apiURL+"/account"))
	shot(t, op, "13-account")
	do(t, op, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(apiURL+"/operator"))
	shot(t, op, "14-operator-phone")
}
