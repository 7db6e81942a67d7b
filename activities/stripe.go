package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// RefMetadataKey is where an app puts the ref code on its Stripe customers,
// subscriptions and checkout sessions (the guide's example).
const RefMetadataKey = "agentlinks_ref"

// ErrTypeBadStripeEvent is an event no retry can make sense of.
const ErrTypeBadStripeEvent = "BadStripeEvent"

// Payments is how a Stripe event moves money: through the conversion's
// own workflow, as the tracking API does. The service implements it and is
// set at wiring; an activity cannot start workflows of its own without
// reaching up into the layer that owns them. A *refusal.Error means bad
// data on the app's side (an unknown ref in metadata): no retry fixes it
// and no money moves.
type Payments interface {
	// RecordPayment records a referred customer's payment for the app;
	// the same transaction again credits nothing.
	RecordPayment(ctx context.Context, appID string, p conversion.Payment) (conversion.State, error)
	// RefundPayment reverses amountCents of a recorded conversion; key
	// names the refund, so that a repeat is answered, not applied.
	RefundPayment(ctx context.Context, conv db.Conversion, amountCents int64, key string) (conversion.Refunded, error)
}

// Event outcomes, stored on the event row.
const (
	statusProcessed = "processed"
	statusIgnored   = "ignored"
	statusParked    = "parked"
)

// ProcessStripeEvent does what one stored event means, and records how it
// ended. A retryable error means "not yet" (a refund before its payment);
// the workflow retries it, then parks it.
func (a *Activities) ProcessStripeEvent(ctx context.Context, eventID string) (string, error) {
	q := a.Q
	row, err := q.GetStripeEvent(ctx, eventID)
	if err != nil {
		return "", fmt.Errorf("load stripe event %s: %w", eventID, err)
	}
	if row.Status != "received" {
		return row.Status + ": " + row.Note, nil // done before this retry
	}
	var evt stripe.Event
	if err := json.Unmarshal(row.Payload, &evt); err != nil || evt.Data == nil {
		return a.finish(ctx, row, nil, statusIgnored, "payload is not a Stripe event")
	}
	if evt.Type == "account.application.deauthorized" {
		n, err := q.DisconnectStripeAccount(ctx, &row.Account)
		if err != nil {
			return "", err
		}
		return a.finish(ctx, row, nil, statusProcessed, fmt.Sprintf("account %s deauthorized (%d app disconnected)", row.Account, n))
	}
	app, err := q.GetAppByStripeAccount(ctx, &row.Account)
	if errors.Is(err, pgx.ErrNoRows) {
		return a.finish(ctx, row, nil, statusIgnored, "no app is connected to account "+row.Account)
	}
	if err != nil {
		return "", err
	}
	e := &event{ctx: ctx, a: a, app: app, account: row.Account, raw: evt.Data.Raw}
	var status, note string
	switch evt.Type {
	case "customer.created", "customer.updated":
		status, note, err = e.customer()
	case "invoice.paid":
		status, note, err = e.invoicePaid()
	case "checkout.session.completed":
		status, note, err = e.checkoutCompleted()
	case "charge.refunded":
		status, note, err = e.chargeRefunded()
	case "charge.dispute.created":
		status, note, err = e.disputeCreated()
	default:
		status, note = statusIgnored, "event type "+string(evt.Type)+" is not used"
	}
	if err != nil {
		return "", err
	}
	return a.finish(ctx, row, &app.ID, status, note)
}

// ParkStripeEvent sets an event aside, with the reason, for an operator.
func (a *Activities) ParkStripeEvent(ctx context.Context, eventID, reason string) error {
	row, err := a.Q.GetStripeEvent(ctx, eventID)
	if err != nil {
		return err
	}
	_, err = a.finish(ctx, row, row.AppID, statusParked, reason)
	return err
}

func (a *Activities) finish(ctx context.Context, row db.StripeEvent, appID *string, status, note string) (string, error) {
	if err := a.Q.FinishStripeEvent(ctx, db.FinishStripeEventParams{ID: row.ID, Status: status, Note: note, AppID: appID}); err != nil {
		return "", err
	}
	return status + ": " + note, nil
}

// event is one event being processed for a connected app.
type event struct {
	ctx     context.Context
	a       *Activities
	app     db.App
	account string
	raw     json.RawMessage
}

func (e *event) decode(v any) error {
	if err := json.Unmarshal(e.raw, v); err != nil {
		return temporal.NewNonRetryableApplicationError("unreadable event object: "+err.Error(), ErrTypeBadStripeEvent, err)
	}
	return nil
}

func (e *event) customer() (string, string, error) {
	var c stripe.Customer
	if err := e.decode(&c); err != nil {
		return "", "", err
	}
	if err := e.remember(c.ID, c.Metadata[RefMetadataKey]); err != nil {
		return "", "", err
	}
	if ref := c.Metadata[RefMetadataKey]; ref != "" {
		return statusProcessed, "customer " + c.ID + " carries ref " + ref, nil
	}
	return statusIgnored, "customer " + c.ID + " has no ref", nil
}

func (e *event) remember(customerID, ref string) error {
	if customerID == "" {
		return nil
	}
	var p *string
	if ref != "" {
		p = &ref
	}
	return e.a.Q.RememberStripeCustomer(e.ctx, db.RememberStripeCustomerParams{
		Account: e.account, CustomerID: customerID, RefCode: p,
	})
}

// refFor finds a customer's ref: what the event carries, else what was
// remembered, else the customer fetched from the connected account (and
// remembered). "" means the customer was not referred.
func (e *event) refFor(ctx context.Context, customerID string, carried ...string) (string, error) {
	for _, r := range carried {
		if r != "" {
			return r, nil
		}
	}
	if customerID == "" {
		return "", nil
	}
	known, err := e.a.Q.GetStripeCustomer(ctx, db.GetStripeCustomerParams{Account: e.account, CustomerID: customerID})
	if err == nil {
		if known.RefCode == nil {
			return "", nil
		}
		return *known.RefCode, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	c, err := e.a.Stripe.Customer(ctx, e.account, customerID)
	if err != nil {
		return "", err
	}
	if c == nil { // deleted, or never on this account
		return "", nil
	}
	ref := c.Metadata[RefMetadataKey]
	return ref, e.remember(customerID, ref)
}

func (e *event) invoicePaid() (string, string, error) {
	ctx := e.ctx
	var inv stripe.Invoice
	if err := e.decode(&inv); err != nil {
		return "", "", err
	}
	// What the customer actually paid, tax excluded.
	amount := inv.AmountPaid - inv.Tax
	if amount <= 0 {
		return statusIgnored, fmt.Sprintf("invoice %s paid %d cents before tax: nothing to credit", inv.ID, amount), nil
	}
	var carried []string
	if inv.SubscriptionDetails != nil {
		carried = append(carried, inv.SubscriptionDetails.Metadata[RefMetadataKey])
	}
	carried = append(carried, inv.Metadata[RefMetadataKey])
	var customerID string
	if inv.Customer != nil {
		customerID = inv.Customer.ID
		carried = append(carried, inv.Customer.Metadata[RefMetadataKey])
	}
	ref, err := e.refFor(ctx, customerID, carried...)
	if err != nil {
		return "", "", err
	}
	return e.convert(ctx, ref, customerID, inv.ID, string(inv.Currency), amount, "invoice "+inv.ID)
}

func (e *event) checkoutCompleted() (string, string, error) {
	ctx := e.ctx
	var cs stripe.CheckoutSession
	if err := e.decode(&cs); err != nil {
		return "", "", err
	}
	if cs.Mode != stripe.CheckoutSessionModePayment {
		// Subscriptions are credited per paid invoice.
		return statusIgnored, "checkout " + cs.ID + " in " + string(cs.Mode) + " mode is credited by its invoices", nil
	}
	if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
		return statusIgnored, "checkout " + cs.ID + " is not paid", nil
	}
	amount := cs.AmountTotal
	if cs.TotalDetails != nil {
		amount -= cs.TotalDetails.AmountTax
	}
	if amount <= 0 {
		return statusIgnored, fmt.Sprintf("checkout %s paid %d cents before tax", cs.ID, amount), nil
	}
	var customerID string
	if cs.Customer != nil {
		customerID = cs.Customer.ID
	}
	ref, err := e.refFor(ctx, customerID, cs.ClientReferenceID, cs.Metadata[RefMetadataKey])
	if err != nil {
		return "", "", err
	}
	if customerID != "" && ref != "" {
		if err := e.remember(customerID, ref); err != nil {
			return "", "", err
		}
	}
	// The payment intent is what a later charge.refunded names.
	txn := cs.ID
	if cs.PaymentIntent != nil && cs.PaymentIntent.ID != "" {
		txn = cs.PaymentIntent.ID
	}
	user := customerID
	if user == "" {
		user = cs.ID
	}
	return e.convert(ctx, ref, user, txn, string(cs.Currency), amount, "checkout "+cs.ID)
}

// convert records the conversion; a currency other than the program's is
// refused (ignored with the reason), never converted silently.
func (e *event) convert(ctx context.Context, ref, user, txn, currency string, amount int64, what string) (string, string, error) {
	if ref == "" {
		return statusIgnored, what + ": the customer has no " + RefMetadataKey, nil
	}
	c, err := e.a.Payments.RecordPayment(ctx, e.app.ID, conversion.Payment{
		Ref: ref, UserID: user, AmountCents: amount, TransactionID: txn, Currency: currency,
	})
	var te *refusal.Error
	if errors.As(err, &te) {
		// Bad data on the app's side (an unknown ref in metadata): no retry
		// will fix it, and no money moves.
		return statusIgnored, what + ": " + te.Message, nil
	}
	if err != nil {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("%s: conversion %s of %d cents, commission %d", what, c.ID, amount, c.Commission.CommissionCents), nil
}
