package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// receiver is an app's webhook endpoint: it verifies every delivery's
// signature with the app's secret (the Standard Webhooks reference
// library), answers 500 to the first failFirst tries of each webhook-id,
// then 200, and keeps what it accepted.
type receiver struct {
	*httptest.Server
	failFirst int

	mu       sync.Mutex
	secret   string
	tries    map[string]int // per webhook-id
	accepted map[string][]event
	badSigs  int
}

type event struct {
	ID, Type string
	Data     map[string]any
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst, tries: map[string]int{}, accepted: map[string][]event{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err == nil {
			err = wh.Verify(body, req.Header)
		}
		if err != nil {
			r.badSigs++
			http.Error(w, "bad signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
		id := req.Header.Get("webhook-id")
		r.tries[id]++
		if r.tries[id] <= r.failFirst {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		var b struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.accepted[id] = append(r.accepted[id], event{ID: id, Type: b.Type, Data: b.Data})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// register makes r an endpoint of the app, with the secret it is given.
func (r *receiver) register(t *testing.T, key string, events ...string) string {
	t.Helper()
	body := map[string]any{"url": r.URL + "/hooks"}
	if len(events) > 0 {
		body["events"] = events
	}
	a := call(t, "POST", "/api/webhooks", key, body)
	if a.status != 201 || !strings.HasPrefix(a.str("secret"), "whsec_") || !strings.HasPrefix(a.str("webhook_id"), "we_") {
		t.Fatalf("register webhook: %d %s", a.status, a.raw)
	}
	r.mu.Lock()
	r.secret = a.str("secret")
	r.mu.Unlock()
	return a.str("webhook_id")
}

// of is what the receiver accepted of a type, about a conversion or payout.
func (r *receiver) of(typ, about string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, evs := range r.accepted {
		for _, e := range evs {
			if e.Type == typ && (e.Data["conversion_id"] == about || e.Data["id"] == about || nested(e.Data, "conversion") == about) {
				out = append(out, e)
			}
		}
	}
	return out
}

func nested(m map[string]any, key string) any {
	c, _ := m[key].(map[string]any)
	return c["conversion_id"]
}

// An app's endpoint receives each of its events once per webhook-id after
// answering 500 twice, every delivery signed; another app's events never
// reach it; every attempt is logged for the owner.
func TestWebhooksDeliverSignedEventsAtLeastOnce(t *testing.T) {
	ctx := context.Background()
	p := newPayoutProgram(t, "stripe", 0)
	other := newPayoutProgram(t, "stripe", 0)
	hooks, otherHooks := newReceiver(t, 2), newReceiver(t, 0)
	hooks.register(t, p.key)
	otherHooks.register(t, other.key, "conversion.created")

	// A sale (released at once: no hold), a refund after release (a
	// clawback), and another sale; then a run pays the creator.
	sale := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.creators[0].RefCode, "user_id": "hook-u1", "amount_cents": 10000, "transaction_id": "hook-t1"})
	if sale.status != 201 {
		t.Fatalf("conversion: %d %s", sale.status, sale.raw)
	}
	convID := sale.str("conversion_id")
	testenv.Eventually(t, 20*time.Second, "released", func() bool { return p.balance(t, 0).AvailableCents == 2850 })
	otherSale := call(t, "POST", "/api/track/conversion", other.key, map[string]any{"ref": other.creators[0].RefCode, "user_id": "hook-o1", "amount_cents": 5000})
	if otherSale.status != 201 {
		t.Fatalf("other conversion: %d %s", otherSale.status, otherSale.raw)
	}
	refund := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.creators[0].RefCode, "transaction_id": "hook-t1", "amount_cents": 2000, "refund_id": "hook-r1"})
	if refund.status != 201 && refund.status != 200 {
		t.Fatalf("refund: %d %s", refund.status, refund.raw)
	}
	run := p.awaiting(t)
	if run := p.confirm(t, run.ID); run.Status != "completed" {
		t.Fatalf("run: %+v", run)
	}
	payoutID := run.Payouts[0].ID

	for _, w := range []struct{ typ, about string }{
		{"conversion.created", convID}, {"conversion.available", convID}, {"conversion.refunded", convID}, {"payout.paid", payoutID},
	} {
		testenv.Eventually(t, 30*time.Second, w.typ+" delivered", func() bool { return len(hooks.of(w.typ, w.about)) > 0 })
	}
	time.Sleep(500 * time.Millisecond) // time for a repeat to arrive, if any would
	hooks.mu.Lock()
	for id, evs := range hooks.accepted {
		if len(evs) != 1 {
			t.Errorf("webhook-id %s accepted %d times", id, len(evs))
		}
		if hooks.tries[id] != 3 {
			t.Errorf("webhook-id %s tried %d times, want 3 (two 500s, then 204)", id, hooks.tries[id])
		}
	}
	if hooks.badSigs != 0 || otherHooks.badSigs != 0 {
		t.Errorf("deliveries with bad signatures: %d, %d", hooks.badSigs, otherHooks.badSigs)
	}
	hooks.mu.Unlock()
	if e := hooks.of("conversion.refunded", convID)[0]; e.Data["clawback"] != true || e.Data["reversed"].(map[string]any)["net_commission_cents"] != float64(570) {
		t.Errorf("the refund's event: %+v", e.Data)
	}
	if e := hooks.of("payout.paid", payoutID)[0]; e.Data["amount_cents"] != float64(2280) || e.Data["status"] != "paid" {
		t.Errorf("the payout's event: %+v", e.Data)
	}
	// The other app's conversion went to its endpoint only, which takes
	// conversion.created only.
	if got := hooks.of("conversion.created", otherSale.str("conversion_id")); len(got) != 0 {
		t.Errorf("another app's event reached this app: %+v", got)
	}
	testenv.Eventually(t, 10*time.Second, "the other app hears of its conversion", func() bool {
		return len(otherHooks.of("conversion.created", otherSale.str("conversion_id"))) == 1
	})
	otherHooks.mu.Lock()
	for _, evs := range otherHooks.accepted {
		if evs[0].Type != "conversion.created" {
			t.Errorf("the other endpoint got %s, which it did not subscribe to", evs[0].Type)
		}
	}
	otherHooks.mu.Unlock()

	// Every attempt is logged: three per delivery, the last a 204.
	ds, err := svc.WebhookDeliveries(ctx, p.appID, 50)
	if err != nil || len(ds) < 4 {
		t.Fatalf("deliveries: %d %v", len(ds), err)
	}
	for _, d := range ds {
		if d.Status != "delivered" || d.Attempts != 3 || len(d.Log) != 3 || d.Log[0].StatusCode != 500 || d.Log[2].StatusCode != 204 {
			t.Errorf("delivery %s of %s: %s after %d attempts %+v", d.ID, d.Type, d.Status, d.Attempts, d.Log)
		}
	}

	// A resend delivers the event again, under the same webhook-id.
	if err := svc.ResendWebhook(ctx, p.appID, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "resent", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return len(hooks.accepted[ds[0].EventID]) == 2
	})
	booksBalance(t)
}

// An endpoint is refused unless it is a public https URL (outside dev);
// events and ownership are checked; a rotated secret signs beside the old
// one for a day.
func TestWebhookEndpointsAreChecked(t *testing.T) {
	p := newProgram(t)
	// noStripe's service has the production default: no private addresses.
	for _, url := range []string{"https://127.0.0.1/hooks", "https://localhost:8443/hooks", "https://10.1.2.3/x",
		"https://[::1]/x", "https://169.254.169.254/latest/meta-data", "http://example.com/hooks", "ftp://example.com", "not a url"} {
		a := callOn(t, noStripe.URL, "POST", "/api/webhooks", p.key, map[string]any{"url": url})
		if a.status != 422 || a.errCode() != "invalid_url" {
			t.Errorf("%s: %d %s", url, a.status, a.raw)
		}
	}
	if a := call(t, "POST", "/api/webhooks", p.key, map[string]any{"url": "https://example.com/h", "events": []string{"conversion.exploded"}}); a.status != 422 || a.errCode() != "invalid_events" {
		t.Errorf("unknown event: %d %s", a.status, a.raw)
	}
	if a := call(t, "POST", "/api/webhooks", p.key, `{"url": 7}`); a.status != 400 || a.errCode() != "invalid_json" {
		t.Errorf("bad body: %d %s", a.status, a.raw)
	}
	if a := call(t, "POST", "/api/webhooks", "", map[string]any{"url": "https://example.com/h"}); a.status != 401 {
		t.Errorf("without a key: %d %s", a.status, a.raw)
	}
	// Nothing refused was stored.
	if eps, err := svc.WebhookEndpoints(context.Background(), p.appID, false); err != nil || len(eps) != 0 {
		t.Fatalf("endpoints after refusals: %v %v", eps, err)
	}

	r := newReceiver(t, 0)
	id := r.register(t, p.key, "conversion.created")
	other := newProgram(t)
	if a := call(t, "DELETE", "/api/webhooks/"+id, other.key, nil); a.status != 404 {
		t.Errorf("another app deletes the endpoint: %d %s", a.status, a.raw)
	}
	rot := call(t, "POST", "/api/webhooks/"+id+"/rotate", p.key, nil)
	if rot.status != 200 || rot.str("secret") == r.secret {
		t.Fatalf("rotate: %d %s", rot.status, rot.raw)
	}
	// The receiver still has the old secret: the delivery carries both
	// signatures, so it verifies.
	sale := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "rot-u1", "amount_cents": 1000})
	testenv.Eventually(t, 20*time.Second, "delivered under the old secret", func() bool {
		return len(r.of("conversion.created", sale.str("conversion_id"))) == 1
	})
	list := call(t, "GET", "/api/webhooks", p.key, nil)
	if list.status != 200 || strings.Contains(list.raw, "whsec_") || !strings.Contains(list.raw, id) {
		t.Errorf("list (no secrets): %d %s", list.status, list.raw)
	}
	if a := call(t, "DELETE", "/api/webhooks/"+id, p.key, nil); a.status != 200 {
		t.Errorf("delete: %d %s", a.status, a.raw)
	}
	n, _ := db.New(database.Pool).ListWebhookEndpoints(context.Background(), p.appID)
	if len(n) != 0 || slices.ContainsFunc(n, func(e db.WebhookEndpoint) bool { return e.ID == id }) {
		t.Errorf("endpoints after delete: %v", n)
	}
}

// An endpoint that never answers holds up nothing of the money: the
// conversion is answered, released and refunded while its deliveries are
// still waiting on the endpoint.
func TestDeadEndpointDoesNotDelayTheMoney(t *testing.T) {
	ctx := context.Background()
	p := newPayoutProgram(t, "stripe", 0)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	a := call(t, "POST", "/api/webhooks", p.key, map[string]any{"url": hung.URL})
	if a.status != 201 {
		t.Fatalf("register: %d %s", a.status, a.raw)
	}
	sale := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.creators[0].RefCode, "user_id": "dead-u1", "amount_cents": 10000, "transaction_id": "dead-t1"})
	if sale.status != 201 {
		t.Fatalf("conversion: %d %s", sale.status, sale.raw)
	}
	testenv.Eventually(t, 20*time.Second, "released", func() bool { return p.balance(t, 0).AvailableCents == 2850 })
	if r := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.creators[0].RefCode, "transaction_id": "dead-t1", "amount_cents": 10000}); r.status != 200 {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	ds, err := svc.WebhookDeliveries(ctx, p.appID, 10)
	if err != nil || len(ds) != 3 {
		t.Fatalf("deliveries: %d %v", len(ds), err)
	}
	for _, d := range ds {
		if d.Status != "pending" || d.DeliveredAt != nil {
			t.Errorf("delivery %s of %s to a dead endpoint: %s", d.ID, d.Type, d.Status)
		}
	}
	booksBalance(t)
}
