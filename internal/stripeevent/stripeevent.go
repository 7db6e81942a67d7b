// Package stripeevent reads the Stripe objects the money needs out of an
// event, by the API version the event names. A webhook endpoint renders
// its events in the version it was created with (else the account's
// default), so one platform receives old and new shapes side by side.
// Stripe's 2025-03-31.basil release moved what matters here: the invoice's
// tax (tax → total_taxes), its subscription (subscription,
// subscription_details → parent.subscription_details) and the links
// between charges and invoices (charge.invoice, invoice.charge and
// invoice.payment_intent are gone; invoice_payment objects tie them).
//
// Each object has one reader per shape, which decodes only the fields the
// money needs and says which required field is missing rather than
// guessing: a pre-tax amount the reader could not establish is an error,
// never a credit.
package stripeevent

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// RefMetadataKey is where an app puts the ref code on its Stripe
// customers, subscriptions, invoices and checkout sessions (the guide's
// example).
const RefMetadataKey = "agentlinks_ref"

// Shape is how a range of API versions renders the objects read here.
type Shape int

const (
	// Legacy is 2023-10-16 and the versions before basil (stripe-go v76's
	// own version is 2023-10-16).
	Legacy Shape = iota
	// Basil is 2025-03-31.basil and every version after it (clover, …).
	Basil
)

func (s Shape) String() string {
	if s == Basil {
		return "basil"
	}
	return "legacy"
}

// basil is the first version with the new shapes.
const basil = "2025-03-31"

var versionDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)

// ShapeOf is the shape of an API version. A version newer than any this
// code knows (or one it cannot read) is read with the newest reader; an
// event with no version is from before versions were named, and legacy.
func ShapeOf(apiVersion string) Shape {
	if apiVersion == "" {
		return Legacy
	}
	d := versionDate.FindString(apiVersion)
	if d == "" || d >= basil {
		return Basil
	}
	return Legacy
}

// Reader reads objects rendered in one API version.
type Reader struct {
	Version string
	Shape   Shape
}

// For returns the reader of an API version.
func For(apiVersion string) Reader {
	return Reader{Version: apiVersion, Shape: ShapeOf(apiVersion)}
}

// MissingError is an object without a field its version requires: no
// retry can fill it in.
type MissingError struct {
	Object, ID, Field, Version string
	Why                        string // what cannot be established without it
}

func (e *MissingError) Error() string {
	v := e.Version
	if v == "" {
		v = "unnamed"
	}
	return fmt.Sprintf("%s %s (API version %s) has no %s: %s", e.Object, e.ID, v, e.Field, e.Why)
}

// BadObjectError is an object that is not JSON of the expected shape.
type BadObjectError struct {
	Object string
	Err    error
}

func (e *BadObjectError) Error() string { return "unreadable " + e.Object + ": " + e.Err.Error() }
func (e *BadObjectError) Unwrap() error { return e.Err }

func decode(object string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return &BadObjectError{Object: object, Err: err}
	}
	return nil
}

// ref is an expandable field: an id, or the object with its id (and, for
// the objects that carry one, its metadata).
type ref struct {
	ID       string
	Metadata map[string]string
}

func (r *ref) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &r.ID)
	}
	var o struct {
		ID       string            `json:"id"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	r.ID, r.Metadata = o.ID, o.Metadata
	return nil
}

// Customer is who paid: the id, and the ref when the event carries the
// customer's metadata.
type Customer struct {
	ID, Ref string
}

func customerOf(r ref) Customer { return Customer{ID: r.ID, Ref: r.Metadata[RefMetadataKey]} }

// Payment is one way an invoice was paid: the ids a refund or dispute of
// it names.
type Payment struct {
	PaymentIntent, Charge string
}

// Customer reads a customer object.
func (r Reader) Customer(raw json.RawMessage) (Customer, error) {
	var c ref
	if err := decode("customer", raw, &c); err != nil {
		return Customer{}, err
	}
	return customerOf(c), nil
}
