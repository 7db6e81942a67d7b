package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// Stripe renders an event in the API version of the endpoint (or account)
// it is sent to. Every case below runs in 2023-10-16's shapes and in
// basil's and clover's, and must give the same creator balances.
var stripeVersions = []string{"2023-10-16", "2025-03-31.basil", "2025-09-30.clover"}

// shape renders the objects an event carries in one API version.
type shape struct {
	version string
	basil   bool
}

func shapeOf(version string) shape { return shape{version: version, basil: version >= "2025-03-31"} }

// Where an invoice's ref is.
const (
	refOnCustomer     = "customer"
	refOnInvoice      = "invoice"
	refOnSubscription = "subscription"
)

// invoice renders a paid invoice of paid cents, tax included, paid by the
// payment intent pi (before basil the invoice names it and its charge).
func (s shape) invoice(id, customer, pi string, paid, tax int64, refOn, ref string) map[string]any {
	meta := map[string]string{"agentlinks_ref": ref}
	inv := map[string]any{
		"id": id, "object": "invoice", "status": "paid", "currency": "usd", "customer": customer,
		"amount_due": paid, "amount_paid": paid, "total": paid, "total_excluding_tax": paid - tax, "metadata": map[string]string{},
	}
	switch refOn {
	case refOnCustomer:
		inv["customer"] = map[string]any{"id": customer, "object": "customer", "metadata": meta}
	case refOnInvoice:
		inv["metadata"] = meta
	}
	subMeta := map[string]string{}
	if refOn == refOnSubscription {
		subMeta = meta
	}
	if s.basil {
		taxes := []map[string]any{}
		if tax > 0 {
			taxes = append(taxes, map[string]any{"amount": tax, "tax_behavior": "exclusive", "taxability_reason": "standard_rated",
				"taxable_amount": paid - tax, "type": "tax_rate_details"})
		}
		inv["total_taxes"] = taxes
		inv["parent"] = map[string]any{"type": "subscription_details", "quote_details": nil,
			"subscription_details": map[string]any{"subscription": "sub_" + id, "metadata": subMeta}}
	} else {
		inv["tax"] = tax
		inv["subscription"] = "sub_" + id
		inv["subscription_details"] = map[string]any{"metadata": subMeta}
		inv["charge"] = chargeOf(pi)
		inv["payment_intent"] = pi
	}
	return inv
}

func chargeOf(pi string) string { return "ch_" + strings.TrimPrefix(pi, "pi_") }

// charge renders the charge of pi that paid invoice (only before basil
// does a charge name its invoice), refunded cents so far.
func (s shape) charge(pi, invoice, customer string, amount, refunded int64) map[string]any {
	ch := map[string]any{"id": chargeOf(pi), "object": "charge", "amount": amount, "amount_refunded": refunded,
		"refunded": refunded >= amount, "currency": "usd", "customer": customer, "payment_intent": pi, "paid": true}
	if !s.basil {
		ch["invoice"] = invoice
	}
	return ch
}

// invoicePayment renders the invoice payment that ties pi to invoice
// (basil and later).
func (s shape) invoicePayment(pi, invoice string, amount int64) map[string]any {
	return map[string]any{"id": "inpay_" + strings.TrimPrefix(pi, "pi_"), "object": "invoice_payment", "invoice": invoice,
		"amount_paid": amount, "amount_requested": amount, "currency": "usd", "is_default": true, "status": "paid",
		"payment": map[string]any{"type": "payment_intent", "payment_intent": pi}}
}

// versionedEvent builds a Connect event in the shape's version.
func (p stripeProgram) versionedEvent(s shape, typ string, object map[string]any) []byte {
	var e map[string]any
	_ = json.Unmarshal(p.event("", typ, object), &e)
	e["api_version"] = s.version
	b, _ := json.Marshal(e)
	return b
}

// send delivers an event and waits for its outcome, which must be want.
func (p stripeProgram) send(t *testing.T, payload []byte, want string) db.StripeEvent {
	t.Helper()
	expect(t, deliver(t, payload, webhookSecret), 200, "")
	ev := settled(t, eventID(payload))
	if ev.Status != want {
		t.Fatalf("%s: want %s, got %s (%s)", eventType(payload), want, ev.Status, ev.Note)
	}
	return ev
}

func eventType(payload []byte) string {
	var e struct {
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
	}
	_ = json.Unmarshal(payload, &e)
	return e.Type + " (" + e.APIVersion + ")"
}

// parked counts the program's parked events.
func (p stripeProgram) parked(t *testing.T) int {
	t.Helper()
	var n int
	if err := database.Pool.QueryRow(t.Context(), "SELECT count(*) FROM stripe_events WHERE account = $1 AND status = 'parked'", p.account).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// stripeCase is one story told in a version's shapes; it returns the
// creator's pending cents at its end.
type stripeCase struct {
	name string
	// want is the creator's pending balance at the end, in every version.
	want int64
	run  func(t *testing.T, s shape, p stripeProgram)
}

var stripeCases = []stripeCase{
	{"taxed invoice, ref on the customer", 2850, func(t *testing.T, s shape, p stripeProgram) {
		// 12000 paid of which 2000 tax: the commission is on 10000.
		p.send(t, p.versionedEvent(s, "invoice.paid", s.invoice("in_tax", "cus_tax", "pi_tax", 12000, 2000, refOnCustomer, p.ref)), "processed")
		if c, _ := p.conversion(t, "in_tax"); c.AmountCents != 10000 || c.CommissionCents != 3000 {
			t.Fatalf("want the 10000 before tax credited 3000, got %+v", c)
		}
	}},
	{"ref on the invoice", 2850, func(t *testing.T, s shape, p stripeProgram) {
		p.send(t, p.versionedEvent(s, "invoice.paid", s.invoice("in_meta", "cus_meta", "pi_meta", 10000, 0, refOnInvoice, p.ref)), "processed")
	}},
	{"ref on the subscription", 2850, func(t *testing.T, s shape, p stripeProgram) {
		p.send(t, p.versionedEvent(s, "invoice.paid", s.invoice("in_sub", "cus_sub", "pi_sub", 10000, 0, refOnSubscription, p.ref)), "processed")
	}},
	{"a refund known only by its payment intent", 1425, func(t *testing.T, s shape, p stripeProgram) {
		p.send(t, p.versionedEvent(s, "invoice.paid", s.invoice("in_pi", "cus_pi", "pi_only", 10000, 0, refOnSubscription, p.ref)), "processed")
		// No invoice_payment.paid arrives; Stripe knows which invoice the
		// payment intent paid.
		stripeAPI.knowsInvoicePayment(p.account, "pi_only", "in_pi")
		p.send(t, p.versionedEvent(s, "charge.refunded", s.charge("pi_only", "in_pi", "cus_pi", 10000, 5000)), "processed")
		if s.basil && stripeAPI.timesAsked(p.account, "pi_only") == 0 {
			t.Fatal("the refund was resolved without asking Stripe's Invoice Payments list")
		}
	}},
	{"the refund before the invoice payment that ties it", 1425, func(t *testing.T, s shape, p stripeProgram) {
		p.send(t, p.versionedEvent(s, "invoice.paid", s.invoice("in_late", "cus_late", "pi_late", 10000, 0, refOnSubscription, p.ref)), "processed")
		refund := p.versionedEvent(s, "charge.refunded", s.charge("pi_late", "in_late", "cus_late", 10000, 5000))
		expect(t, deliver(t, refund, webhookSecret), 200, "")
		if s.basil {
			// The refund finds no invoice and Stripe's list has none yet: it
			// waits. The invoice payment arrives, and the retry applies it.
			testenv.Eventually(t, 10*time.Second, "the refund asks Stripe for its invoice", func() bool {
				return stripeAPI.timesAsked(p.account, "pi_late") > 0
			})
			if ev, _ := db.New(database.Pool).GetStripeEvent(t.Context(), eventID(refund)); ev.Status != "received" {
				t.Fatalf("the refund of an untied payment should wait, it is %s (%s)", ev.Status, ev.Note)
			}
			p.send(t, p.versionedEvent(s, "invoice_payment.paid", s.invoicePayment("pi_late", "in_late", 10000)), "processed")
		}
		if ev := settled(t, eventID(refund)); ev.Status != "processed" {
			t.Fatalf("the refund: %s (%s)", ev.Status, ev.Note)
		}
	}},
	{"the refund before its invoice, the ref on the subscription", 1425, func(t *testing.T, s shape, p stripeProgram) {
		// Nothing here knows the customer yet; Stripe does: the payment
		// intent paid the invoice, and the invoice's subscription carries
		// the ref. The refund waits for the invoice's event.
		stripeAPI.knowsInvoicePayment(p.account, "pi_first", "in_first")
		stripeAPI.has(p.account, shapeOf("2023-10-16").invoice("in_first", "cus_first", "pi_first", 10000, 0, refOnSubscription, p.ref))
		refund := p.versionedEvent(s, "charge.refunded", s.charge("pi_first", "in_first", "cus_first", 10000, 5000))
		expect(t, deliver(t, refund, webhookSecret), 200, "")
		testenv.Eventually(t, 10*time.Second, "the refund reads its invoice's ref from Stripe", func() bool {
			return stripeAPI.timesAsked(p.account, "v1/invoices/in_first") > 0
		})
		p.send(t, p.versionedEvent(s, "invoice.paid", s.invoice("in_first", "cus_first", "pi_first", 10000, 0, refOnSubscription, p.ref)), "processed")
		if ev := settled(t, eventID(refund)); ev.Status != "processed" {
			t.Fatalf("the refund: %s (%s)", ev.Status, ev.Note)
		}
	}},
	{"two partial refunds then a dispute, redelivered", 0, func(t *testing.T, s shape, p stripeProgram) {
		events := [][]byte{p.versionedEvent(s, "invoice.paid", s.invoice("in_many", "cus_many", "pi_many", 10000, 0, refOnSubscription, p.ref))}
		if s.basil {
			events = append(events, p.versionedEvent(s, "invoice_payment.paid", s.invoicePayment("pi_many", "in_many", 10000)))
		}
		events = append(events,
			p.versionedEvent(s, "charge.refunded", s.charge("pi_many", "in_many", "cus_many", 10000, 3000)),
			p.versionedEvent(s, "charge.refunded", s.charge("pi_many", "in_many", "cus_many", 10000, 6000)))
		// The dispute names its charge by id; it is fetched, in stripe-go's
		// version, from the account.
		stripeAPI.has(p.account, shapeOf("2023-10-16").charge("pi_many", "in_many", "cus_many", 10000, 6000))
		events = append(events, p.versionedEvent(s, "charge.dispute.created", map[string]any{
			"id": "dp_many", "object": "dispute", "amount": 4000, "currency": "usd", "status": "needs_response",
			"charge": chargeOf("pi_many"), "payment_intent": "pi_many",
		}))
		for _, e := range events {
			p.send(t, e, "processed")
		}
		c, _ := p.conversion(t, "in_many")
		if c.Status != "refunded" || c.RefundedCents != 10000 {
			t.Fatalf("3000 and 3000 refunded, then 4000 disputed: want all 10000 reversed, got %+v", c)
		}
		// Stripe redelivers all of it (new deliveries of the same events,
		// and the same payments in new events): nothing moves again.
		for _, e := range events {
			expect(t, deliver(t, e, webhookSecret), 200, "")
		}
		again := p.versionedEvent(s, "charge.refunded", s.charge("pi_many", "in_many", "cus_many", 10000, 6000))
		p.send(t, again, "processed")
		var refunds int
		if err := database.Pool.QueryRow(t.Context(), "SELECT count(*) FROM refunds WHERE conversion_id = $1", c.ID).Scan(&refunds); err != nil || refunds != 3 {
			t.Fatalf("want the 3 refunds once each, got %d (%v)", refunds, err)
		}
	}},
}

func TestStripeEventsGiveTheSameMoneyInEveryAPIVersion(t *testing.T) {
	got := map[string]map[string]int64{} // case → version → pending
	for _, c := range stripeCases {
		got[c.name] = map[string]int64{}
		for _, v := range stripeVersions {
			t.Run(c.name+"/"+v, func(t *testing.T) {
				p := newStripeProgram(t)
				c.run(t, shapeOf(v), p)
				pending, _ := p.balance(t)
				got[c.name][v] = pending
				if pending != c.want {
					t.Errorf("want %d pending, got %d", c.want, pending)
				}
				if n := p.parked(t); n != 0 {
					t.Errorf("%d events parked that Stripe's data resolves", n)
				}
				var stored string
				if err := database.Pool.QueryRow(t.Context(), "SELECT DISTINCT api_version FROM stripe_events WHERE account = $1", p.account).Scan(&stored); err != nil || stored != v {
					t.Errorf("the stored events should record API version %s, got %q (%v)", v, stored, err)
				}
			})
		}
	}
	for name, byVersion := range got {
		for _, v := range stripeVersions[1:] {
			if byVersion[v] != byVersion[stripeVersions[0]] {
				t.Errorf("%s: %s gave %d pending, %s gave %d", name, stripeVersions[0], byVersion[stripeVersions[0]], v, byVersion[v])
			}
		}
	}
	checkLedger(t)
}

// A version newer than any the code knows is read with the newest reader;
// an event without a field its version needs is parked, saying which, and
// credits nothing.
func TestStripeNewerVersionsAndMissingFields(t *testing.T) {
	p := newStripeProgram(t)
	future := shape{version: "2027-02-24.dahlia", basil: true}
	p.send(t, p.versionedEvent(future, "invoice.paid", future.invoice("in_future", "cus_f", "pi_f", 12000, 2000, refOnInvoice, p.ref)), "processed")
	if c, ok := p.conversion(t, "in_future"); !ok || c.AmountCents != 10000 {
		t.Fatalf("a newer version's taxed invoice: want 10000 before tax, got %+v", c)
	}

	basil := shapeOf("2025-03-31.basil")
	inv := basil.invoice("in_notax", "cus_n", "pi_n", 12000, 2000, refOnInvoice, p.ref)
	delete(inv, "total_taxes")
	delete(inv, "total_excluding_tax")
	ev := p.send(t, p.versionedEvent(basil, "invoice.paid", inv), "parked")
	if !strings.Contains(ev.Note, "total_taxes") || !strings.Contains(ev.Note, "2025-03-31.basil") || !strings.Contains(ev.Note, "in_notax") {
		t.Fatalf("the parked event should name the invoice, the field and the version: %q", ev.Note)
	}
	legacy := shapeOf("2023-10-16")
	old := legacy.invoice("in_oldnotax", "cus_o", "pi_o", 12000, 2000, refOnInvoice, p.ref)
	delete(old, "tax")
	delete(old, "total_excluding_tax")
	ev = p.send(t, p.versionedEvent(legacy, "invoice.paid", old), "parked")
	if !strings.Contains(ev.Note, "tax") || !strings.Contains(ev.Note, "2023-10-16") {
		t.Fatalf("the parked event should name the field and the version: %q", ev.Note)
	}
	for _, txn := range []string{"in_notax", "in_oldnotax"} {
		if _, ok := p.conversion(t, txn); ok {
			t.Fatalf("%s was credited without an established pre-tax amount", txn)
		}
	}
	if pending, _ := p.balance(t); pending != 2850 {
		t.Fatalf("want only the newer version's 2850 pending, got %d", pending)
	}
	checkLedger(t)
}
