package stripeevent

import (
	"errors"
	"strings"
	"testing"
)

func TestShapeOf(t *testing.T) {
	for v, want := range map[string]Shape{
		"":                  Legacy, // events from before versions were named
		"2020-08-27":        Legacy,
		"2023-10-16":        Legacy,
		"2024-12-18.acacia": Legacy,
		"2025-02-24.acacia": Legacy,
		"2025-03-31.basil":  Basil,
		"2025-09-30.clover": Basil,
		"2031-01-01.zinnia": Basil, // newer than any known: the newest reader
		"preview":           Basil, // unreadable: the newest reader
	} {
		if got := ShapeOf(v); got != want {
			t.Errorf("ShapeOf(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestInvoicePreTaxAndRefsInEachShape(t *testing.T) {
	for _, c := range []struct {
		name, version, raw string
		preTax             int64
		ref, subRef, cust  string
		payments           int
	}{
		{"legacy tax", "2023-10-16",
			`{"id":"in_1","amount_paid":12000,"tax":2000,"customer":{"id":"cus_1","metadata":{"agentlinks_ref":"c1"}},"subscription_details":{"metadata":{"agentlinks_ref":"s1"}},"charge":"ch_1","payment_intent":"pi_1"}`,
			10000, "", "s1", "c1", 1},
		{"legacy null tax is no tax", "2023-10-16", `{"id":"in_2","amount_paid":5000,"tax":null,"customer":"cus_2","metadata":{"agentlinks_ref":"i2"}}`,
			5000, "i2", "", "", 0},
		{"legacy without tax: total and total_excluding_tax", "2022-11-15", `{"id":"in_3","amount_paid":12000,"total":12000,"total_excluding_tax":10000}`,
			10000, "", "", "", 0},
		{"basil total_taxes", "2025-03-31.basil",
			`{"id":"in_4","amount_paid":12100,"total_taxes":[{"amount":1500},{"amount":600}],"total":12100,"total_excluding_tax":10000,"parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_4","metadata":{"agentlinks_ref":"s4"}}}}`,
			10000, "", "s4", "", 0},
		{"basil ignores the legacy fields", "2025-09-30.clover",
			`{"id":"in_5","amount_paid":10000,"total_taxes":[],"tax":999,"subscription_details":{"metadata":{"agentlinks_ref":"old"}},"charge":"ch_5"}`,
			10000, "", "", "", 0},
		{"basil without total_taxes: total and total_excluding_tax", "2025-03-31.basil", `{"id":"in_6","amount_paid":11000,"total":11000,"total_excluding_tax":10000}`,
			10000, "", "", "", 0},
		{"basil payments expanded", "2025-03-31.basil",
			`{"id":"in_7","amount_paid":100,"total_taxes":[],"payments":{"data":[{"id":"inpay_1","invoice":"in_7","payment":{"type":"payment_intent","payment_intent":"pi_7"}}]}}`,
			100, "", "", "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv, err := For(c.version).Invoice([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			if inv.PreTaxCents != c.preTax || inv.Ref != c.ref || inv.SubscriptionRef != c.subRef || inv.Customer.Ref != c.cust || len(inv.Payments) != c.payments {
				t.Fatalf("got %+v", inv)
			}
		})
	}
}

func TestInvoiceWithoutATaxFieldIsAnErrorNamingIt(t *testing.T) {
	for version, field := range map[string]string{"2023-10-16": "no tax", "2025-03-31.basil": "no total_taxes"} {
		_, err := For(version).Invoice([]byte(`{"id":"in_x","amount_paid":12000,"total":12000}`))
		var missing *MissingError
		if !errors.As(err, &missing) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), version) || !strings.Contains(err.Error(), "in_x") {
			t.Errorf("%s: want a MissingError naming %q, the version and the invoice, got %v", version, field, err)
		}
	}
	if _, err := For("2025-03-31.basil").Invoice([]byte(`{"id":"in_y","total_taxes":[]}`)); err == nil || !strings.Contains(err.Error(), "amount_paid") {
		t.Errorf("an invoice without amount_paid: %v", err)
	}
	var bad *BadObjectError
	if _, err := For("2023-10-16").Invoice([]byte(`{"id":1}`)); !errors.As(err, &bad) {
		t.Errorf("a malformed invoice: %v", err)
	}
}

func TestChargeNamesItsInvoiceOnlyBeforeBasil(t *testing.T) {
	raw := []byte(`{"id":"ch_1","amount":10000,"amount_refunded":2500,"invoice":"in_1","payment_intent":{"id":"pi_1"},"customer":"cus_1"}`)
	old, err := For("2023-10-16").Charge(raw)
	if err != nil || old.Invoice != "in_1" || old.PaymentIntent != "pi_1" || old.Refunded != 2500 || old.Customer.ID != "cus_1" {
		t.Fatalf("legacy: %+v %v", old, err)
	}
	now, err := For("2025-03-31.basil").Charge(raw)
	if err != nil || now.Invoice != "" || now.PaymentIntent != "pi_1" {
		t.Fatalf("basil: %+v %v", now, err)
	}
}

func TestDisputeAndInvoicePayment(t *testing.T) {
	d, err := For("2025-09-30.clover").Dispute([]byte(`{"id":"dp_1","amount":400,"charge":"ch_1","payment_intent":"pi_1"}`))
	if err != nil || d.Full || d.Charge.ID != "ch_1" || d.Charge.PaymentIntent != "pi_1" || d.Amount != 400 {
		t.Fatalf("dispute by charge id: %+v %v", d, err)
	}
	d, err = For("2023-10-16").Dispute([]byte(`{"id":"dp_2","amount":400,"charge":{"id":"ch_2","amount":1000,"invoice":"in_2"}}`))
	if err != nil || !d.Full || d.Charge.Invoice != "in_2" || d.Charge.Amount != 1000 {
		t.Fatalf("dispute with its charge: %+v %v", d, err)
	}
	ip, err := For("2025-03-31.basil").InvoicePayment([]byte(`{"id":"inpay_1","invoice":{"id":"in_3"},"payment":{"type":"charge","charge":"ch_3"}}`))
	if err != nil || ip.Invoice != "in_3" || ip.Payment.Charge != "ch_3" {
		t.Fatalf("invoice payment: %+v %v", ip, err)
	}
	if _, err := For("2025-03-31.basil").InvoicePayment([]byte(`{"id":"inpay_2"}`)); err == nil {
		t.Fatal("an invoice payment without its invoice was read")
	}
}
