package stripeevent

import (
	"encoding/json"
)

// Invoice is a paid invoice, as the money needs it.
type Invoice struct {
	ID       string
	Currency string
	Customer Customer
	// Ref is the ref the invoice carries in its own metadata;
	// SubscriptionRef the one in its subscription's.
	Ref, SubscriptionRef string
	AmountPaid           int64
	// PreTaxCents is what the customer paid, tax excluded: the amount a
	// commission is on.
	PreTaxCents int64
	// Payments are the payments the invoice names (before basil its
	// charge and payment intent; from basil on, its payments when the
	// event expands them).
	Payments []Payment
}

// Invoice reads an invoice in the reader's version.
func (r Reader) Invoice(raw json.RawMessage) (Invoice, error) {
	var v struct {
		ID                string            `json:"id"`
		Currency          string            `json:"currency"`
		Customer          ref               `json:"customer"`
		Metadata          map[string]string `json:"metadata"`
		AmountPaid        *int64            `json:"amount_paid"`
		Total             *int64            `json:"total"`
		TotalExcludingTax *int64            `json:"total_excluding_tax"`
		// Before basil.
		Tax                 json.RawMessage `json:"tax"` // a number or null; absent is not null
		SubscriptionDetails *struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"subscription_details"`
		Charge        ref `json:"charge"`
		PaymentIntent ref `json:"payment_intent"`
		// From basil on.
		TotalTaxes *[]struct {
			Amount int64 `json:"amount"`
		} `json:"total_taxes"`
		Parent *struct {
			SubscriptionDetails *struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"subscription_details"`
		} `json:"parent"`
		Payments *struct {
			Data []json.RawMessage `json:"data"`
		} `json:"payments"`
	}
	if err := decode("invoice", raw, &v); err != nil {
		return Invoice{}, err
	}
	missing := func(field, why string) error {
		return &MissingError{Object: "invoice", ID: v.ID, Field: field, Version: r.Version, Why: why}
	}
	if v.AmountPaid == nil {
		return Invoice{}, missing("amount_paid", "what the customer paid is unknown")
	}
	inv := Invoice{ID: v.ID, Currency: v.Currency, Customer: customerOf(v.Customer), Ref: v.Metadata[RefMetadataKey], AmountPaid: *v.AmountPaid}
	tax, ok := int64(0), false
	switch r.Shape {
	case Basil:
		if v.TotalTaxes != nil {
			for _, t := range *v.TotalTaxes {
				tax += t.Amount
			}
			ok = true
		}
		if v.Parent != nil && v.Parent.SubscriptionDetails != nil {
			inv.SubscriptionRef = v.Parent.SubscriptionDetails.Metadata[RefMetadataKey]
		}
		if v.Payments != nil {
			for _, p := range v.Payments.Data {
				ip, err := r.InvoicePayment(p)
				if err != nil {
					return Invoice{}, err
				}
				inv.Payments = append(inv.Payments, ip.Payment)
			}
		}
	default:
		if len(v.Tax) > 0 && string(v.Tax) != "null" {
			if err := json.Unmarshal(v.Tax, &tax); err != nil {
				return Invoice{}, &BadObjectError{Object: "invoice", Err: err}
			}
			ok = true
		}
		if v.SubscriptionDetails != nil {
			inv.SubscriptionRef = v.SubscriptionDetails.Metadata[RefMetadataKey]
		}
		if v.Charge.ID != "" || v.PaymentIntent.ID != "" {
			inv.Payments = append(inv.Payments, Payment{PaymentIntent: v.PaymentIntent.ID, Charge: v.Charge.ID})
		}
	}
	if !ok && v.Total != nil && v.TotalExcludingTax != nil {
		tax, ok = *v.Total-*v.TotalExcludingTax, true
	}
	if !ok && r.Shape == Legacy && string(v.Tax) == "null" {
		tax, ok = 0, true // before basil a null tax is an invoice without tax
	}
	if !ok {
		field := "tax (nor total and total_excluding_tax)"
		if r.Shape == Basil {
			field = "total_taxes (nor total and total_excluding_tax)"
		}
		return Invoice{}, missing(field, "the amount before tax cannot be established")
	}
	inv.PreTaxCents = inv.AmountPaid - tax
	return inv, nil
}

// InvoiceRefs reads only who an invoice is for and the refs it carries
// (customer, invoice, subscription), none of its money: enough to tell
// whether a refund of it concerns a referred customer.
func (r Reader) InvoiceRefs(raw json.RawMessage) (Invoice, error) {
	var v struct {
		ID                  string            `json:"id"`
		Customer            ref               `json:"customer"`
		Metadata            map[string]string `json:"metadata"`
		SubscriptionDetails *struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"subscription_details"`
		Parent *struct {
			SubscriptionDetails *struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"subscription_details"`
		} `json:"parent"`
	}
	if err := decode("invoice", raw, &v); err != nil {
		return Invoice{}, err
	}
	inv := Invoice{ID: v.ID, Customer: customerOf(v.Customer), Ref: v.Metadata[RefMetadataKey]}
	switch {
	case r.Shape == Basil && v.Parent != nil && v.Parent.SubscriptionDetails != nil:
		inv.SubscriptionRef = v.Parent.SubscriptionDetails.Metadata[RefMetadataKey]
	case r.Shape == Legacy && v.SubscriptionDetails != nil:
		inv.SubscriptionRef = v.SubscriptionDetails.Metadata[RefMetadataKey]
	}
	return inv, nil
}

// Charge is a charge, as a refund needs it.
type Charge struct {
	ID            string
	Customer      Customer
	Amount        int64
	Refunded      int64 // amount_refunded: cumulative
	PaymentIntent string
	// Invoice is the invoice the charge paid, when the version names it
	// (before basil); from basil on an invoice payment ties them.
	Invoice string
}

// Charge reads a charge in the reader's version.
func (r Reader) Charge(raw json.RawMessage) (Charge, error) {
	var v struct {
		ID             string `json:"id"`
		Customer       ref    `json:"customer"`
		Amount         *int64 `json:"amount"`
		AmountRefunded int64  `json:"amount_refunded"`
		PaymentIntent  ref    `json:"payment_intent"`
		Invoice        ref    `json:"invoice"` // before basil
	}
	if err := decode("charge", raw, &v); err != nil {
		return Charge{}, err
	}
	if v.Amount == nil {
		return Charge{}, &MissingError{Object: "charge", ID: v.ID, Field: "amount", Version: r.Version, Why: "the refunded share of the payment cannot be established"}
	}
	c := Charge{ID: v.ID, Customer: customerOf(v.Customer), Amount: *v.Amount, Refunded: v.AmountRefunded, PaymentIntent: v.PaymentIntent.ID}
	if r.Shape == Legacy {
		c.Invoice = v.Invoice.ID
	}
	return c, nil
}

// Dispute is a dispute of a charge.
type Dispute struct {
	ID            string
	Amount        int64
	PaymentIntent string
	// Charge is the disputed charge; Full says the event carries the whole
	// charge (expanded), not only its id.
	Charge Charge
	Full   bool
}

// Dispute reads a dispute in the reader's version.
func (r Reader) Dispute(raw json.RawMessage) (Dispute, error) {
	var v struct {
		ID            string          `json:"id"`
		Amount        *int64          `json:"amount"`
		Charge        json.RawMessage `json:"charge"`
		PaymentIntent ref             `json:"payment_intent"`
	}
	if err := decode("dispute", raw, &v); err != nil {
		return Dispute{}, err
	}
	if v.Amount == nil {
		return Dispute{}, &MissingError{Object: "dispute", ID: v.ID, Field: "amount", Version: r.Version, Why: "the disputed amount is unknown"}
	}
	d := Dispute{ID: v.ID, Amount: *v.Amount, PaymentIntent: v.PaymentIntent.ID}
	switch {
	case len(v.Charge) > 0 && v.Charge[0] == '{':
		ch, err := r.Charge(v.Charge)
		if err != nil {
			return Dispute{}, err
		}
		d.Charge, d.Full = ch, true
	case len(v.Charge) > 0 && v.Charge[0] == '"':
		if err := json.Unmarshal(v.Charge, &d.Charge.ID); err != nil {
			return Dispute{}, &BadObjectError{Object: "dispute", Err: err}
		}
	}
	if d.Charge.PaymentIntent == "" {
		d.Charge.PaymentIntent = d.PaymentIntent
	}
	return d, nil
}

// InvoicePayment ties a payment to the invoice it paid (basil and later).
type InvoicePayment struct {
	ID, Invoice, Status string
	Payment             Payment
}

// InvoicePayment reads an invoice payment.
func (r Reader) InvoicePayment(raw json.RawMessage) (InvoicePayment, error) {
	var v struct {
		ID      string `json:"id"`
		Invoice ref    `json:"invoice"`
		Status  string `json:"status"`
		Payment struct {
			PaymentIntent ref `json:"payment_intent"`
			Charge        ref `json:"charge"`
		} `json:"payment"`
	}
	if err := decode("invoice_payment", raw, &v); err != nil {
		return InvoicePayment{}, err
	}
	if v.Invoice.ID == "" {
		return InvoicePayment{}, &MissingError{Object: "invoice_payment", ID: v.ID, Field: "invoice", Version: r.Version, Why: "the payment cannot be tied to an invoice"}
	}
	return InvoicePayment{ID: v.ID, Invoice: v.Invoice.ID, Status: v.Status,
		Payment: Payment{PaymentIntent: v.Payment.PaymentIntent.ID, Charge: v.Payment.Charge.ID}}, nil
}

// Checkout is a completed Checkout session.
type Checkout struct {
	ID, Mode, PaymentStatus, Currency string
	Customer                          Customer
	// Ref is the session's client_reference_id, else its metadata's ref.
	Ref           string
	PreTaxCents   int64 // amount_total − total_details.amount_tax
	PaymentIntent string
}

// Checkout reads a Checkout session (the same in every version read here).
func (r Reader) Checkout(raw json.RawMessage) (Checkout, error) {
	var v struct {
		ID                string            `json:"id"`
		Mode              string            `json:"mode"`
		PaymentStatus     string            `json:"payment_status"`
		Currency          string            `json:"currency"`
		Customer          ref               `json:"customer"`
		ClientReferenceID string            `json:"client_reference_id"`
		Metadata          map[string]string `json:"metadata"`
		AmountTotal       int64             `json:"amount_total"`
		TotalDetails      *struct {
			AmountTax int64 `json:"amount_tax"`
		} `json:"total_details"`
		PaymentIntent ref `json:"payment_intent"`
	}
	if err := decode("checkout session", raw, &v); err != nil {
		return Checkout{}, err
	}
	c := Checkout{ID: v.ID, Mode: v.Mode, PaymentStatus: v.PaymentStatus, Currency: v.Currency,
		Customer: customerOf(v.Customer), Ref: v.ClientReferenceID, PreTaxCents: v.AmountTotal, PaymentIntent: v.PaymentIntent.ID}
	if c.Ref == "" {
		c.Ref = v.Metadata[RefMetadataKey]
	}
	if v.TotalDetails != nil {
		c.PreTaxCents -= v.TotalDetails.AmountTax
	}
	return c, nil
}
