package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/internal/stripeevent"
)

// RefMetadataKey is where an app puts the ref code on its Stripe customers,
// subscriptions and checkout sessions (the guide's example).
const RefMetadataKey = stripeevent.RefMetadataKey

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
// the workflow retries it, then parks it. An event its version's reader
// cannot read (a required field missing) is a non-retryable error: parked
// at once, with the field and the version in the reason.
func (a *Activities) ProcessStripeEvent(ctx context.Context, eventID string) (string, error) {
	q := a.Q
	row, err := q.GetStripeEvent(ctx, eventID)
	if err != nil {
		return "", fmt.Errorf("load stripe event %s: %w", eventID, err)
	}
	if row.Status != "received" {
		return row.Status + ": " + row.Note, nil // done before this retry
	}
	var evt struct {
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
		Created    int64  `json:"created"`
		Data       *struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
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
	switch evt.Type {
	case "account.updated":
		if status, note, err := a.payoutAccountUpdated(ctx, row.Account, evt.Data.Object, time.Unix(evt.Created, 0)); err != nil || status != "" {
			if err != nil {
				return "", err
			}
			return a.finish(ctx, row, nil, status, note)
		}
	case "transfer.reversed":
		status, note, err := a.transferReversed(ctx, evt.Data.Object)
		if err != nil {
			return "", err
		}
		return a.finish(ctx, row, nil, status, note)
	}
	app, err := q.GetAppByStripeAccount(ctx, &row.Account)
	if errors.Is(err, pgx.ErrNoRows) {
		return a.finish(ctx, row, nil, statusIgnored, "no app is connected to account "+row.Account)
	}
	if err != nil {
		return "", err
	}
	e := &event{ctx: ctx, a: a, app: app, account: row.Account, raw: evt.Data.Object, read: stripeevent.For(evt.APIVersion)}
	var status, note string
	switch evt.Type {
	case "customer.created", "customer.updated":
		status, note, err = e.customer()
	case "invoice.paid":
		status, note, err = e.invoicePaid()
	case "invoice_payment.paid":
		status, note, err = e.invoicePaymentPaid()
	case "checkout.session.completed":
		status, note, err = e.checkoutCompleted()
	case "charge.refunded":
		status, note, err = e.chargeRefunded()
	case "charge.dispute.created":
		status, note, err = e.disputeCreated()
	default:
		status, note = statusIgnored, "event type "+evt.Type+" is not used"
	}
	if err != nil {
		return "", unreadable(err)
	}
	return a.finish(ctx, row, &app.ID, status, note)
}

// unreadable makes an event its reader could not read non-retryable.
func unreadable(err error) error {
	var missing *stripeevent.MissingError
	var bad *stripeevent.BadObjectError
	if errors.As(err, &missing) || errors.As(err, &bad) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadStripeEvent, err)
	}
	return err
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
	a.Metrics.StripeEvent(status)
	return status + ": " + note, nil
}

// event is one event being processed for a connected app.
type event struct {
	ctx     context.Context
	a       *Activities
	app     db.App
	account string
	raw     json.RawMessage
	read    stripeevent.Reader // the event's API version
}

func (e *event) customer() (string, string, error) {
	c, err := e.read.Customer(e.raw)
	if err != nil {
		return "", "", err
	}
	if err := e.remember(c.ID, c.Ref); err != nil {
		return "", "", err
	}
	if c.Ref != "" {
		return statusProcessed, "customer " + c.ID + " carries ref " + c.Ref, nil
	}
	return statusIgnored, "customer " + c.ID + " has no ref", nil
}

func (e *event) remember(customerID, ref string) error {
	if customerID == "" {
		return nil
	}
	return e.a.Q.RememberStripeCustomer(e.ctx, db.RememberStripeCustomerParams{
		Account: e.account, CustomerID: customerID, RefCode: db.OptionalText(ref),
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
	inv, err := e.read.Invoice(e.raw)
	if err != nil {
		return "", "", err
	}
	// The payments the invoice names are aliases of its conversion: a
	// refund of one of them finds the invoice by it.
	for _, p := range inv.Payments {
		if err := e.alias(inv.ID, p); err != nil {
			return "", "", err
		}
	}
	// What the customer actually paid, tax excluded.
	amount := inv.PreTaxCents
	if amount <= 0 {
		return statusIgnored, fmt.Sprintf("invoice %s paid %d cents before tax: nothing to credit", inv.ID, amount), nil
	}
	ref, err := e.refFor(ctx, inv.Customer.ID, inv.SubscriptionRef, inv.Ref, inv.Customer.Ref)
	if err != nil {
		return "", "", err
	}
	if inv.Customer.ID != "" && ref != "" {
		// The customer is referred, wherever the ref came from: their
		// later payments and refunds are this creator's too.
		if err := e.remember(inv.Customer.ID, ref); err != nil {
			return "", "", err
		}
	}
	return e.convert(ctx, ref, inv.Customer.ID, inv.ID, inv.Currency, amount, "invoice "+inv.ID)
}

// invoicePaymentPaid remembers which invoice a payment paid (basil and
// later, where a charge no longer says).
func (e *event) invoicePaymentPaid() (string, string, error) {
	ip, err := e.read.InvoicePayment(e.raw)
	if err != nil {
		return "", "", err
	}
	if err := e.alias(ip.Invoice, ip.Payment); err != nil {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("invoice payment %s: payment %s%s of invoice %s remembered",
		ip.ID, ip.Payment.PaymentIntent, ip.Payment.Charge, ip.Invoice), nil
}

// alias remembers a payment's ids as aliases of the invoice it paid.
func (e *event) alias(invoiceID string, p stripeevent.Payment) error {
	for _, id := range []string{p.PaymentIntent, p.Charge} {
		if id == "" || invoiceID == "" {
			continue
		}
		if err := e.a.Q.RememberStripePayment(e.ctx, db.RememberStripePaymentParams{
			Account: e.account, PaymentID: id, InvoiceID: invoiceID,
		}); err != nil {
			return err
		}
	}
	return nil
}

func (e *event) checkoutCompleted() (string, string, error) {
	ctx := e.ctx
	cs, err := e.read.Checkout(e.raw)
	if err != nil {
		return "", "", err
	}
	if cs.Mode != "payment" {
		// Subscriptions are credited per paid invoice.
		return statusIgnored, "checkout " + cs.ID + " in " + cs.Mode + " mode is credited by its invoices", nil
	}
	if cs.PaymentStatus != "paid" {
		return statusIgnored, "checkout " + cs.ID + " is not paid", nil
	}
	amount := cs.PreTaxCents
	if amount <= 0 {
		return statusIgnored, fmt.Sprintf("checkout %s paid %d cents before tax", cs.ID, amount), nil
	}
	customerID := cs.Customer.ID
	ref, err := e.refFor(ctx, customerID, cs.Ref)
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
	if cs.PaymentIntent != "" {
		txn = cs.PaymentIntent
	}
	user := customerID
	if user == "" {
		user = cs.ID
	}
	return e.convert(ctx, ref, user, txn, cs.Currency, amount, "checkout "+cs.ID)
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
