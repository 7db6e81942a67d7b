//go:build prodlocal

// The production shape, end to end (make test-long, after make build
// temporal-server): the integration guide's flow through separate api and
// worker processes on the full Temporal server.
package prodlocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agentlinks/agentlinks/internal/prodlocal"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

func TestProductionShapeRunsTheGuide(t *testing.T) {
	ctx := context.Background()
	bin, err := filepath.Abs("../../bin")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s, err := prodlocal.Start(ctx, prodlocal.Options{
		BinDir: bin, Name: fmt.Sprintf("agentlinks_prodtest_%d", time.Now().UnixNano()%1e9),
		Dir: t.TempDir(), Env: []string{"WEBHOOK_ALLOW_PRIVATE=true", "WEBHOOK_RETRY_INITIAL=200ms", "LEDGER_CHECK_INTERVAL=1s"}, Output: &out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Cleanup(func() { s.Stop(); s.Drop() })

	// An operator creates the program (hold of seconds) and a creator.
	var app struct {
		AppID     string `json:"app_id"`
		SecretKey string `json:"secret_key"`
	}
	agentlinks(t, s, &app, "apps", "create", "--name", "Prod shape", "--commission-percent", "30", "--hold-period", "4s", "--json")
	var creator struct {
		Ref string `json:"ref"`
	}
	agentlinks(t, s, &creator, "creators", "create", "--app", app.AppID, "--email", "prod@example.com", "--json")

	// The app takes signed webhooks (delivered by the worker process).
	var mu sync.Mutex
	var secret string
	got := map[string]string{} // webhook-id → type
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		var e struct{ Type string }
		_ = json.Unmarshal(body, &e)
		got[r.Header.Get("webhook-id")] = e.Type
	}))
	defer hook.Close()
	reg := post(t, s.APIURL+"/api/webhooks", app.SecretKey, map[string]any{"url": hook.URL}, 201)
	mu.Lock()
	secret = reg["secret"].(string)
	mu.Unlock()

	// The guide: click, signup, two payments, a refund in the hold, the
	// release, a refund after it.
	post(t, s.APIURL+"/api/track/click", "", map[string]any{"ref": creator.Ref}, 202)
	post(t, s.APIURL+"/api/track/signup", "", map[string]any{"ref": creator.Ref, "user_id": "usr_1", "email": "u@example.com"}, 201)
	first := post(t, s.APIURL+"/api/track/conversion", app.SecretKey, map[string]any{"ref": creator.Ref, "user_id": "usr_1", "amount_cents": 10000, "transaction_id": "ch_1"}, 201)
	if c := first["commission"].(map[string]any); c["net_commission_cents"] != 2850.0 {
		t.Fatalf("commission: %v", c)
	}
	post(t, s.APIURL+"/api/track/conversion", app.SecretKey, map[string]any{"ref": creator.Ref, "user_id": "usr_1", "amount_cents": 10000, "transaction_id": "ch_2"}, 201)
	post(t, s.APIURL+"/api/track/refund", app.SecretKey, map[string]any{"ref": creator.Ref, "amount_cents": 5000, "transaction_id": "ch_2"}, 200)
	testenv.Eventually(t, 60*time.Second, "both released", func() bool {
		b := get(t, s.APIURL+"/api/creators/"+creator.Ref+"/balance", app.SecretKey)
		return b["available_cents"] == 4275.0 && b["pending_cents"] == 0.0
	})
	claw := post(t, s.APIURL+"/api/track/refund", app.SecretKey, map[string]any{"ref": creator.Ref, "amount_cents": 10000, "transaction_id": "ch_1"}, 200)
	if claw["clawback"] != true {
		t.Fatalf("refund after release: %v", claw)
	}
	if b := get(t, s.APIURL+"/api/creators/"+creator.Ref+"/balance", app.SecretKey); b["available_cents"] != 1425.0 {
		t.Fatalf("balance after the clawback: %v", b)
	}

	// Webhooks for each: 2 created, 2 available, 2 refunded.
	testenv.Eventually(t, 30*time.Second, "six webhooks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := map[string]int{}
		for _, typ := range got {
			n[typ]++
		}
		return n["conversion.created"] == 2 && n["conversion.available"] == 2 && n["conversion.refunded"] == 2
	})

	// Each process serves its metrics: the worker counts the money and
	// the SDK's tasks, the API its requests.
	wm := testenv.Scrape(t, s.WorkerURL+"/metrics")
	if wm.Value("agentlinks_conversions_recorded_total", "app="+app.AppID) != 2 || wm.Value("agentlinks_clawbacks_total", "app="+app.AppID) != 1 ||
		wm.Sum("temporal_workflow_task_schedule_to_start_latency_seconds") == 0 || wm.Value("agentlinks_state_up") != 1 {
		t.Errorf("worker metrics: conversions %v, clawbacks %v, schedule-to-start samples %v, state_up %v",
			wm.Value("agentlinks_conversions_recorded_total", "app="+app.AppID), wm.Value("agentlinks_clawbacks_total", "app="+app.AppID),
			wm.Sum("temporal_workflow_task_schedule_to_start_latency_seconds"), wm.Value("agentlinks_state_up"))
	}
	if am := testenv.Scrape(t, s.APIURL+"/metrics"); am.Sum("agentlinks_http_requests_total") == 0 || am.Sum("temporal_request_total") == 0 {
		t.Errorf("api metrics: http %v, temporal client %v", am.Sum("agentlinks_http_requests_total"), am.Sum("temporal_request_total"))
	}
	cmd := exec.Command(filepath.Join(bin, "agentlinks"), "verify-ledger")
	cmd.Env = append(os.Environ(), s.Env...)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "ledger ok") {
		t.Fatalf("verify-ledger: %v %s", err, b)
	}
	if who := s.Exited(); who != "" {
		t.Fatalf("%s exited during the flow", who)
	}
}

// agentlinks runs an operator command against the shape and decodes its
// JSON.
func agentlinks(t *testing.T, s *prodlocal.Stack, v any, args ...string) {
	t.Helper()
	bin, _ := filepath.Abs("../../bin/agentlinks")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), s.Env...)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("agentlinks %v: %v %s", args, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("agentlinks %v printed %s", args, b)
	}
}

func post(t *testing.T, url, key string, body any, want int) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return do(t, req, want)
}

func get(t *testing.T, url, key string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return do(t, req, 200)
}

func do(t *testing.T, req *http.Request, want int) map[string]any {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, raw)
	}
	return out
}
