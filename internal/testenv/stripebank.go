package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// StripeBank plays the Stripe calls of cashing out as Stripe documents
// them, which stripe-mock answers only with fixtures (a payment intent it
// never confirms): payment intents charged off-session and transfers to
// connected accounts. Like Stripe it keeps the answer to each
// Idempotency-Key, errors included, and answers a retry with it. A test
// declines a customer's card, refuses transfers to an account, or makes
// the platform's balance short for a number of transfers. Everything else
// goes to next (stripe-mock, or a double in front of it).
//
// With URL set (where the bank is served), it also plays Stripe's hosted
// pages for a browser: Checkout in setup mode (the owner "saves" a Visa
// ending 4242 and is sent to success_url), Express onboarding through an
// Account Link (the account becomes ready and the creator is sent to
// return_url), and the Express dashboard a login link opens.
type StripeBank struct {
	next http.Handler
	URL  string

	mu        sync.Mutex
	answers   map[string]bankAnswer // path + Idempotency-Key → first answer
	declined  map[string]string     // customer → decline code
	refused   map[string]string     // account → why
	short     map[string]int        // account → balance_insufficient answers left
	charges   []BankCall
	transfers []BankCall
	accounts  map[string]map[string]any // acct → state GET /v1/accounts/{id} answers
	setups    map[string]map[string]any // checkout session → a finished setup
	gates     map[string]*gate          // path → the next answer is held
	seen      map[string]int            // path + key → requests, replays included
	n         int
}

// BankCall is a charge or transfer Stripe made.
type BankCall struct {
	ID, Key, Party string // party: the customer charged or the account paid
	AmountCents    int64
	Group          string
}

type bankAnswer struct {
	status int
	body   []byte
	amount string
}

// NewStripeBank returns the double in front of next.
func NewStripeBank(next http.Handler) *StripeBank {
	return &StripeBank{next: next, answers: map[string]bankAnswer{}, declined: map[string]string{},
		refused: map[string]string{}, short: map[string]int{}, accounts: map[string]map[string]any{}, setups: map[string]map[string]any{}, gates: map[string]*gate{}, seen: map[string]int{}}
}

// Decline makes charges of the customer fail with a card error.
func (b *StripeBank) Decline(customer, code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.declined[customer] = code
}

// Refuse makes transfers to the account fail for good.
func (b *StripeBank) Refuse(account, why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refused[account] = why
}

// Allow lifts Refuse.
func (b *StripeBank) Allow(account string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.refused, account)
}

// Short makes the next n transfers to the account answer balance_insufficient.
func (b *StripeBank) Short(account string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.short[account] = n
}

// Account makes GET /v1/accounts/{id} answer the account in this state.
func (b *StripeBank) Account(id string, payoutsEnabled, transfersActive bool, due ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	caps := "inactive"
	if transfersActive {
		caps = "active"
	}
	b.accounts[id] = map[string]any{"id": id, "object": "account", "type": "express", "payouts_enabled": payoutsEnabled,
		"details_submitted": payoutsEnabled, "capabilities": map[string]any{"transfers": caps},
		"requirements": map[string]any{"currently_due": append([]string{}, due...)}}
}

// gate holds the answer to the next request of a path: Stripe did the
// work (and keeps its answer under the key), but the caller does not hear
// of it until the gate opens — the moment to kill the caller.
type gate struct {
	arrived chan struct{}
	open    chan struct{}
	used    bool
}

// Gate holds the answer to the next POST of path (/v1/payment_intents or
// /v1/transfers). arrived is closed once Stripe made that charge or
// transfer; release lets the answer go (to a caller that may be dead).
func (b *StripeBank) Gate(path string) (arrived <-chan struct{}, release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := &gate{arrived: make(chan struct{}), open: make(chan struct{})}
	b.gates[path] = g
	var once sync.Once
	return g.arrived, func() { once.Do(func() { close(g.open) }) }
}

// Asked is how many requests carried the path and key, replays included.
func (b *StripeBank) Asked(path, key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[path+" "+key]
}

// Charges and Transfers are what Stripe made, in order (each once per key).
func (b *StripeBank) Charges() []BankCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BankCall(nil), b.charges...)
}

func (b *StripeBank) Transfers() []BankCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BankCall(nil), b.transfers...)
}

func (b *StripeBank) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/accounts/") {
		b.mu.Lock()
		acct, ok := b.accounts[strings.TrimPrefix(r.URL.Path, "/v1/accounts/")]
		b.mu.Unlock()
		if ok {
			writeJSON(w, http.StatusOK, acct)
			return
		}
	}
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/checkout/sessions/") {
		b.mu.Lock()
		s, ok := b.setups[strings.TrimPrefix(r.URL.Path, "/v1/checkout/sessions/")]
		b.mu.Unlock()
		if ok {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
	if b.URL != "" && b.hosted(w, r) {
		return
	}
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/payment_intents" && r.URL.Path != "/v1/transfers") {
		b.next.ServeHTTP(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		bankError(w, http.StatusBadRequest, "invalid_request_error", "", err.Error())
		return
	}
	key := r.Header.Get("Idempotency-Key")
	b.mu.Lock()
	b.seen[r.URL.Path+" "+key]++
	var held *gate
	if g := b.gates[r.URL.Path]; g != nil && !g.used {
		g.used, held = true, g
	}
	b.mu.Unlock()
	if held != nil {
		// Answer (and remember the answer) first; deliver it when the gate opens.
		rec := &heldWriter{header: http.Header{}}
		b.answerOnce(rec, r, key)
		close(held.arrived)
		<-held.open
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	b.answerOnce(w, r, key)
}

// heldWriter keeps an answer a gate holds.
type heldWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldWriter) Header() http.Header         { return h.header }
func (h *heldWriter) WriteHeader(status int)      { h.status = status }
func (h *heldWriter) Write(p []byte) (int, error) { return h.body.Write(p) }

// answerOnce answers a charge or transfer, or replays the answer its key got.
func (b *StripeBank) answerOnce(w http.ResponseWriter, r *http.Request, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev, ok := b.answers[r.URL.Path+" "+key]; ok && key != "" {
		if prev.amount != r.PostForm.Get("amount") {
			bankError(w, http.StatusBadRequest, "idempotency_error", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with.")
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(prev.status)
		_, _ = w.Write(prev.body)
		return
	}
	amount, _ := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
	status, body := b.answer(r, amount, key)
	js, _ := json.Marshal(body)
	if key != "" {
		b.answers[r.URL.Path+" "+key] = bankAnswer{status: status, body: js, amount: r.PostForm.Get("amount")}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(js)
}

func (b *StripeBank) answer(r *http.Request, amount int64, key string) (int, map[string]any) {
	f := r.PostForm
	b.n++
	if r.URL.Path == "/v1/payment_intents" {
		cus := f.Get("customer")
		if code, ok := b.declined[cus]; ok {
			return http.StatusPaymentRequired, errorBody("card_error", "card_declined", code, "Your card was declined.")
		}
		id := fmt.Sprintf("pi_bank%d", b.n)
		body := map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount,
			"currency": f.Get("currency"), "customer": cus, "payment_method": f.Get("payment_method"), "status": "succeeded",
			"metadata": map[string]any{"agentlinks_run": f.Get("metadata[agentlinks_run]")}}
		if status, mock := b.forward(r); status != http.StatusNotFound {
			if status != http.StatusOK {
				return status, mock // stripe-mock refused the parameters
			}
			// stripe-mock never confirms: the intent succeeds, as Stripe's
			// test card pm_card_visa does.
			mock["status"], mock["amount_received"] = "succeeded", amount
			body = mock
			id, _ = mock["id"].(string)
		}
		b.charges = append(b.charges, BankCall{ID: id, Key: key, Party: cus, AmountCents: amount})
		return http.StatusOK, body
	}
	dest := f.Get("destination")
	if why, ok := b.refused[dest]; ok {
		return http.StatusBadRequest, errorBody("invalid_request_error", "", "", why)
	}
	if b.short[dest] > 0 {
		b.short[dest]--
		return http.StatusBadRequest, errorBody("invalid_request_error", "balance_insufficient", "",
			"You have insufficient available funds in your Stripe account.")
	}
	id := fmt.Sprintf("tr_bank%d", b.n)
	body := map[string]any{"id": id, "object": "transfer", "amount": amount, "currency": f.Get("currency"),
		"destination": dest, "transfer_group": f.Get("transfer_group"), "reversed": false, "amount_reversed": 0,
		"metadata": map[string]any{"agentlinks_payout": f.Get("metadata[agentlinks_payout]")}}
	if status, mock := b.forward(r); status != http.StatusNotFound {
		if status != http.StatusOK {
			return status, mock
		}
		body = mock
		id, _ = mock["id"].(string)
	}
	b.transfers = append(b.transfers, BankCall{ID: id, Key: key, Party: dest, AmountCents: amount, Group: f.Get("transfer_group")})
	return http.StatusOK, body
}

// forward asks next (stripe-mock) the same call, which checks its
// parameters against Stripe's OpenAPI description and answers in Stripe's
// shape; 404 when there is no stripe-mock behind the bank.
func (b *StripeBank) forward(r *http.Request) (int, map[string]any) {
	req := httptest.NewRequest(r.Method, r.URL.Path, strings.NewReader(r.PostForm.Encode()))
	req.RequestURI = ""
	req.Header = r.Header.Clone()
	req.Header.Del("Idempotency-Key") // the bank keeps the answers; stripe-mock would not
	rec := httptest.NewRecorder()
	b.next.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		return http.StatusNotFound, nil
	}
	return rec.Code, m
}

func errorBody(typ, code, decline, msg string) map[string]any {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	if decline != "" {
		e["decline_code"] = decline
	}
	return map[string]any{"error": e}
}

func bankError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, errorBody(typ, code, "", msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	js, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(js)
}

// hosted answers the API calls behind Stripe's hosted pages, and the pages.
func (b *StripeBank) hosted(w http.ResponseWriter, r *http.Request) bool {
	// Read the form from a copy: a call this does not answer goes on to
	// next with its body whole.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f, _ := url.ParseQuery(string(body))
	for k, v := range r.URL.Query() {
		f[k] = append(f[k], v...)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions" && f.Get("mode") == "setup":
		b.n++
		id := fmt.Sprintf("cs_test_bank%d", b.n)
		b.setups[id] = map[string]any{"id": id, "object": "checkout.session", "mode": "setup", "status": "open",
			"success_url": f.Get("success_url"), "setup_intent": nil}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "checkout.session", "mode": "setup",
			"url": b.URL + "/pay/" + id, "customer": f.Get("customer")})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/pay/"):
		id := strings.TrimPrefix(r.URL.Path, "/pay/")
		s, ok := b.setups[id]
		if !ok {
			http.NotFound(w, r)
			return true
		}
		b.setups[id] = map[string]any{"id": id, "object": "checkout.session", "mode": "setup", "status": "complete",
			"setup_intent": map[string]any{"id": "seti_" + id, "object": "setup_intent", "status": "succeeded",
				"payment_method": map[string]any{"id": "pm_" + id, "object": "payment_method", "type": "card",
					"card": map[string]any{"brand": "visa", "last4": "4242"}}}}
		http.Redirect(w, r, strings.ReplaceAll(s["success_url"].(string), "{CHECKOUT_SESSION_ID}", id), http.StatusSeeOther)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/accounts":
		b.n++
		id := fmt.Sprintf("acct_bank%d", b.n)
		b.accounts[id] = map[string]any{"id": id, "object": "account", "type": "express", "email": f.Get("email"),
			"payouts_enabled": false, "details_submitted": false, "capabilities": map[string]any{"transfers": "inactive"},
			"requirements": map[string]any{"currently_due": []string{"external_account", "tos_acceptance.date"}}}
		writeJSON(w, http.StatusOK, b.accounts[id])
	case r.Method == http.MethodPost && r.URL.Path == "/v1/account_links":
		acct := f.Get("account")
		if _, ok := b.accounts[acct]; !ok {
			bankError(w, http.StatusBadRequest, "invalid_request_error", "", "No such account: "+acct)
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "account_link", "url": b.URL + "/onboard/" + acct + "?return=" +
			url.QueryEscape(f.Get("return_url"))})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/onboard/"):
		acct := strings.TrimPrefix(r.URL.Path, "/onboard/")
		a, ok := b.accounts[acct]
		if !ok {
			http.NotFound(w, r)
			return true
		}
		a["payouts_enabled"], a["details_submitted"] = true, true
		a["capabilities"] = map[string]any{"transfers": "active"}
		a["requirements"] = map[string]any{"currently_due": []string{}}
		http.Redirect(w, r, r.URL.Query().Get("return"), http.StatusSeeOther)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/accounts/") && strings.HasSuffix(r.URL.Path, "/login_links"):
		acct := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/accounts/"), "/login_links")
		writeJSON(w, http.StatusOK, map[string]any{"object": "login_link", "url": b.URL + "/express/" + acct})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/express/"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Stripe Express</title><h1>Express dashboard of %s</h1>", html.EscapeString(strings.TrimPrefix(r.URL.Path, "/express/")))
	default:
		return false
	}
	return true
}
