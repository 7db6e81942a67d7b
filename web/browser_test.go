package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/examples/demosite"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/worker/workertest"
)

// The browser tests run real headless Chromium against the real API,
// PostgreSQL and Temporal dev server, with the demo shop on other origins
// than the API. Chromium resolves *.agentlinks.test to 127.0.0.1, so the
// shop has a real domain for the cookie: www.shop.agentlinks.test.
var (
	stack  *workertest.Stack
	apiURL string
	// plainURL is a second API on the same database and Temporal, with
	// Stripe not configured: AgentLinks as `make dev` runs it.
	plainURL string
	requests = &requestLog{}
	browser  context.Context
	bank     *testenv.StripeBank
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	if stack, err = workertest.NewStackWithoutWorker(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stack.Close()
	// Stripe: stripe-mock, behind the bank double that plays charges,
	// transfers and Stripe's hosted pages (Checkout, Express onboarding).
	mock, err := testenv.StartStripeMock(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mock.Stop()
	mockURL, _ := url.Parse(mock.URL)
	bank = testenv.NewStripeBank(httputil.NewSingleHostReverseProxy(mockURL))
	bankSrv := httptest.NewServer(bank)
	defer bankSrv.Close()
	bank.URL = bankSrv.URL
	// The API's address is known before it is built: the dashboard links
	// to it, and Stripe (a local OAuth double) sends owners back to it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	apiURL = "http://" + l.Addr().String()
	oauth := httptest.NewServer(stripeOAuth{})
	defer oauth.Close()
	stripeCfg := config.Stripe{
		SecretKey: "sk_test_web", ClientID: "ca_web", WebhookSecret: "whsec_web", ConnectBase: oauth.URL, APIBase: bankSrv.URL,
	}
	svc := service.New(stack.DB.Pool, stack.Workflows(), time.Hour).WithStripe(stripeCfg, apiURL)
	defer svc.Close()
	// Webhook receivers run on loopback; retries are quick.
	svc.Webhooks = service.WebhookSettings{AllowPrivate: true, Retry: webhook.Retry{Initial: 200 * time.Millisecond, Max: time.Second, For: time.Minute}}
	acts := stack.Activities()
	acts.Stripe, acts.Payments = stripeapi.New(stripeCfg), svc
	acts.Webhooks = webhook.Client(5*time.Second, true)
	if err := stack.StartWorker(acts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	go svc.ListenForChanges(listenCtx, stack.DB.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go svc.DispatchWebhooks(listenCtx, 100*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := api.New(api.Deps{Service: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: apiURL})
	apiSrv := &httptest.Server{Listener: l, Config: &http.Server{Handler: requests.wrap(h)}}
	apiSrv.Start()
	defer apiSrv.Close()

	plainL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	plainURL = "http://" + plainL.Addr().String()
	plain := service.New(stack.DB.Pool, stack.Workflows(), time.Hour)
	defer plain.Close()
	plain.Webhooks = svc.Webhooks
	go plain.ListenForChanges(listenCtx, stack.DB.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	plainSrv := &httptest.Server{Listener: plainL, Config: &http.Server{Handler: api.New(api.Deps{Service: plain,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: plainURL})}}
	plainSrv.Start()
	defer plainSrv.Close()

	chrome, err := chromiumPath()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "agentlinks-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", "MAP *.agentlinks.test 127.0.0.1"),
	)...)
	defer cancelAlloc()
	var cancel context.CancelFunc
	browser, cancel = chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(browser); err != nil { // start the browser once
		fmt.Fprintln(os.Stderr, "start chromium:", err)
		return 1
	}
	return m.Run()
}

func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium not found: `make test` installs Debian's chromium package (or set CHROMIUM)")
}

// requestLog remembers what reached the API, to tell a refused preflight
// from a request that never came.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The script is served slowly, so that calls a page makes while
		// it loads really are made before it runs.
		if r.URL.Path == "/agentlinks.js" {
			time.Sleep(300 * time.Millisecond)
		}
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.seen = append(l.seen, fmt.Sprintf("%s %s %s %d", r.Method, r.URL.Path, r.Header.Get("Origin"), rec.status))
		l.mu.Unlock()
	})
}

func (l *requestLog) has(substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.seen {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

// shop serves the demo site for an app on a port of its own; its origin is
// http://<host>:<port>.
func shop(t *testing.T, appID, host string) string {
	t.Helper()
	return shopWithKey(t, appID, host, "")
}

// shopWithKey is shop whose backend reports purchases with the secret key.
func shopWithKey(t *testing.T, appID, host, key string) string {
	t.Helper()
	return shopOn(t, apiURL, appID, host, key)
}

// shopOn is shopWithKey for the AgentLinks at api.
func shopOn(t *testing.T, api, appID, host, key string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: demosite.Handler(demosite.Config{AppID: appID, APIURL: api, SecretKey: key})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return fmt.Sprintf("http://%s:%d", host, l.Addr().(*net.TCPAddr).Port)
}

type program struct {
	appID, ref string
}

func newProgram(t *testing.T, cookieDays int32, keyless bool, origins ...string) program {
	t.Helper()
	ctx := context.Background()
	app, err := programs.CreateApp(ctx, stack.DB.Pool, programs.NewApp{
		Name: "Shop", CommissionBPS: 3000, Hold: programs.DefaultHold, CookieDays: cookieDays, KeylessConversions: keyless,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(origins) > 0 {
		if _, err := programs.SetAllowedOrigins(ctx, stack.DB.Pool, app.App.ID, origins); err != nil {
			t.Fatal(err)
		}
	}
	en, err := programs.Enroll(ctx, stack.DB.Pool, app.App.ID, "creator-"+app.App.ID+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return program{appID: app.App.ID, ref: en.RefCode}
}

func (p program) clicks(t *testing.T) int64 {
	t.Helper()
	c, err := db.New(stack.DB.Pool).ClickTotals(context.Background(), p.ref)
	if err != nil {
		t.Fatal(err)
	}
	return c.Clicks
}

func (p program) referral(t *testing.T, userID string) (db.Referral, bool) {
	t.Helper()
	r, err := db.New(stack.DB.Pool).GetReferralByUser(context.Background(), db.GetReferralByUserParams{AppID: p.appID, UserID: userID})
	return r, err == nil
}

// tab opens a fresh browser profile (its own cookies), closed with the test.
func tab(t *testing.T) context.Context { return tabFor(t, 60*time.Second) }

// tabFor is tab for a test that needs longer than a minute.
func tabFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, d)
	t.Cleanup(cancelTimeout)
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// loaded waits until agentlinks.js has run on the page.
func loaded(ctx context.Context) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](`window.AgentLinks && window.AgentLinks.loaded === true`)(ctx, t)
		return chromedp.Void{}, err
	}
}

func cookie(t *testing.T, ctx context.Context, url string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "agentlinks_ref" {
			return c
		}
	}
	return nil
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRefLinkSetsCookieCountsClickAndSignupCreatesReferral(t *testing.T) {
	p := newProgram(t, 30, true)
	site := shop(t, p.appID, "www.shop.agentlinks.test")
	if _, err := programs.SetAllowedOrigins(context.Background(), stack.DB.Pool, p.appID, []string{site}); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(site+"/?ref="+p.ref), loaded(ctx))

	eventually(t, "one click counted", func() bool { return p.clicks(t) == 1 })
	// The cookie lasts the app's window (30 days here), on the site's
	// domain so every page and subdomain sees it.
	var c *network.Cookie
	eventually(t, "cookie set for the app's 30-day window", func() bool {
		c = cookie(t, ctx, site)
		if c == nil {
			return false
		}
		left := time.Until(time.Unix(int64(c.Expires), 0))
		return left > 30*24*time.Hour-time.Hour && left <= 30*24*time.Hour
	})
	if c.Value != p.ref || c.Path != "/" || c.SameSite != network.CookieSameSiteLax || strings.TrimPrefix(c.Domain, ".") != "agentlinks.test" {
		t.Fatalf("cookie: %+v", c)
	}

	// Another page, on another subdomain of the site: the ref is still there,
	// and no second click is counted.
	other := strings.Replace(site, "www.shop.", "app.shop.", 1)
	if _, err := programs.SetAllowedOrigins(context.Background(), stack.DB.Pool, p.appID, []string{site, other}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(other+"/signup"), loaded(ctx))
	if got := eval[string](t, ctx, `window.AgentLinks.getRef()`); got != p.ref {
		t.Fatalf("getRef on another page: want %q, got %q", p.ref, got)
	}
	if n := p.clicks(t); n != 1 {
		t.Fatalf("a page without ?ref counted a click: %d", n)
	}

	// The signup form calls trackSignup.
	do(t, ctx,
		chromedp.SetValue(`#user_id`, "usr_browser"),
		chromedp.SendKeys(`#email`, "buyer@example.com"),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#result[data-done]`),
	)
	if done := eval[string](t, ctx, `document.getElementById("result").dataset.done`); done != "ok" {
		t.Fatalf("signup: %s", eval[string](t, ctx, `document.getElementById("result").textContent`))
	}
	r, ok := p.referral(t, "usr_browser")
	if !ok || r.RefCode != p.ref || r.Email != "buyer@example.com" {
		t.Fatalf("referral not created from the browser: %+v %v", r, ok)
	}

	// Keyless app: a purchase in the browser records the conversion. The
	// shop's pricing page buys as the user who just signed up on it.
	do(t, ctx, chromedp.Navigate(site+"/pricing"), loaded(ctx))
	if got := eval[string](t, ctx, `document.getElementById("user_id").value`); got != "usr_browser" {
		t.Fatalf("the pricing page buys as %q, not the user who signed up", got)
	}
	do(t, ctx,
		chromedp.Click(`#buy`),
		chromedp.WaitVisible(`#result[data-done]`))
	if got := eval[string](t, ctx, `document.getElementById("result").textContent`); !strings.Contains(got, `"net_commission_cents":712`) {
		t.Fatalf("purchase: %s", got)
	}
}

func TestSignupWithoutRefIsANoOp(t *testing.T) {
	p := newProgram(t, 60, false)
	site := shop(t, p.appID, "www.direct.agentlinks.test")
	if _, err := programs.SetAllowedOrigins(context.Background(), stack.DB.Pool, p.appID, []string{site}); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(site+"/signup"), loaded(ctx))
	if got := eval[any](t, ctx, `window.AgentLinks.trackSignup({user_id: "usr_direct"})`); got != nil {
		t.Fatalf("no cookie: trackSignup should resolve to null, got %v", got)
	}
	if got := eval[any](t, ctx, `window.AgentLinks.trackConversion({user_id: "usr_direct", amount_cents: 100})`); got != nil {
		t.Fatalf("no cookie: trackConversion should resolve to null, got %v", got)
	}
	if _, ok := p.referral(t, "usr_direct"); ok {
		t.Fatal("a visitor who came direct was attributed")
	}
	if requests.has("/api/track/signup " + site) {
		t.Fatal("the no-op signup still called the API")
	}
}

func TestCallBeforeScriptLoadsIsNotLost(t *testing.T) {
	p := newProgram(t, 60, false)
	site := shop(t, p.appID, "www.early.agentlinks.test")
	if _, err := programs.SetAllowedOrigins(context.Background(), stack.DB.Pool, p.appID, []string{site}); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	// /welcome calls trackSignup in an inline script above the async tag,
	// through the documented stub; the script arrives 300ms later.
	do(t, ctx, chromedp.Navigate(site+"/welcome?ref="+p.ref+"&user_id=usr_early"))
	res := eval[map[string]any](t, ctx, `window.signup`)
	if res["referral_id"] == nil || res["ref"] != p.ref {
		t.Fatalf("queued trackSignup answered %v", res)
	}
	if r, ok := p.referral(t, "usr_early"); !ok || r.RefCode != p.ref {
		t.Fatal("the call made before the script loaded did not arrive")
	}
}

func TestSiteNotAllowedIsRefused(t *testing.T) {
	p := newProgram(t, 60, true, "https://the-real-shop.example.com")
	site := shop(t, p.appID, "www.evil.agentlinks.test")
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(site+"/?ref="+p.ref), loaded(ctx))
	got := eval[string](t, ctx, `window.AgentLinks.trackSignup({user_id: "usr_evil"}).then(() => "accepted", e => "refused: " + e.message)`)
	if !strings.HasPrefix(got, "refused") {
		t.Fatalf("a site not in the allowed origins was answered: %s", got)
	}
	eventually(t, "the click's preflight reached the API", func() bool {
		return requests.has("OPTIONS /api/track/click " + site + " 403")
	})
	if requests.has("POST /api/track/click "+site) || requests.has("POST /api/track/signup "+site) {
		t.Fatal("the browser sent a request the preflight refused")
	}
	if n := p.clicks(t); n != 0 {
		t.Fatalf("a refused site counted %d clicks", n)
	}
	if _, ok := p.referral(t, "usr_evil"); ok {
		t.Fatal("a refused site created a referral")
	}
}

func TestBrowserConversionNeedsKeylessMode(t *testing.T) {
	p := newProgram(t, 60, false)
	site := shop(t, p.appID, "www.keyed.agentlinks.test")
	if _, err := programs.SetAllowedOrigins(context.Background(), stack.DB.Pool, p.appID, []string{site}); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(site+"/pricing?ref="+p.ref), loaded(ctx),
		chromedp.SetValue(`#user_id`, "usr_keyed"), chromedp.Click(`#buy`), chromedp.WaitVisible(`#result[data-done]`))
	got := eval[string](t, ctx, `document.getElementById("result").textContent`)
	if !strings.Contains(got, "keyless") || !strings.Contains(got, "backend") {
		t.Fatalf("the refusal should say why (keyless mode, call from the backend): %s", got)
	}
	var n int
	if err := stack.DB.Pool.QueryRow(context.Background(), "SELECT count(*) FROM conversions WHERE app_id = $1", p.appID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused browser conversion was recorded: %d %v", n, err)
	}
}
