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
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/api"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/metrics"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/worker/workertest"
)

// The package shares one database, one Temporal dev server and one worker;
// every test makes its own app, so tests do not see each other's data.
var (
	database *testenv.Database
	srv      *httptest.Server
	noStripe *httptest.Server
	// stripeAPI is what the Stripe API answers (stripe-mock behind a double).
	stripeAPI *stripeDouble
	// bank answers the charges and transfers of payouts, in front of stripeAPI.
	bank *testenv.StripeBank
	// svc and quietLog build more API servers in tests.
	svc      *service.Service
	quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
	// stack is the package's database, Temporal server and worker; its
	// worker tells svc what it records (eager start).
	stack          *workertest.Stack
	temporalClient client.Client
	registry       *prometheus.Registry
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
	var err error
	stack, err = workertest.NewStackWithoutWorker(ctx)
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

	// stripe-mock answers the Stripe API, behind a double for what it lacks.
	stripeAPI = newStripeDouble(mock.URL)
	bank = testenv.NewStripeBank(stripeAPI)
	double := httptest.NewServer(bank)
	defer double.Close()
	stripeCfg := config.Stripe{
		SecretKey: stripeSecretKey, ClientID: "ca_test", WebhookSecret: webhookSecret, PlatformWebhookSecret: platformWebhookSecret,
		APIBase: double.URL, ConnectBase: oauth.URL, ParkAfter: 3 * time.Second,
	}
	// The API's and the worker's metrics on one registry, which /metrics
	// serves: the tests read the money's metrics off it.
	registry = prometheus.NewRegistry()
	mtr := metrics.New(registry)
	registry.MustRegister(metrics.NewState(db.New(database.Pool), quietLog))
	svc = service.New(database.Pool, stack.Workflows(), time.Hour).WithStripe(stripeCfg, "").WithMetrics(mtr)
	// Receivers run on loopback; retries are quick.
	svc.Webhooks = service.WebhookSettings{AllowPrivate: true, Retry: webhook.Retry{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, For: time.Minute}}
	defer svc.Close()
	temporalClient = stack.Temporal
	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	go svc.ListenForChanges(listenCtx, database.Pool, quietLog)
	acts := stack.Activities()
	acts.Stripe, acts.Payments = stripeapi.New(stripeCfg), svc
	acts.BalanceRetry = 300 * time.Millisecond
	acts.Metrics = mtr
	acts.Webhooks = webhook.Client(5*time.Second, true)
	go svc.DispatchWebhooks(listenCtx, 50*time.Millisecond, quietLog)
	if err := stack.StartWorker(acts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Every request and answer is checked against the OpenAPI contract,
	// except under the fuzzer (whose inputs are its own business).
	k, err := newContract()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	checked := func(h http.Handler) http.Handler { return h }
	if f := flag.Lookup("test.fuzz"); f == nil || f.Value.String() == "" {
		checked = k.wrap
	}
	srv = httptest.NewServer(checked(api.New(api.Deps{Service: svc, Logger: quietLog, Registry: registry})))
	defer srv.Close()
	// The same API with Stripe not configured.
	plain := service.New(database.Pool, stack.Workflows(), time.Hour)
	defer plain.Close()
	noStripe = httptest.NewServer(checked(api.New(api.Deps{Service: plain, Logger: quietLog})))
	defer noStripe.Close()
	os.Setenv("AGENTLINKS_TEST_DB", database.URL)
	os.Setenv("AGENTLINKS_TEST_API", srv.URL)
	code := m.Run()
	if u := k.unexercised(); code == 0 && len(u) > 0 && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintf(os.Stderr, "\nFAIL: the api tests call no operation %v of api/openapi.yaml\n", u)
		return 1
	}
	if len(k.bad) > 0 {
		fmt.Fprintf(os.Stderr, "\nFAIL: %d exchanges broke the OpenAPI contract (api/openapi.yaml):\n", len(k.bad))
		for _, b := range k.bad {
			fmt.Fprintln(os.Stderr, "  -", b)
		}
		return 1
	}
	return code
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
