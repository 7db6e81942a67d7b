package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// stripeDouble answers what stripe-mock cannot, as Stripe documents it,
// and passes everything else to stripe-mock:
//   - GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=pi_…
//     (the Invoice Payments list, 2025-03-31.basil and later): the invoice
//     payments a test said Stripe knows for that payment intent;
//   - GET /v1/charges/{id} and /v1/invoices/{id}: a charge or invoice a test
//     put on the account, rendered in 2023-10-16 (the version stripe-go v76
//     asks in, where a charge still names its invoice).
type stripeDouble struct {
	mock *httputil.ReverseProxy

	mu       sync.Mutex
	payments map[string][]map[string]any // account/pi → invoice payments
	objects  map[string]map[string]any   // account/path → charge or invoice
	asked    map[string]int              // account/pi or path → calls
}

func newStripeDouble(mockURL string) *stripeDouble {
	u, err := url.Parse(mockURL)
	if err != nil {
		panic(err)
	}
	return &stripeDouble{mock: httputil.NewSingleHostReverseProxy(u),
		payments: map[string][]map[string]any{}, objects: map[string]map[string]any{}, asked: map[string]int{}}
}

// knowsInvoicePayment makes the account's Invoice Payments list answer that
// the payment intent paid the invoice.
func (d *stripeDouble) knowsInvoicePayment(account, pi, invoice string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.payments[account+"/"+pi] = append(d.payments[account+"/"+pi], map[string]any{
		"id": "inpay_" + strings.TrimPrefix(pi, "pi_"), "object": "invoice_payment", "invoice": invoice,
		"amount_paid": nil, "amount_requested": 0, "currency": "usd", "is_default": true, "livemode": false, "status": "paid",
		"payment": map[string]any{"type": "payment_intent", "payment_intent": pi},
	})
}

// has puts a charge or an invoice (2023-10-16 shape) on the account.
func (d *stripeDouble) has(account string, object map[string]any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.objects[account+"/v1/"+object["object"].(string)+"s/"+object["id"].(string)] = object
}

// timesAsked is how often the account's Invoice Payments list was asked
// about a payment intent, or an object (/v1/invoices/in_…) was fetched.
func (d *stripeDouble) timesAsked(account, what string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked[account+"/"+what]
}

func (d *stripeDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	account := r.Header.Get("Stripe-Account")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/invoice_payments":
		q := r.URL.Query()
		if v := r.Header.Get("Stripe-Version"); v < "2025-03-31" {
			stripeError(w, http.StatusBadRequest, fmt.Sprintf("Invoice Payments are not available in API version %s", v))
			return
		}
		if q.Get("payment[type]") != "payment_intent" || q.Get("payment[payment_intent]") == "" {
			stripeError(w, http.StatusBadRequest, "payment[type] and payment[payment_intent] are required for this test double")
			return
		}
		key := account + "/" + q.Get("payment[payment_intent]")
		d.mu.Lock()
		d.asked[key]++
		data := append([]map[string]any{}, d.payments[key]...)
		d.mu.Unlock()
		writeJSON(w, map[string]any{"object": "list", "url": "/v1/invoice_payments", "has_more": false, "data": data})
	case r.Method == http.MethodGet && (strings.HasPrefix(r.URL.Path, "/v1/charges/") || strings.HasPrefix(r.URL.Path, "/v1/invoices/")):
		key := account + r.URL.Path
		d.mu.Lock()
		d.asked[key]++
		o, ok := d.objects[key]
		d.mu.Unlock()
		if !ok {
			d.mock.ServeHTTP(w, r)
			return
		}
		writeJSON(w, o)
	default:
		d.mock.ServeHTTP(w, r)
	}
}

func stripeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "message": msg}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
