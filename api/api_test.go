package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/stripeconnect"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/internal/tracking"
	"github.com/agentlinks/agentlinks/workflows"
)

// The package shares one database, one Temporal dev server and one worker;
// every test makes its own app, so tests do not see each other's data.
var (
	database  *testenv.Database
	srv       *httptest.Server
	noStripe  *httptest.Server
	stripeSvc *stripeconnect.Service
	// trackingSvc and quietLog build more API servers in tests.
	trackingSvc *tracking.Service
	quietLog    = slog.New(slog.NewTextHandler(io.Discard, nil))
	// temporalClient and taskQueue are the stack's, whose worker tells
	// trackingSvc what it records (eager start).
	temporalClient client.Client
	taskQueue      string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		// A fuzzing worker process: it uses the stack its coordinator
		// started (and passed down in the environment) instead of its own.
		pool, err := pgxpool.New(ctx, os.Getenv("AGENTLINKS_TEST_DB"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pool.Close()
		database = &testenv.Database{URL: os.Getenv("AGENTLINKS_TEST_DB"), Pool: pool}
		srv = &httptest.Server{URL: os.Getenv("AGENTLINKS_TEST_API")}
		return m.Run()
	}
	stack, err := testenv.NewStackWithoutWorker(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stack.Close()
	database = stack.DB
	mock, err := testenv.StartStripeMock(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mock.Stop()
	oauth := httptest.NewServer(stripeOAuth{})
	defer oauth.Close()

	svc := tracking.New(database.Pool, workflows.Client{Temporal: stack.Temporal, TaskQueue: stack.TaskQueue}, time.Hour)
	svc.Recorded = stack.Recorded
	trackingSvc, temporalClient, taskQueue = svc, stack.Temporal, stack.TaskQueue
	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	go svc.ListenForChanges(listenCtx, database.Pool, quietLog)
	stripeSvc = stripeconnect.New(stripeconnect.Config{
		SecretKey: stripeSecretKey, ClientID: "ca_test", WebhookSecret: webhookSecret,
		APIBase: mock.URL, ConnectBase: oauth.URL, ParkAfter: 3 * time.Second,
	}, database.Pool, stack.Temporal, stack.TaskQueue)
	if err := stack.StartWorker(stripeconnect.NewActivities(stripeSvc, svc)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv = httptest.NewServer(api.New(api.Deps{Tracking: svc, Stripe: stripeSvc, Logger: quiet}))
	defer srv.Close()
	// The same API with Stripe not configured.
	noStripe = httptest.NewServer(api.New(api.Deps{Tracking: svc, Logger: quiet}))
	defer noStripe.Close()
	os.Setenv("AGENTLINKS_TEST_DB", database.URL)
	os.Setenv("AGENTLINKS_TEST_API", srv.URL)
	return m.Run()
}

// program is one app with one creator.
type program struct {
	appID, key, ref, creatorEmail string
}

func newProgram(t *testing.T, opts ...func(*programs.NewApp)) program {
	t.Helper()
	in := programs.NewApp{Name: "Acme", CommissionBPS: 3000, Hold: programs.DefaultHold}
	for _, o := range opts {
		o(&in)
	}
	ctx := context.Background()
	app, err := programs.CreateApp(ctx, database.Pool, in)
	if err != nil {
		t.Fatal(err)
	}
	email := "creator-" + app.App.ID + "@example.com"
	en, err := programs.Enroll(ctx, database.Pool, app.App.ID, email)
	if err != nil {
		t.Fatal(err)
	}
	return program{appID: app.App.ID, key: app.SecretKey, ref: en.RefCode, creatorEmail: email}
}

func keyless(a *programs.NewApp) { a.KeylessConversions = true }

// answer is a decoded response.
type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (a answer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (a answer) num(path ...string) int64 {
	var v any = a.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	f, ok := v.(float64)
	if !ok {
		panic(fmt.Sprintf("%v is not a number in %s", path, a.raw))
	}
	return int64(f)
}

func (a answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

func call(t *testing.T, method, path, key string, body any, headers ...string) answer {
	t.Helper()
	return callOn(t, srv.URL, method, path, key, body, headers...)
}

// callOn calls the API served at base.
func callOn(t *testing.T, base, method, path, key string, body any, headers ...string) answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s answered %d with non-JSON %q", method, path, res.StatusCode, raw)
		}
	}
	return a
}

func expect(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.errCode() != code {
		t.Fatalf("want %d %q, got %d %s", status, code, a.status, a.raw)
	}
	if code != "" {
		e := a.body["error"].(map[string]any)
		if msg, _ := e["message"].(string); msg == "" {
			t.Fatalf("error %q has no message", code)
		}
	}
}

func (p program) balance(t *testing.T) (pending, available int64) {
	t.Helper()
	a := call(t, "GET", "/api/creators/"+p.ref+"/balance", p.key, nil)
	expect(t, a, 200, "")
	return a.num("pending_cents"), a.num("available_cents")
}

func (p program) stats(t *testing.T) answer {
	t.Helper()
	a := call(t, "GET", "/api/creators/"+p.ref+"/stats", p.key, nil)
	expect(t, a, 200, "")
	return a
}

// ledgerCount counts the ledger transfers of an app.
func ledgerCount(t *testing.T, appID string) int {
	t.Helper()
	var n int
	if err := database.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM ledger_transfers WHERE app_id = $1", appID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkLedger(t *testing.T) {
	t.Helper()
	bad, err := ledger.Check(context.Background(), db.New(database.Pool))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("ledger invariants broken:\n%s", strings.Join(bad, "\n"))
	}
}

func TestClickCountsEveryClickAndUniqueVisitorsOnce(t *testing.T) {
	p := newProgram(t)
	for range 3 {
		expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref, "visitor_id": "v1"}), 202, "")
	}
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref, "visitor_id": "v2", "app_id": p.appID}), 202, "")
	// A crawler's hit is kept raw but counted nowhere.
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref}, "User-Agent", "Googlebot/2.1 (+http://www.google.com/bot.html)"), 202, "")
	// The ref is case-insensitive, as people retype links.
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": strings.ToUpper(p.ref), "visitor_id": "v1"}), 202, "")

	st := p.stats(t)
	if st.num("clicks") != 5 || st.num("unique_clicks") != 2 {
		t.Fatalf("want 5 clicks, 2 unique; got %s", st.raw)
	}
	var raw, bots int
	if err := database.Pool.QueryRow(context.Background(),
		"SELECT count(*), count(*) FILTER (WHERE is_bot) FROM clicks WHERE ref_code = $1", p.ref).Scan(&raw, &bots); err != nil {
		t.Fatal(err)
	}
	if raw != 6 || bots != 1 {
		t.Fatalf("want 6 raw clicks of which 1 bot, got %d and %d", raw, bots)
	}
}

func TestClickErrors(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown ref", map[string]any{"ref": "zzzzzz"}, 404, "unknown_ref"},
		{"missing ref", map[string]any{"url": "https://x"}, 422, "missing_ref"},
		{"ref of another app", map[string]any{"ref": p.ref, "app_id": other.appID}, 422, "ref_app_mismatch"},
		{"not JSON", "ref=abc", 400, "invalid_json"},
		{"empty body", "", 400, "invalid_json"},
		{"wrong type", `{"ref": 12}`, 400, "invalid_json"},
		{"array", `[{"ref":"x"}]`, 400, "invalid_json"},
		{"oversized", `{"ref":"` + p.ref + `","url":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, call(t, "POST", "/api/track/click", "", c.body), c.status, c.code)
		})
	}
	// A body without Content-Length is cut off at the limit too.
	req, _ := http.NewRequest("POST", srv.URL+"/api/track/click", io.MultiReader(
		strings.NewReader(`{"ref":"`+p.ref+`","url":"`), strings.NewReader(strings.Repeat("a", 2*api.MaxBodyBytes)), strings.NewReader(`"}`)))
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked oversized body: want 413, got %d", res.StatusCode)
	}
	if st := p.stats(t); st.num("clicks") != 0 {
		t.Fatalf("refused clicks were counted: %s", st.raw)
	}
	expect(t, call(t, "GET", "/api/nothing", "", nil), 404, "not_found")
}

func TestSignupIsFirstTouch(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	first := call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_abc123", "email": "user@example.com"})
	expect(t, first, 201, "")
	if first.str("referral_id") == "" || first.str("ref") != p.ref || first.body["self_referral"] != false {
		t.Fatalf("bad referral: %s", first.raw)
	}
	again := call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_abc123"})
	expect(t, again, 200, "")
	if again.str("referral_id") != first.str("referral_id") {
		t.Fatalf("second signup made a new referral: %s vs %s", again.raw, first.raw)
	}
	// Another program's ref does not steal the user; it is another app's user.
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": other.ref, "user_id": "usr_abc123"}), 201, "")

	self := call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_self", "email": strings.ToUpper(p.creatorEmail)})
	expect(t, self, 201, "")
	if self.body["self_referral"] != true {
		t.Fatalf("creator's own signup not flagged: %s", self.raw)
	}
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref}), 422, "missing_user_id")
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "u", "email": "nope"}), 422, "invalid_email")
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": "nope99", "user_id": "u"}), 404, "unknown_ref")
	if st := p.stats(t); st.num("signups") != 2 {
		t.Fatalf("want 2 signups, got %s", st.raw)
	}
}

func TestConversionGuideExample(t *testing.T) {
	p := newProgram(t)
	before := time.Now()
	a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_abc123", "amount_cents": 10000})
	expect(t, a, 201, "")
	if a.num("commission", "amount_cents") != 10000 || a.num("commission", "commission_cents") != 3000 ||
		a.num("commission", "platform_fee_cents") != 150 || a.num("commission", "net_commission_cents") != 2850 {
		t.Fatalf("guide example: want 3000/150/2850, got %s", a.raw)
	}
	if a.str("status") != "pending" || !strings.HasPrefix(a.str("conversion_id"), "cv_") {
		t.Fatalf("want a pending cv_ conversion, got %s", a.raw)
	}
	at, err := time.Parse(time.RFC3339Nano, a.str("available_at"))
	if err != nil {
		t.Fatal(err)
	}
	if hold := at.Sub(before); hold < 14*24*time.Hour-time.Minute || hold > 14*24*time.Hour+time.Minute {
		t.Fatalf("available_at %s is not 14 days out", at)
	}
	if pending, available := p.balance(t); pending != 2850 || available != 0 {
		t.Fatalf("want 2850 pending, 0 available; got %d, %d", pending, available)
	}
	got := call(t, "GET", "/api/conversions/"+a.str("conversion_id"), p.key, nil)
	expect(t, got, 200, "")
	if got.str("status") != "pending" || got.num("commission", "net_commission_cents") != 2850 || got.num("refunded", "amount_cents") != 0 {
		t.Fatalf("GET conversion: %s", got.raw)
	}
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "u", "amount_cents": 100, "currency": "eur"}), 422, "currency_mismatch")
	checkLedger(t)
}

func TestConversionNeedsTheSecretKey(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	body := map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 2500}
	a := call(t, "POST", "/api/track/conversion", "", body)
	expect(t, a, 401, "missing_api_key")
	if msg := a.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "Authorization: Bearer sk_") {
		t.Fatalf("the 401 should say how to authenticate: %q", msg)
	}
	expect(t, call(t, "POST", "/api/track/conversion", "sk_wrong", body), 401, "invalid_api_key")
	expect(t, call(t, "POST", "/api/track/conversion", other.key, body), 401, "invalid_api_key")
	expect(t, call(t, "POST", "/api/track/refund", "", map[string]any{"ref": p.ref, "amount_cents": 1}), 401, "missing_api_key")
	if n := ledgerCount(t, p.appID); n != 0 {
		t.Fatalf("refused requests moved money: %d transfers", n)
	}

	// Reads need the key of the ref's own app.
	expect(t, call(t, "GET", "/api/creators/"+p.ref+"/balance", "", nil), 401, "missing_api_key")
	expect(t, call(t, "GET", "/api/creators/"+p.ref+"/stats", other.key, nil), 404, "unknown_ref")
	expect(t, call(t, "GET", "/api/conversions/cv_nope", p.key, nil), 404, "conversion_not_found")

	// Keyless mode is the guide's public mode, switched on by the owner.
	open := newProgram(t, keyless)
	expect(t, call(t, "POST", "/api/track/conversion", "", map[string]any{"ref": open.ref, "user_id": "usr_1", "amount_cents": 2500}), 201, "")
	expect(t, call(t, "POST", "/api/track/conversion", "sk_wrong", map[string]any{"ref": open.ref, "user_id": "usr_1", "amount_cents": 2500}), 401, "invalid_api_key")
	checkLedger(t)
}

func TestConversionRefusesBadAmounts(t *testing.T) {
	p := newProgram(t)
	for _, c := range []struct {
		amount string
		status int
		code   string
	}{
		{`0`, 422, "invalid_amount"},
		{`-5`, 422, "invalid_amount"},
		{`25.5`, 422, "invalid_amount"},
		{`1e3`, 422, "invalid_amount"},
		{`1000000000001`, 422, "invalid_amount"},
		{`99999999999999999999`, 422, "invalid_amount"},
		{`"abc"`, 400, "invalid_json"},
		{`true`, 400, "invalid_json"},
		{`null`, 422, "invalid_amount"},
	} {
		t.Run(c.amount, func(t *testing.T) {
			body := `{"ref":"` + p.ref + `","user_id":"usr_1","amount_cents":` + c.amount + `}`
			expect(t, call(t, "POST", "/api/track/conversion", p.key, body), c.status, c.code)
		})
	}
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1"}), 422, "invalid_amount")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "amount_cents": 5}), 422, "missing_user_id")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": "zzzzzz", "user_id": "u", "amount_cents": 5}), 404, "unknown_ref")
	if st := p.stats(t); st.num("conversions") != 0 || ledgerCount(t, p.appID) != 0 {
		t.Fatalf("refused conversions were recorded: %s", st.raw)
	}
	// The largest allowed amount works and its math is exact.
	max := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 1_000_000_000_000})
	expect(t, max, 201, "")
	if max.num("commission", "commission_cents") != 300_000_000_000 || max.num("commission", "platform_fee_cents") != 15_000_000_000 {
		t.Fatalf("10^12 cents: %s", max.raw)
	}
	checkLedger(t)
}

func TestDuplicateTransactionCreditsOnce(t *testing.T) {
	p := newProgram(t)
	body := map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 2500, "transaction_id": "ch_1"}
	first := call(t, "POST", "/api/track/conversion", p.key, body)
	expect(t, first, 201, "")
	again := call(t, "POST", "/api/track/conversion", p.key, body)
	expect(t, again, 200, "")
	if again.str("conversion_id") != first.str("conversion_id") {
		t.Fatalf("repeat answered another conversion: %s vs %s", again.raw, first.raw)
	}
	body["amount_cents"] = 2600
	expect(t, call(t, "POST", "/api/track/conversion", p.key, body), 409, "transaction_reused")

	// The same transaction sent by many clients at once: one 201, one credit.
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	ids := make(chan string, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_2", "amount_cents": 999, "transaction_id": "ch_race"})
			statuses <- a.status
			ids <- a.str("conversion_id")
		}()
	}
	wg.Wait()
	close(statuses)
	close(ids)
	created := 0
	for s := range statuses {
		switch s {
		case 201:
			created++
		case 200:
		default:
			t.Fatalf("concurrent repeat answered %d", s)
		}
	}
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if created != 1 || len(seen) != 1 {
		t.Fatalf("want one 201 and one conversion id, got %d created and ids %v", created, seen)
	}

	// Idempotency-Key works the same way for callers without a transaction id.
	k1 := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_3", "amount_cents": 100}, "Idempotency-Key", "key-1")
	k2 := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_3", "amount_cents": 100}, "Idempotency-Key", "key-1")
	expect(t, k1, 201, "")
	expect(t, k2, 200, "")
	if st := p.stats(t); st.num("conversions") != 3 {
		t.Fatalf("want 3 conversions, got %s", st.raw)
	}
	// 2500 + 999 + 100 at 30%, net of 5%: 712 + 285 + 28.
	if pending, _ := p.balance(t); pending != 712+285+28 {
		t.Fatalf("want %d pending, got %d", 712+285+28, pending)
	}
	checkLedger(t)
}

func TestConversionGoesToTheReferralsCreator(t *testing.T) {
	p := newProgram(t)
	ctx := context.Background()
	second, err := programs.Enroll(ctx, database.Pool, p.appID, "second-"+p.appID+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_1"}), 201, "")
	a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": second.RefCode, "user_id": "usr_1", "amount_cents": 1000})
	expect(t, a, 201, "")
	if a.str("ref") != p.ref {
		t.Fatalf("attribution is locked at signup: want ref %s, got %s", p.ref, a.raw)
	}
	if pending, _ := p.balance(t); pending != 285 {
		t.Fatalf("first creator: want 285 pending, got %d", pending)
	}
}

func TestRefundReversesProportionally(t *testing.T) {
	p := newProgram(t)
	conv := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 10000, "transaction_id": "in_1"})
	expect(t, conv, 201, "")

	half := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_1", "refund_id": "re_1"})
	expect(t, half, 200, "")
	if half.str("conversion_id") != conv.str("conversion_id") || half.num("reversed", "amount_cents") != 5000 ||
		half.num("reversed", "commission_cents") != 1500 || half.num("reversed", "platform_fee_cents") != 75 ||
		half.num("reversed", "net_commission_cents") != 1425 {
		t.Fatalf("half refund: want 5000/1500/75/1425, got %s", half.raw)
	}
	transfers := ledgerCount(t, p.appID)
	// A resend of the same refund is answered, not applied again.
	again := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_1", "refund_id": "re_1"})
	expect(t, again, 200, "")
	if again.str("refund_id") != half.str("refund_id") || ledgerCount(t, p.appID) != transfers {
		t.Fatalf("resent refund moved money again: %s", again.raw)
	}
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 4000, "refund_id": "re_1"}), 409, "refund_reused")

	// More than is left: refused, nothing moved.
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5001, "transaction_id": "in_1"}), 422, "over_refund")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5001}), 422, "over_refund")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_nope"}), 404, "conversion_not_found")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 0}), 422, "invalid_amount")
	if ledgerCount(t, p.appID) != transfers {
		t.Fatal("refused refunds moved money")
	}
	if pending, _ := p.balance(t); pending != 1425 {
		t.Fatalf("want 1425 pending after half refund, got %d", pending)
	}

	// The rest, found by (ref, user_id): the whole commission is reversed,
	// to the cent, and the conversion is refunded.
	rest := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "user_id": "usr_1"})
	expect(t, rest, 200, "")
	if rest.str("conversion_status") != "refunded" || rest.num("reversed", "net_commission_cents") != 1425 {
		t.Fatalf("second half: %s", rest.raw)
	}
	got := call(t, "GET", "/api/conversions/"+conv.str("conversion_id"), p.key, nil)
	if got.str("status") != "refunded" || got.num("refunded", "commission_cents") != 3000 || got.num("refunded", "platform_fee_cents") != 150 {
		t.Fatalf("fully refunded conversion: %s", got.raw)
	}
	if pending, available := p.balance(t); pending != 0 || available != 0 {
		t.Fatalf("want nothing left, got %d pending and %d available", pending, available)
	}
	fresh := newProgram(t)
	expect(t, call(t, "POST", "/api/track/refund", fresh.key, map[string]any{"ref": fresh.ref, "amount_cents": 100}), 404, "conversion_not_found")
	checkLedger(t)
}

func TestTwoRefundsRacingCannotOverRefund(t *testing.T) {
	p := newProgram(t)
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 1000, "transaction_id": "t"}), 201, "")
	var wg sync.WaitGroup
	results := make(chan int, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 400, "transaction_id": "t", "refund_id": fmt.Sprint("r", i)})
			results <- a.status
		}()
	}
	wg.Wait()
	close(results)
	ok, refused := 0, 0
	for s := range results {
		switch s {
		case 200:
			ok++
		case 422:
			refused++
		default:
			t.Fatalf("racing refund answered %d", s)
		}
	}
	if ok != 2 || refused != 3 {
		t.Fatalf("1000 cents take two refunds of 400: want 2 accepted and 3 refused, got %d and %d", ok, refused)
	}
	checkLedger(t)
}

// TestRefundRacingTheRelease sends refunds at the moment each conversion's
// hold ends: whichever wins, the money ends exactly right.
func TestRefundRacingTheRelease(t *testing.T) {
	p := newProgram(t, func(a *programs.NewApp) { a.Hold = time.Second })
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txn := fmt.Sprint("race_", i)
			a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "u", "amount_cents": 10000, "transaction_id": txn})
			if a.status != 201 {
				t.Errorf("conversion: %s", a.raw)
				return
			}
			at, _ := time.Parse(time.RFC3339Nano, a.str("available_at"))
			time.Sleep(time.Until(at) + time.Duration(i-6)*15*time.Millisecond)
			if r := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 4000, "transaction_id": txn}); r.status != 200 {
				t.Errorf("refund: %s", r.raw)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if pending, available := p.balance(t); pending == 0 {
			// 12 × (2850 − 1140): each kept 60% of its net, clawed back or not.
			if available != 12*(2850-1140) {
				t.Fatalf("want %d available, got %d", 12*(2850-1140), available)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("conversions still pending 15s after their hold")
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkLedger(t)
}
