package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/programs"
)

const (
	stripeSecretKey = "sk_test_platform"
	webhookSecret   = "whsec_test_secret"
	// platformWebhookSecret signs the platform account's own events.
	platformWebhookSecret = "whsec_platform_secret"
)

// stripeOAuth answers Stripe's OAuth endpoints as Stripe documents them
// (https://docs.stripe.com/connect/oauth-reference), which stripe-mock lacks.
type stripeOAuth struct{}

func (stripeOAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/oauth/token":
		if r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_secret") != stripeSecretKey ||
			r.PostForm.Get("code") != "ac_good" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"Authorization code does not exist: %s"}`, r.PostForm.Get("code"))
			return
		}
		fmt.Fprint(w, `{"access_token":"sk_test_connected","livemode":false,"refresh_token":"rt_test","token_type":"bearer",`+
			`"stripe_publishable_key":"pk_test_connected","stripe_user_id":"acct_oauth_connected","scope":"read_write"}`)
	case "/oauth/deauthorize":
		fmt.Fprintf(w, `{"stripe_user_id":%q}`, r.PostForm.Get("stripe_user_id"))
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"invalid_request","error_description":"no such endpoint"}`)
	}
}

var eventSeq atomic.Int64

// stripeProgram is a program connected to its own Stripe account.
type stripeProgram struct {
	program
	account string
}

func newStripeProgram(t *testing.T) stripeProgram {
	t.Helper()
	p := newProgram(t)
	account := "acct_" + strings.TrimPrefix(p.appID, "app_")
	if err := programs.ConnectStripe(context.Background(), database.Pool, p.appID, account); err != nil {
		t.Fatal(err)
	}
	return stripeProgram{program: p, account: account}
}

// event builds a Connect event for the account.
func (p stripeProgram) event(id, typ string, object map[string]any) []byte {
	if id == "" {
		id = fmt.Sprintf("evt_%d_%d", time.Now().UnixNano(), eventSeq.Add(1))
	}
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "account": p.account, "api_version": "2023-10-16",
		"created": time.Now().Unix(), "livemode": false, "data": map[string]any{"object": object},
	})
	return b
}

// orphanRefund delivers a full refund of a charge whose invoice AgentLinks
// never saw, for a known customer, and returns the event once settled.
func (p stripeProgram) orphanRefund(t *testing.T, charge, invoice, customer string) db.StripeEvent {
	t.Helper()
	orphan := p.event("", "charge.refunded", map[string]any{
		"id": charge, "object": "charge", "amount": 4000, "amount_refunded": 4000, "invoice": invoice, "customer": customer,
	})
	expect(t, deliver(t, orphan, webhookSecret), 200, "")
	return settled(t, eventID(orphan))
}

func deliver(t *testing.T, payload []byte, secret string) answer {
	t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret})
	return deliverSigned(t, srv.URL, payload, signed.Header)
}

func deliverSigned(t *testing.T, base string, payload []byte, header string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/stripe/webhook", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode}
	_ = json.NewDecoder(res.Body).Decode(&a.body)
	b, _ := json.Marshal(a.body)
	a.raw = string(b)
	return a
}

// settled waits for an event's processing to end, and returns its row.
func settled(t *testing.T, eventID string) db.StripeEvent {
	t.Helper()
	q := db.New(database.Pool)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ev, err := q.GetStripeEvent(context.Background(), eventID)
		if err == nil && ev.Status != "received" {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe event %s not processed within 20s (%v, %+v)", eventID, err, ev)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eventID(payload []byte) string {
	var e struct{ ID string }
	_ = json.Unmarshal(payload, &e)
	return e.ID
}

func (p stripeProgram) conversion(t *testing.T, txn string) (db.Conversion, bool) {
	t.Helper()
	key := "txn:" + txn
	c, err := db.New(database.Pool).GetConversionByDedupeKey(context.Background(), db.GetConversionByDedupeKeyParams{AppID: p.appID, DedupeKey: &key})
	return c, err == nil
}

func (p stripeProgram) countConversions(t *testing.T) int {
	t.Helper()
	var n int
	if err := database.Pool.QueryRow(context.Background(), "SELECT count(*) FROM conversions WHERE app_id = $1", p.appID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func invoice(id, customer string, paid, tax int64, meta map[string]string) map[string]any {
	inv := map[string]any{
		"id": id, "object": "invoice", "customer": customer, "amount_paid": paid, "tax": tax,
		"subscription": "sub_1", "status": "paid",
	}
	if meta != nil {
		inv["subscription_details"] = map[string]any{"metadata": meta}
	}
	return inv
}

func TestStripeWebhookRefusesBadSignatures(t *testing.T) {
	p := newStripeProgram(t)
	payload := p.event("", "invoice.paid", invoice("in_sig", "cus_sig", 1000, 0, map[string]string{"agentlinks_ref": p.ref}))
	expect(t, deliver(t, payload, "whsec_wrong"), 400, "invalid_signature")
	expect(t, deliverSigned(t, srv.URL, payload, ""), 400, "invalid_signature")
	old := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: time.Now().Add(-10 * time.Minute)})
	expect(t, deliverSigned(t, srv.URL, payload, old.Header), 400, "invalid_signature")
	tampered := bytes.Replace(payload, []byte(`"amount_paid":1000`), []byte(`"amount_paid":9000`), 1)
	good := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret})
	expect(t, deliverSigned(t, srv.URL, tampered, good.Header), 400, "invalid_signature")
	if _, err := db.New(database.Pool).GetStripeEvent(context.Background(), eventID(payload)); err == nil {
		t.Fatal("an event with a bad signature was stored")
	}
	if p.countConversions(t) != 0 {
		t.Fatal("an event with a bad signature moved money")
	}
	// Without the keys, the feature says it is off.
	expect(t, deliverSigned(t, noStripe.URL, payload, good.Header), 503, "stripe_not_configured")
}

func TestStripeInvoicePaidCreditsOnceAndRefundsReverse(t *testing.T) {
	p := newStripeProgram(t)
	// The customer carries the ref, as the guide tells apps to do; it is
	// remembered, so the invoice needs no API call.
	cust := p.event("", "customer.created", map[string]any{"id": "cus_ref", "object": "customer", "metadata": map[string]string{"agentlinks_ref": p.ref}})
	expect(t, deliver(t, cust, webhookSecret), 200, "")
	if ev := settled(t, eventID(cust)); ev.Status != "processed" {
		t.Fatalf("customer.created: %+v", ev)
	}

	// One invoice.paid delivered three times: one conversion.
	paid := p.event("", "invoice.paid", invoice("in_1", "cus_ref", 10000, 0, nil))
	for range 3 {
		expect(t, deliver(t, paid, webhookSecret), 200, "")
	}
	if ev := settled(t, eventID(paid)); ev.Status != "processed" {
		t.Fatalf("invoice.paid: %+v", ev)
	}
	c, ok := p.conversion(t, "in_1")
	if !ok || c.Status != "pending" || c.CommissionCents != 3000 || c.PlatformFeeCents != 150 || c.NetCommissionCents != 2850 || c.UserID != "cus_ref" {
		t.Fatalf("invoice.paid: want a pending 3000/150/2850 conversion, got %+v", c)
	}
	// The same invoice in another event (Stripe may send one twice): still one.
	again := p.event("", "invoice.paid", invoice("in_1", "cus_ref", 10000, 0, nil))
	expect(t, deliver(t, again, webhookSecret), 200, "")
	settled(t, eventID(again))
	if n := p.countConversions(t); n != 1 {
		t.Fatalf("want 1 conversion after redeliveries, got %d", n)
	}

	// The subscription's next invoice, with tax: a second conversion on the
	// amount before tax.
	next := p.event("", "invoice.paid", invoice("in_2", "cus_ref", 11000, 1000, nil))
	expect(t, deliver(t, next, webhookSecret), 200, "")
	settled(t, eventID(next))
	c2, ok := p.conversion(t, "in_2")
	if !ok || c2.AmountCents != 10000 || c2.NetCommissionCents != 2850 {
		t.Fatalf("second invoice: %+v", c2)
	}
	if pending, _ := p.balance(t); pending != 5700 {
		t.Fatalf("want 5700 pending, got %d", pending)
	}

	// Half of the first invoice's charge refunded: half reversed, once.
	refund := p.event("", "charge.refunded", map[string]any{
		"id": "ch_1", "object": "charge", "amount": 10000, "amount_refunded": 5000, "invoice": "in_1", "customer": "cus_ref", "refunded": false,
	})
	for range 2 {
		expect(t, deliver(t, refund, webhookSecret), 200, "")
	}
	if ev := settled(t, eventID(refund)); ev.Status != "processed" {
		t.Fatalf("charge.refunded: %+v", ev)
	}
	c, _ = p.conversion(t, "in_1")
	if c.RefundedCents != 5000 {
		t.Fatalf("want 5000 refunded, got %d", c.RefundedCents)
	}
	if pending, _ := p.balance(t); pending != 5700-1425 {
		t.Fatalf("want %d pending after the half refund, got %d", 5700-1425, pending)
	}
	// The full refund arrives later as a new event with the cumulative amount.
	full := p.event("", "charge.refunded", map[string]any{
		"id": "ch_1", "object": "charge", "amount": 10000, "amount_refunded": 10000, "invoice": "in_1", "customer": "cus_ref", "refunded": true,
	})
	expect(t, deliver(t, full, webhookSecret), 200, "")
	settled(t, eventID(full))
	c, _ = p.conversion(t, "in_1")
	if c.Status != "refunded" || c.RefundedCents != 10000 {
		t.Fatalf("full refund: %+v", c)
	}
	// A stale event (the half refund delivered late) moves nothing.
	stale := p.event("", "charge.refunded", map[string]any{
		"id": "ch_1", "object": "charge", "amount": 10000, "amount_refunded": 5000, "invoice": "in_1", "customer": "cus_ref",
	})
	expect(t, deliver(t, stale, webhookSecret), 200, "")
	settled(t, eventID(stale))
	if pending, _ := p.balance(t); pending != 2850 {
		t.Fatalf("want 2850 pending (the second invoice), got %d", pending)
	}
	checkLedger(t)
}

func TestStripeEventsThatMoveNoMoney(t *testing.T) {
	p := newStripeProgram(t)
	// A customer without the ref in metadata: fetched from the connected
	// account (stripe-mock's customer has no agentlinks_ref), then ignored.
	noRef := p.event("", "invoice.paid", invoice("in_noref", "cus_noref", 5000, 0, nil))
	expect(t, deliver(t, noRef, webhookSecret), 200, "")
	if ev := settled(t, eventID(noRef)); ev.Status != "ignored" || !strings.Contains(ev.Note, "no agentlinks_ref") {
		t.Fatalf("customer without ref: %+v", ev)
	}
	known, err := db.New(database.Pool).GetStripeCustomer(context.Background(), db.GetStripeCustomerParams{Account: p.account, CustomerID: "cus_noref"})
	if err != nil || known.RefCode != nil {
		t.Fatalf("the fetched customer should be remembered as not referred: %+v %v", known, err)
	}
	// An account no app is connected to.
	stranger := stripeProgram{program: p.program, account: "acct_nobody"}
	unknown := stranger.event("", "invoice.paid", invoice("in_x", "cus_x", 5000, 0, map[string]string{"agentlinks_ref": p.ref}))
	expect(t, deliver(t, unknown, webhookSecret), 200, "")
	if ev := settled(t, eventID(unknown)); ev.Status != "ignored" {
		t.Fatalf("unknown account: %+v", ev)
	}
	// A ref in metadata that is not one of this app's.
	bad := p.event("", "invoice.paid", invoice("in_bad", "cus_bad", 5000, 0, map[string]string{"agentlinks_ref": "zzzzzz"}))
	expect(t, deliver(t, bad, webhookSecret), 200, "")
	if ev := settled(t, eventID(bad)); ev.Status != "ignored" {
		t.Fatalf("unknown ref: %+v", ev)
	}
	// A payment in another currency than the program's is not converted silently.
	eur := invoice("in_eur", "cus_eur", 5000, 0, map[string]string{"agentlinks_ref": p.ref})
	eur["currency"] = "eur"
	foreign := p.event("", "invoice.paid", eur)
	expect(t, deliver(t, foreign, webhookSecret), 200, "")
	if ev := settled(t, eventID(foreign)); ev.Status != "ignored" || !strings.Contains(ev.Note, "eur") {
		t.Fatalf("invoice in eur for a usd program: %+v", ev)
	}
	if p.countConversions(t) != 0 || ledgerCount(t, p.appID) != 0 {
		t.Fatal("events for customers with no (valid) ref moved money")
	}
}

func TestStripeOneOffCheckoutAndDispute(t *testing.T) {
	p := newStripeProgram(t)
	cs := p.event("", "checkout.session.completed", map[string]any{
		"id": "cs_1", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"amount_total": 2600, "total_details": map[string]any{"amount_tax": 100}, "client_reference_id": p.ref,
		"customer": "cus_checkout", "payment_intent": "pi_1",
	})
	expect(t, deliver(t, cs, webhookSecret), 200, "")
	settled(t, eventID(cs))
	c, ok := p.conversion(t, "pi_1")
	if !ok || c.AmountCents != 2500 || c.CommissionCents != 750 {
		t.Fatalf("checkout: want 2500 before tax, 750 commission; got %+v", c)
	}
	dispute := p.event("", "charge.dispute.created", map[string]any{
		"id": "dp_1", "object": "dispute", "amount": 2600, "payment_intent": "pi_1",
		"charge": map[string]any{"id": "ch_pi1", "object": "charge", "amount": 2600, "payment_intent": "pi_1", "customer": "cus_checkout"},
	})
	expect(t, deliver(t, dispute, webhookSecret), 200, "")
	if ev := settled(t, eventID(dispute)); ev.Status != "processed" {
		t.Fatalf("dispute: %+v", ev)
	}
	c, _ = p.conversion(t, "pi_1")
	if c.Status != "refunded" || c.RefundedCents != 2500 {
		t.Fatalf("a dispute of the whole charge reverses the whole conversion: %+v", c)
	}
	checkLedger(t)
}

func TestStripeRefundBeforePaymentWaitsThenParks(t *testing.T) {
	p := newStripeProgram(t)
	cust := p.event("", "customer.created", map[string]any{"id": "cus_early", "object": "customer", "metadata": map[string]string{"agentlinks_ref": p.ref}})
	expect(t, deliver(t, cust, webhookSecret), 200, "")
	settled(t, eventID(cust))

	// The refund arrives first; the payment a moment later: it waits, then applies.
	refund := p.event("", "charge.refunded", map[string]any{
		"id": "ch_e", "object": "charge", "amount": 4000, "amount_refunded": 1000, "invoice": "in_e", "customer": "cus_early",
	})
	expect(t, deliver(t, refund, webhookSecret), 200, "")
	time.Sleep(300 * time.Millisecond)
	paid := p.event("", "invoice.paid", invoice("in_e", "cus_early", 4000, 0, nil))
	expect(t, deliver(t, paid, webhookSecret), 200, "")
	if ev := settled(t, eventID(refund)); ev.Status != "processed" {
		t.Fatalf("refund before payment: %+v", ev)
	}
	if c, _ := p.conversion(t, "in_e"); c.RefundedCents != 1000 {
		t.Fatalf("want 1000 refunded once the payment arrived, got %+v", c)
	}

	// A refund whose payment never comes is parked for an operator, and
	// moves nothing.
	ev := p.orphanRefund(t, "ch_o", "in_never", "cus_early")
	if ev.Status != "parked" || !strings.Contains(ev.Note, "no conversion recorded") {
		t.Fatalf("orphan refund: want parked with the reason, got %+v", ev)
	}
	checkLedger(t)
}

func TestStripeOAuthConnect(t *testing.T) {
	p := newProgram(t)
	expect(t, call(t, "POST", "/api/stripe/connect", "", nil), 401, "missing_api_key")
	a := call(t, "POST", "/api/stripe/connect", p.key, nil)
	expect(t, a, 200, "")
	u, err := url.Parse(a.str("url"))
	if err != nil || !strings.HasSuffix(u.Path, "/oauth/authorize") || u.Query().Get("client_id") != "ca_test" || u.Query().Get("response_type") != "code" {
		t.Fatalf("connect url: %s", a.raw)
	}
	state := u.Query().Get("state")

	// A state this platform did not sign, or for another app, is refused.
	other := newProgram(t)
	forged := strings.Replace(state, p.appID, other.appID, 1)
	expect(t, call(t, "GET", "/api/stripe/oauth/callback?code=ac_good&state="+url.QueryEscape(forged), "", nil), 400, "invalid_state")
	expect(t, call(t, "GET", "/api/stripe/oauth/callback?code=ac_good&state=nonsense", "", nil), 400, "invalid_state")
	expect(t, call(t, "GET", "/api/stripe/oauth/callback?code=ac_bad&state="+url.QueryEscape(state), "", nil), 502, "stripe_connect_failed")
	for _, id := range []string{p.appID, other.appID} {
		if app, _ := db.New(database.Pool).GetApp(context.Background(), id); app.StripeAccountID != nil {
			t.Fatalf("a refused callback connected %s to %s", id, *app.StripeAccountID)
		}
	}

	ok := call(t, "GET", "/api/stripe/oauth/callback?code=ac_good&state="+url.QueryEscape(state), "", nil)
	expect(t, ok, 200, "")
	app, _ := db.New(database.Pool).GetApp(context.Background(), p.appID)
	if app.StripeAccountID == nil || *app.StripeAccountID != "acct_oauth_connected" || ok.str("stripe_account_id") != "acct_oauth_connected" {
		t.Fatalf("callback did not store the account: %s %+v", ok.raw, app)
	}

	// The account deauthorizes the platform: the app is disconnected.
	sp := stripeProgram{program: p, account: "acct_oauth_connected"}
	deauth := sp.event("", "account.application.deauthorized", map[string]any{"id": "ca_test", "object": "application"})
	expect(t, deliver(t, deauth, webhookSecret), 200, "")
	settled(t, eventID(deauth))
	if app, _ := db.New(database.Pool).GetApp(context.Background(), p.appID); app.StripeAccountID != nil {
		t.Fatal("account.application.deauthorized left the app connected")
	}
	// And the owner can disconnect from our side.
	if err := programs.ConnectStripe(context.Background(), database.Pool, p.appID, "acct_oauth_connected"); err != nil {
		t.Fatal(err)
	}
	expect(t, call(t, "POST", "/api/stripe/disconnect", p.key, nil), 200, "")
	if app, _ := db.New(database.Pool).GetApp(context.Background(), p.appID); app.StripeAccountID != nil {
		t.Fatal("disconnect left the app connected")
	}
	expect(t, httpCall(t, noStripe.URL+"/api/stripe/connect", p.key), 503, "stripe_not_configured")
}

func httpCall(t *testing.T, u, key string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", u, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode}
	_ = json.NewDecoder(res.Body).Decode(&a.body)
	return a
}

func TestStripeSameEventConcurrentlyCreditsOnce(t *testing.T) {
	p := newStripeProgram(t)
	paid := p.event("", "invoice.paid", invoice("in_conc", "cus_conc", 7000, 0, map[string]string{"agentlinks_ref": p.ref}))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := deliver(t, paid, webhookSecret); a.status != 200 {
				t.Errorf("concurrent delivery answered %d %s", a.status, a.raw)
			}
		}()
	}
	wg.Wait()
	if ev := settled(t, eventID(paid)); ev.Status != "processed" {
		t.Fatalf("%+v", ev)
	}
	if n := p.countConversions(t); n != 1 {
		t.Fatalf("one event delivered 10 times at once made %d conversions", n)
	}
	checkLedger(t)
}
