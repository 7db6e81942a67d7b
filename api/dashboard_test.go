package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// browserish is a person at the dashboard: a cookie jar, and no redirects
// followed, so that each answer can be checked.
type browserish struct {
	t      *testing.T
	client *http.Client
	email  string
}

var accountSeq atomic.Int64

// Every signup and login here comes from 127.0.0.1, which the API allows
// 30 a minute (the per-address login limit), for the whole package: the
// tests below use about 23.

func newPerson(t *testing.T) *browserish {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browserish{t: t, email: "person" + strconv.FormatInt(accountSeq.Add(1), 10) + "-" + strings.ToLower(t.Name()[:min(12, len(t.Name()))]) + "@example.com",
		client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserish) do(method, path string, form url.Values, headers ...string) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		// A form the page rendered carries its one-time token.
		if method == "POST" && !form.Has("form_token") {
			form = maps.Clone(form)
			form.Set("form_token", ids.FormToken())
		}
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw), res.Header
}

func (b *browserish) signUp() {
	b.t.Helper()
	if status, body, h := b.do("POST", "/signup", url.Values{"email": {b.email}, "password": {"correct horse"}}); status != 303 || h.Get("Location") != "/dashboard" {
		b.t.Fatalf("sign up: %d %s %s", status, h.Get("Location"), body)
	}
}

var appIDIn = regexp.MustCompile(`/apps/(app_[a-z0-9]+)`)
var keyIn = regexp.MustCompile(`value="(sk_[a-z0-9]+)"`)

// createApp creates an app on the dashboard; it returns its id and the key
// shown once, on the page the form sends the browser to.
func (b *browserish) createApp(name string) (string, string) {
	b.t.Helper()
	status, body, h := b.do("POST", "/apps", url.Values{"name": {name}, "commission_percent": {"30"}, "hold_amount": {"14"}, "hold_unit": {"days"}, "cookie_days": {"60"}, "min_payout": {"50"}})
	m := appIDIn.FindStringSubmatch(h.Get("Location"))
	if status != 303 || m == nil {
		b.t.Fatalf("create app: %d %s %s", status, h.Get("Location"), body)
	}
	status, body, _ = b.do("GET", h.Get("Location"), nil)
	k := keyIn.FindStringSubmatch(body)
	if status != 200 || k == nil {
		b.t.Fatalf("the new app's page: %d %s", status, body)
	}
	return m[1], k[1]
}

func TestDashboardKeysAreShownOnceAndStoredHashed(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	appID, key := owner.createApp("Hashed")
	// The key works for the API, once made.
	expect(t, call(t, "GET", "/api/stats", key, nil), 200, "")
	status, body, _ := owner.do("GET", "/apps/"+appID+"/setup", nil)
	if status != 200 || strings.Contains(body, key) || !strings.Contains(body, key[:7]) {
		t.Fatalf("the app page must show the key's prefix, never the key again (status %d)", status)
	}
	var stored int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*) FROM api_keys WHERE app_id = $1 AND (key_hash = convert_to($2, 'UTF8') OR key_prefix = $2)", appID, key).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the key is stored as it is: %d %v", stored, err)
	}
	// Revoked, it is refused.
	var keyID string
	if err := database.Pool.QueryRow(context.Background(), "SELECT id::text FROM api_keys WHERE app_id = $1", appID).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := owner.do("POST", "/apps/"+appID+"/keys/"+keyID+"/revoke", url.Values{}); status != 303 {
		t.Fatalf("revoke: %d", status)
	}
	expect(t, call(t, "GET", "/api/stats", key, nil), 401, "invalid_api_key")
}

// Owner A tries every owner route and action with owner B's ids: each is
// a 404 and nothing of B's changes. A creator (not an owner) fares the same.
func TestDashboardIsolatesOwners(t *testing.T) {
	a, b := newPerson(t), newPerson(t)
	a.signUp()
	b.signUp()
	bApp, bKey := b.createApp("B's shop")
	var bKeyID string
	if err := database.Pool.QueryRow(context.Background(), "SELECT id::text FROM api_keys WHERE app_id = $1", bApp).Scan(&bKeyID); err != nil {
		t.Fatal(err)
	}
	aApp, _ := a.createApp("A's shop")
	var aKeyID string
	_ = database.Pool.QueryRow(context.Background(), "SELECT id::text FROM api_keys WHERE app_id = $1", aApp).Scan(&aKeyID)
	bRun, err := svc.StartPayoutRun(context.Background(), bApp, "owner")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "B's run reserved", func() bool {
		_, err := svc.PayoutRun(context.Background(), bApp, bRun)
		return err == nil
	})
	for _, r := range []struct{ method, path string }{
		{"GET", "/apps/" + bApp + "/payouts"},
		{"POST", "/apps/" + bApp + "/payouts/settings"},
		{"POST", "/apps/" + bApp + "/payouts/payment-method"},
		{"GET", "/apps/" + bApp + "/payouts/payment-method/done?session_id=cs_x"},
		{"POST", "/apps/" + bApp + "/payouts/run"},
		{"POST", "/apps/" + bApp + "/payouts/runs/" + bRun + "/confirm"},
		{"POST", "/apps/" + aApp + "/payouts/runs/" + bRun + "/confirm"}, // B's run under A's app
		{"POST", "/apps/" + aApp + "/payouts/runs/" + bRun + "/cancel"},
		{"GET", "/apps/" + aApp + "/payouts/runs/" + bRun + "/export.csv"},
		{"POST", "/apps/" + aApp + "/payouts/po_not_a/paid"},
		{"GET", "/apps/" + bApp},
		{"POST", "/apps/" + bApp + "/keys"},
		{"POST", "/apps/" + bApp + "/keys/" + bKeyID + "/revoke"},
		{"POST", "/apps/" + aApp + "/keys/" + bKeyID + "/revoke"}, // B's key under A's app
		{"POST", "/apps/" + bApp + "/stripe/connect"},
		{"POST", "/apps/" + bApp + "/stripe/disconnect"},
	} {
		var form url.Values
		if r.method == "POST" {
			form = url.Values{}
		}
		for who, p := range map[string]*browserish{"owner A": a} {
			if status, body, _ := p.do(r.method, r.path, form); status != 404 || strings.Contains(body, "B&#39;s shop") || strings.Contains(body, "B's shop") {
				t.Errorf("%s: %s %s answered %d", who, r.method, r.path, status)
			}
		}
	}
	var keys, active int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM api_keys WHERE app_id = $1", bApp).Scan(&keys, &active); err != nil || keys != 1 || active != 1 {
		t.Fatalf("B's keys changed: %d keys, %d active (%v)", keys, active, err)
	}
	expect(t, call(t, "GET", "/api/stats", bKey, nil), 200, "")
	if runs, err := svc.PayoutRuns(context.Background(), bApp, 10); err != nil || len(runs) != 1 {
		t.Fatalf("B's payout runs changed: %d (%v)", len(runs), err)
	}
	// A's dashboard lists only A's app.
	if _, body, _ := a.do("GET", "/dashboard", nil); strings.Contains(body, bApp) || !strings.Contains(body, aApp) {
		t.Fatal("A's dashboard shows B's app, or not A's")
	}
	// A creator who owns nothing gets the same 404s.
	creator := newPerson(t)
	creator.signUp()
	if status, _, _ := creator.do("POST", "/join/"+bApp, url.Values{}); status != 303 {
		t.Fatalf("join: %d", status)
	}
	if status, _, _ := creator.do("GET", "/apps/"+bApp, nil); status != 404 {
		t.Fatalf("a creator in B's program opened B's app page: %d", status)
	}
	// Signed out, the pages send to the login page.
	stranger := newPerson(t)
	if status, _, h := stranger.do("GET", "/apps/"+bApp, nil); status != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("signed out: %d %s", status, h.Get("Location"))
	}
}

func TestDashboardRefusesCrossSiteForms(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	before := ownedApps(t, owner.email)
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		status, _, _ := owner.do("POST", "/apps", url.Values{"name": {"Evil"}, "commission_percent": {"90"}, "hold_amount": {"0"}, "hold_unit": {"days"}, "cookie_days": {"60"}, "min_payout": {"50"}}, h...)
		if status != 403 {
			t.Errorf("a form posted with %s: %s answered %d", h[0], h[1], status)
		}
	}
	if ownedApps(t, owner.email) != before {
		t.Fatal("a cross-site form post created an app")
	}
	// The same form from the dashboard itself works.
	if status, _, _ := owner.do("POST", "/apps", url.Values{"name": {"Mine"}, "commission_percent": {"10"}, "hold_amount": {"0"}, "hold_unit": {"days"}, "cookie_days": {"60"}, "min_payout": {"50"}},
		"Sec-Fetch-Site", "same-origin"); status != 303 {
		t.Fatalf("a same-origin form: %d", status)
	}
}

func ownedApps(t *testing.T, email string) int {
	var n int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*) FROM apps JOIN users ON users.id = apps.owner_id WHERE users.email = $1", email).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoginIsLimitedAndSessionsEnd(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	attacker := newPerson(t)
	for i := 1; i <= 5; i++ {
		if status, body, _ := attacker.do("POST", "/login", url.Values{"email": {owner.email}, "password": {"wrong password"}}); status != 401 || !strings.Contains(body, "not right") {
			t.Fatalf("wrong password %d: %d", i, status)
		}
	}
	status, body, h := attacker.do("POST", "/login", url.Values{"email": {owner.email}, "password": {"correct horse"}})
	if status != 429 || h.Get("Retry-After") == "" || !strings.Contains(body, "Too many attempts") {
		t.Fatalf("the 6th attempt in a minute: %d %q", status, h.Get("Retry-After"))
	}
	// Unknown email and wrong password answer alike.
	other := newPerson(t)
	_, unknown, _ := other.do("POST", "/login", url.Values{"email": {"nobody-here@example.com"}, "password": {"whatever1"}})
	if !strings.Contains(unknown, "The email or the password is not right") {
		t.Fatal("an unknown email is answered differently from a wrong password")
	}

	// A second session of an owner ends when the password changes; the
	// session that changed it goes on. (This owner's logins are not limited:
	// the limit is per account.)
	owner = newPerson(t)
	owner.signUp()
	second := &browserish{t: t, email: owner.email}
	jar, _ := cookiejar.New(nil)
	second.client = &http.Client{Jar: jar, CheckRedirect: owner.client.CheckRedirect}
	if status, _, _ := second.do("POST", "/login", url.Values{"email": {owner.email}, "password": {"correct horse"}}); status != 303 {
		t.Fatalf("second login: %d", status)
	}
	if status, _, _ := second.do("GET", "/dashboard", nil); status != 200 {
		t.Fatalf("second session: %d", status)
	}
	if status, _, h := owner.do("POST", "/account/password", url.Values{"current_password": {"correct horse"}, "password": {"battery staple"}}); status != 303 || h.Get("Location") != "/account?notice=password" {
		t.Fatalf("change password: %d %s", status, h.Get("Location"))
	}
	if status, _, h := second.do("GET", "/dashboard", nil); status != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("the other session after a password change: %d %s", status, h.Get("Location"))
	}
	if status, _, _ := owner.do("GET", "/dashboard", nil); status != 200 {
		t.Fatalf("the session that changed the password: %d", status)
	}
	// Logout ends it; its cookie no longer opens anything.
	cookies := owner.client.Jar.Cookies(mustURL(srv.URL))
	if status, _, _ := owner.do("POST", "/logout", url.Values{}); status != 303 {
		t.Fatalf("logout: %d", status)
	}
	replay := &browserish{t: t}
	jar2, _ := cookiejar.New(nil)
	jar2.SetCookies(mustURL(srv.URL), cookies)
	replay.client = &http.Client{Jar: jar2, CheckRedirect: owner.client.CheckRedirect}
	if status, _, _ := replay.do("GET", "/dashboard", nil); status != 303 {
		t.Fatalf("the logged-out session's cookie still opens the dashboard: %d", status)
	}
	var n int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE email = $1 AND password_hash LIKE '$argon2id$%'", owner.email).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the password is not stored as an argon2id hash: %d %v", n, err)
	}
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// A referred customer moved to another creator: the next conversion is the
// new creator's, the recorded one stays, the move is kept with who made
// it, and the rollups still agree with the rows.
func TestDashboardMovesACustomer(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	appID, key := owner.createApp("Moves")
	first, err := programs.Enroll(context.Background(), database.Pool, appID, "first-"+appID+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	second, err := programs.Enroll(context.Background(), database.Pool, appID, "second-"+appID+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": first.RefCode, "user_id": "usr_move"}), 201, "")
	a := call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": first.RefCode, "user_id": "usr_move", "amount_cents": 10000, "transaction_id": "t_move_1"})
	expect(t, a, 201, "")

	// Refused moves say why on the page and change nothing.
	for _, f := range []url.Values{
		{"user_id": {"usr_move"}, "ref": {"nosuchref"}},
		{"user_id": {"usr_nobody"}, "ref": {second.RefCode}},
		{"user_id": {"usr_move"}, "ref": {first.RefCode}},
	} {
		if status, body, _ := owner.do("POST", "/apps/"+appID+"/customers/move", f); status == 303 || !strings.Contains(body, `class="notice error"`) {
			t.Errorf("move %v: want the reason on the page, got %d", f, status)
		}
	}
	if status, _, h := owner.do("POST", "/apps/"+appID+"/customers/move", url.Values{"user_id": {"usr_move"}, "ref": {strings.ToUpper(second.RefCode)}}); status != 303 || !strings.Contains(h.Get("Location"), "notice=moved") {
		t.Fatalf("move: %d %s", status, h.Get("Location"))
	}
	b := call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": first.RefCode, "user_id": "usr_move", "amount_cents": 10000, "transaction_id": "t_move_2"})
	expect(t, b, 201, "")
	if b.str("ref") != second.RefCode {
		t.Fatalf("the conversion after the move should be the new creator's (%s), got %s", second.RefCode, b.raw)
	}
	var creator string
	if err := database.Pool.QueryRow(context.Background(), "SELECT creator_id FROM conversions WHERE id = $1", a.str("conversion_id")).Scan(&creator); err != nil || creator != first.CreatorID {
		t.Fatalf("the recorded conversion moved with the customer: %s (%v)", creator, err)
	}
	var by, from string
	if err := database.Pool.QueryRow(context.Background(), `SELECT u.email, m.from_creator_id FROM referral_moves m JOIN users u ON u.id = m.moved_by WHERE m.app_id = $1`, appID).Scan(&by, &from); err != nil || by != owner.email || from != first.CreatorID {
		t.Fatalf("the move is kept with who made it: %q %q, want %q %q (%v)", by, from, owner.email, first.CreatorID, err)
	}
	// An unattributed customer (a conversion without a signup) gets a creator.
	expect(t, call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": first.RefCode, "user_id": "usr_direct", "amount_cents": 500}), 201, "")
	if status, _, _ := owner.do("POST", "/apps/"+appID+"/customers/move", url.Values{"user_id": {"usr_direct"}, "ref": {second.RefCode}}); status != 303 {
		t.Fatalf("assign an unattributed customer: %d", status)
	}
	if _, body, _ := owner.do("GET", "/apps/"+appID, nil); !strings.Contains(body, "usr_direct") || !strings.Contains(body, "nobody") {
		t.Fatal("the overview lists the moves, an unattributed customer's as from nobody")
	}
	checkLedger(t)
}

// CSV exports: every conversion and creator of the program, cells that a
// spreadsheet would run as formulas escaped, and only for the owner.
func TestDashboardExportsCSV(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	appID, key := owner.createApp("Export")
	en, err := programs.Enroll(context.Background(), database.Pool, appID, "=HYPERLINK(\"http://evil\")@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for i, user := range []string{"+cmd|' /C calc'!A0", "usr_plain", "@SUM(1+1)", "-2+3"} {
		expect(t, call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": en.RefCode, "user_id": user, "amount_cents": 1000 + i, "transaction_id": fmt.Sprintf("t_csv_%d", i)}), 201, "")
	}
	status, body, h := owner.do("GET", "/apps/"+appID+"/export/conversions.csv", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("conversions.csv: %d %s", status, h.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 5 {
		t.Fatalf("want a header and 4 conversions, got %d rows (%v)", len(rows), err)
	}
	for _, r := range rows[1:] {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Fatalf("a cell a spreadsheet would run as a formula: %q in %v", cell, r)
			}
		}
	}
	if rows[1][4] != "'+cmd|' /C calc'!A0" || rows[1][3] != "'=HYPERLINK(\"http://evil\")@example.com" || rows[1][7] != "10.00" {
		t.Fatalf("the first conversion's cells: %v", rows[1])
	}
	_, body, _ = owner.do("GET", "/apps/"+appID+"/export/creators.csv", nil)
	if rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll(); len(rows) != 2 || rows[1][1][0] != '\'' || rows[1][5] != "4" {
		t.Fatalf("creators.csv: %v", rows)
	}
	other := newPerson(t)
	other.signUp()
	for _, p := range []string{"/apps/" + appID + "/export/conversions.csv", "/apps/" + appID + "/export/creators.csv", "/apps/" + appID + "/setup"} {
		if status, body, _ := other.do("GET", p, nil); status != 404 || strings.Contains(body, "usr_plain") {
			t.Errorf("another owner: GET %s answered %d", p, status)
		}
	}
	if status, _, _ := other.do("POST", "/apps/"+appID+"/customers/move", url.Values{"user_id": {"usr_plain"}, "ref": {en.RefCode}}); status != 404 {
		t.Errorf("another owner moved a customer: %d", status)
	}
	if status, _, _ := other.do("POST", "/apps/"+appID+"/settings", url.Values{"name": {"Stolen"}, "commission_percent": {"99"},
		"hold_amount": {"0"}, "hold_unit": {"days"}, "cookie_days": {"1"}, "min_payout": {"0"}}); status != 404 {
		t.Errorf("another owner changed the settings: %d", status)
	}
	if app, _ := db.New(database.Pool).GetApp(context.Background(), appID); app.Name != "Export" || app.CommissionBps != 3000 {
		t.Fatalf("another owner's post changed the app: %+v", app)
	}
}

func TestDashboardSettingsAndOperatorPage(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	appID, _ := owner.createApp("Settings")
	status, body, _ := owner.do("POST", "/apps/"+appID+"/settings", url.Values{"name": {"Renamed"}, "commission_percent": {"12.5"},
		"hold_amount": {"30"}, "hold_unit": {"days"}, "cookie_days": {"90"}, "min_payout": {"25.50"}, "allowed_origins": {"https://Shop.Example.com/\nhttp://localhost:3000"}, "keyless": {"on"}})
	if status != 303 {
		t.Fatalf("save settings: %d %s", status, body)
	}
	app, _ := db.New(database.Pool).GetApp(context.Background(), appID)
	if app.Name != "Renamed" || app.CommissionBps != 1250 || app.HoldSeconds != 30*86400 || app.CookieDays != 90 || app.MinPayoutCents != 2550 ||
		!app.KeylessConversions || len(app.AllowedOrigins) != 2 || app.AllowedOrigins[0] != "https://shop.example.com" {
		t.Fatalf("saved settings: %+v", app)
	}
	// Refused, the form is shown back as typed, with the whole reason at
	// the field it is about.
	for _, bad := range []struct {
		form         url.Values
		field, quote string
	}{
		{url.Values{"commission_percent": {"120"}}, "commission_percent", "from 0 to 100"},
		{url.Values{"allowed_origins": {"https://ok.example.com\nshop.example.com/path"}}, "allowed_origins", `&#34;shop.example.com/path&#34;`},
		{url.Values{"allowed_origins": {"not a url"}}, "allowed_origins", `&#34;not a url&#34;`},
		{url.Values{"min_payout": {"1.234"}}, "min_payout", `&#34;1.234&#34;`},
		{url.Values{"hold_amount": {"1.5"}}, "hold", `&#34;1.5&#34; days is not a whole number`},
		{url.Values{"hold_amount": {"400"}}, "hold", "up to 365 days"},
	} {
		form := url.Values{"name": {"Typed name"}, "commission_percent": {"10"}, "hold_amount": {"1"}, "hold_unit": {"days"}, "cookie_days": {"1"}, "min_payout": {"0"}}
		for k, v := range bad.form {
			form[k] = v
		}
		status, body, _ := owner.do("POST", "/apps/"+appID+"/settings", form)
		i := strings.Index(body, `name="`+bad.field)
		if bad.field == "hold" {
			i = strings.Index(body, `name="hold_amount"`)
		}
		errAt := strings.Index(body, `class="field-error"`)
		if status != 422 || i < 0 || errAt < 0 || !strings.Contains(body[errAt:], bad.quote) {
			t.Errorf("settings %v: want 422 with %q at the field, got %d", bad.form, bad.quote, status)
			continue
		}
		if !strings.Contains(body, `value="Typed name"`) || (bad.field == "allowed_origins" && !strings.Contains(body, strings.ReplaceAll(bad.form.Get("allowed_origins"), "\n", "\n"))) {
			t.Errorf("settings %v: the form is not shown back as typed", bad.form)
		}
	}
	if app2, _ := db.New(database.Pool).GetApp(context.Background(), appID); app2.Name != "Renamed" {
		t.Fatal("refused settings changed the app")
	}
	// A hold typed in minutes is kept, and shown back as typed.
	if status, body, _ := owner.do("POST", "/apps/"+appID+"/settings", url.Values{"name": {"Renamed"}, "commission_percent": {"12.5"},
		"hold_amount": {"1"}, "hold_unit": {"minutes"}, "cookie_days": {"90"}, "min_payout": {"5"}}); status != 303 {
		t.Fatalf("a one-minute hold: %d %s", status, body)
	}
	if app, _ := db.New(database.Pool).GetApp(context.Background(), appID); app.HoldSeconds != 60 || app.MinPayoutCents != 500 {
		t.Fatalf("a one-minute hold saved as %d s, minimum %d", app.HoldSeconds, app.MinPayoutCents)
	}
	_, setup, _ := owner.do("GET", "/apps/"+appID+"/setup", nil)
	if !strings.Contains(setup, `name="hold_amount" value="1"`) || !strings.Contains(setup, `<option value="minutes" selected>`) {
		t.Fatal("the one-minute hold is not shown back as 1 minutes")
	}
	// The operator's page is an operator's only.
	if status, _, _ := owner.do("GET", "/operator", nil); status != 404 {
		t.Fatalf("an owner opened the operator page: %d", status)
	}
	op := newPerson(t)
	if _, err := svc.CreateAccount(context.Background(), op.email, "operator password", true); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := op.do("POST", "/login", url.Values{"email": {op.email}, "password": {"operator password"}}); status != 303 {
		t.Fatalf("operator login: %d", status)
	}
	if status, body, _ := op.do("GET", "/operator", nil); status != 200 || !strings.Contains(body, "Parked Stripe events") || !strings.Contains(body, "Platform fee revenue") || !strings.Contains(body, `<div class="card" id="payouts">`) {
		t.Fatalf("the operator page: %d", status)
	}
}

// A creator sees every commission taken back or flagged, with why.
func TestCreatorSeesReversalsWithTheirReason(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	appID, key := owner.createApp("Reversals")
	creator := newPerson(t)
	creator.signUp()
	if status, _, _ := creator.do("POST", "/join/"+appID, url.Values{}); status != 303 {
		t.Fatalf("join: %d", status)
	}
	var ref string
	if err := database.Pool.QueryRow(context.Background(), `SELECT rc.code FROM ref_codes rc JOIN creators c ON c.id = rc.creator_id
		JOIN users u ON u.id = c.user_id WHERE u.email = $1 AND rc.app_id = $2`, creator.email, appID).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	// A signup with the creator's own email is flagged as a self-referral.
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": ref, "user_id": "usr_self", "email": creator.email}), 201, "")
	expect(t, call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": ref, "user_id": "usr_self", "amount_cents": 4000, "transaction_id": "t_self"}), 201, "")
	expect(t, call(t, "POST", "/api/track/conversion", key, map[string]any{"ref": ref, "user_id": "usr_buyer", "amount_cents": 10000, "transaction_id": "t_rev"}), 201, "")
	expect(t, call(t, "POST", "/api/track/refund", key, map[string]any{"ref": ref, "amount_cents": 5000, "transaction_id": "t_rev"}), 200, "")
	status, body, _ := creator.do("GET", "/dashboard", nil)
	if status != 200 || !strings.Contains(body, "Taken back or flagged") || !strings.Contains(body, `<td data-label="Why">refund</td>`) ||
		!strings.Contains(body, "flagged: self-referral") || !strings.Contains(body, "$14.25") {
		t.Fatalf("the creator's reversals: %d\n%s", status, body)
	}
	// The same program's owner page is not the creator's.
	if status, _, _ := creator.do("GET", "/apps/"+appID, nil); status != 404 {
		t.Fatalf("the creator opened the owner's page: %d", status)
	}
}

// A form that creates something, posted twice with its token (a double
// click, a reload that resends it), creates one thing: every post is sent
// to the first one's page. A refused post lets the token go, so the
// corrected form can be sent; a post without a token is refused.
func TestDashboardFormPostedTwiceCreatesOnce(t *testing.T) {
	owner := newPerson(t)
	owner.signUp()
	form := url.Values{"name": {"Twice"}, "commission_percent": {"30"}, "hold_amount": {"14"}, "hold_unit": {"days"}, "cookie_days": {"60"}, "min_payout": {"50"}, "form_token": {ids.FormToken()}}
	var wg sync.WaitGroup
	locations := make([]string, 5)
	for i := range locations {
		wg.Go(func() {
			status, _, h := owner.do("POST", "/apps", form)
			if status != 303 {
				t.Errorf("post %d: %d", i, status)
			}
			locations[i] = h.Get("Location")
		})
	}
	wg.Wait()
	if n := ownedApps(t, owner.email); n != 1 {
		t.Fatalf("the form posted 5 times at once made %d apps", n)
	}
	for _, l := range locations[1:] {
		if l != locations[0] || !strings.Contains(l, "/setup?notice=app&key=rv_") {
			t.Fatalf("the posts were sent to %q", locations)
		}
	}
	// The page shows the key once: a reload shows its prefix only.
	_, first, _ := owner.do("GET", locations[0], nil)
	_, again, _ := owner.do("GET", locations[0], nil)
	if keyIn.FindStringSubmatch(first) == nil || keyIn.FindStringSubmatch(again) != nil {
		t.Fatalf("the new key is shown on the first view of the page, and only there: %v %v", keyIn.FindStringSubmatch(first), keyIn.FindStringSubmatch(again))
	}
	// Sent again later, the same form still leads there and makes nothing.
	if status, _, h := owner.do("POST", "/apps", form); status != 303 || h.Get("Location") != locations[0] || ownedApps(t, owner.email) != 1 {
		t.Fatalf("the form sent again: %d %s, %d apps", status, h.Get("Location"), ownedApps(t, owner.email))
	}

	// Refused (a bad percent), the token is let go: the corrected form,
	// with the same token, creates the app.
	bad := url.Values{"name": {"Second"}, "commission_percent": {"lots"}, "hold_amount": {"14"}, "hold_unit": {"days"}, "cookie_days": {"60"}, "min_payout": {"50"}, "form_token": {ids.FormToken()}}
	if status, body, _ := owner.do("POST", "/apps", bad); status != 422 || !strings.Contains(body, "is not a percent") {
		t.Fatalf("a bad percent: %d", status)
	}
	bad.Set("commission_percent", "20")
	if status, _, _ := owner.do("POST", "/apps", bad); status != 303 || ownedApps(t, owner.email) != 2 {
		t.Fatalf("the corrected form: %d, %d apps", status, ownedApps(t, owner.email))
	}
	// A post without a token (an out-of-date page) is refused with what to do.
	status, body, _ := owner.do("POST", "/apps", url.Values{"name": {"Old"}, "commission_percent": {"30"}, "hold_amount": {"14"}, "hold_unit": {"days"}, "cookie_days": {"60"}, "min_payout": {"50"}, "form_token": {""}})
	if status != 422 || !strings.Contains(body, "reload the page") || ownedApps(t, owner.email) != 2 {
		t.Fatalf("a form without its token: %d, %d apps", status, ownedApps(t, owner.email))
	}

	// The same for a new key: two posts, one key, shown once.
	appID := appIDIn.FindStringSubmatch(locations[0])[1]
	keyForm := url.Values{"form_token": {ids.FormToken()}}
	for range 2 {
		if status, _, h := owner.do("POST", "/apps/"+appID+"/keys", keyForm); status != 303 || !strings.Contains(h.Get("Location"), "/apps/"+appID+"/setup") {
			t.Fatalf("a new key: %d %s", status, h.Get("Location"))
		}
	}
	var keys int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*) FROM api_keys WHERE app_id = $1", appID).Scan(&keys); err != nil || keys != 2 {
		t.Fatalf("the app has %d keys after one new key posted twice (%v)", keys, err)
	}
}

// A common or breached password is refused at signup and at a change,
// with the reason, and nothing is created.
func TestWeakPasswordsAreRefused(t *testing.T) {
	p := newPerson(t)
	// Two tries: the package's signups share the per-address limit.
	for _, pw := range []string{"password", strings.Split(p.email, "@")[0]} {
		status, body, _ := p.do("POST", "/signup", url.Values{"email": {p.email}, "password": {pw}})
		if status != 422 || !strings.Contains(body, "choose another") {
			t.Errorf("signup with %q: %d", pw, status)
		}
	}
	var n int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE email = $1", p.email).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused signup made %d accounts (%v)", n, err)
	}
	p.signUp()
	status, body, _ := p.do("POST", "/account/password", url.Values{"current_password": {"correct horse"}, "password": {"sunshine"}})
	if status != 422 || !strings.Contains(body, "most common") {
		t.Fatalf("a change to a common password: %d", status)
	}
}
