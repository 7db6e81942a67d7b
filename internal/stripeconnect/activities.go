package stripeconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/tracking"
	"github.com/agentlinks/agentlinks/workflows"
)

// RefMetadataKey is where an app puts the ref code on its Stripe customers,
// subscriptions and checkout sessions (the guide's example).
const RefMetadataKey = "agentlinks_ref"

// Activities process stored Stripe events for StripeEventWorkflow.
type Activities struct {
	svc      *Service
	tracking *tracking.Service
}

// NewActivities returns the activities over the service and the tracking
// service that records conversions and refunds.
func NewActivities(svc *Service, t *tracking.Service) *Activities {
	return &Activities{svc: svc, tracking: t}
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
	q := a.svc.q
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
	row, err := a.svc.q.GetStripeEvent(ctx, eventID)
	if err != nil {
		return err
	}
	_, err = a.finish(ctx, row, row.AppID, statusParked, reason)
	return err
}

func (a *Activities) finish(ctx context.Context, row db.StripeEvent, appID *string, status, note string) (string, error) {
	if err := a.svc.q.FinishStripeEvent(ctx, db.FinishStripeEventParams{ID: row.ID, Status: status, Note: note, AppID: appID}); err != nil {
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
		return temporal.NewNonRetryableApplicationError("unreadable event object: "+err.Error(), workflows.ErrTypeBadStripeEvent, err)
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
	return e.a.svc.q.RememberStripeCustomer(e.ctx, db.RememberStripeCustomerParams{
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
	known, err := e.a.svc.q.GetStripeCustomer(ctx, db.GetStripeCustomerParams{Account: e.account, CustomerID: customerID})
	if err == nil {
		if known.RefCode == nil {
			return "", nil
		}
		return *known.RefCode, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	c, err := e.a.svc.stripe.Customers.Get(customerID, &stripe.CustomerParams{
		Params: stripe.Params{Context: ctx, StripeAccount: stripe.String(e.account)},
	})
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == 404 {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("fetch customer %s from %s: %w", customerID, e.account, err)
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
	c, _, err := e.a.tracking.RecordFor(ctx, e.app.ID, tracking.ConversionInput{
		Ref: ref, UserID: user, AmountCents: amount, TransactionID: txn, Currency: currency,
	})
	var te *tracking.Error
	if errors.As(err, &te) {
		// Bad data on the app's side (an unknown ref in metadata): no retry
		// will fix it, and no money moves.
		return statusIgnored, what + ": " + te.Message, nil
	}
	if err != nil {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("%s: conversion %s of %d cents, commission %d", what, c.ConversionID, amount, c.Commission.CommissionCents), nil
}

// conversionFor finds the conversion a charge paid for: by invoice, else
// payment intent, else the charge itself.
func (e *event) conversionFor(ctx context.Context, txns ...string) (db.Conversion, bool, error) {
	for _, t := range txns {
		if t == "" {
			continue
		}
		key := "txn:" + t
		c, err := e.a.svc.q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: e.app.ID, DedupeKey: &key})
		if err == nil {
			return c, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return c, false, err
		}
	}
	return db.Conversion{}, false, nil
}

func (e *event) chargeRefunded() (string, string, error) {
	ctx := e.ctx
	var ch stripe.Charge
	if err := e.decode(&ch); err != nil {
		return "", "", err
	}
	conv, found, err := e.conversionFor(ctx, idOf(ch.Invoice), idOf(ch.PaymentIntent), ch.ID)
	if err != nil {
		return "", "", err
	}
	if !found {
		return e.notYet(ctx, ch.Customer, "refund of charge "+ch.ID)
	}
	// Stripe says how much of the charge is refunded so far; the conversion
	// is the charge before tax, so it is refunded in the same proportion.
	// Computed on the cumulative amount, a redelivered or out-of-order
	// refund event moves nothing twice.
	target := proportion(ch.AmountRefunded, conv.AmountCents, ch.Amount)
	key := fmt.Sprintf("stripe:%s:%d", ch.ID, ch.AmountRefunded)
	return e.refundTo(ctx, conv, target, key, "refund of charge "+ch.ID)
}

func (e *event) disputeCreated() (string, string, error) {
	ctx := e.ctx
	var d stripe.Dispute
	if err := e.decode(&d); err != nil {
		return "", "", err
	}
	ch := d.Charge
	if ch != nil && ch.ID != "" && ch.Amount == 0 {
		// The event names the charge only: fetch it for its invoice and amount.
		full, err := e.a.svc.stripe.Charges.Get(ch.ID, &stripe.ChargeParams{
			Params: stripe.Params{Context: ctx, StripeAccount: stripe.String(e.account)},
		})
		if err != nil {
			return "", "", fmt.Errorf("fetch charge %s: %w", ch.ID, err)
		}
		ch = full
	}
	if ch == nil {
		ch = &stripe.Charge{}
	}
	conv, found, err := e.conversionFor(ctx, idOf(ch.Invoice), idOf(d.PaymentIntent), idOf(ch.PaymentIntent), ch.ID)
	if err != nil {
		return "", "", err
	}
	if !found {
		return e.notYet(ctx, ch.Customer, "dispute "+d.ID)
	}
	// A dispute is a refund of the disputed amount, on top of any refund.
	disputed := d.Amount
	if ch.Amount > 0 {
		disputed = proportion(d.Amount, conv.AmountCents, ch.Amount)
	}
	return e.refundTo(ctx, conv, conv.RefundedCents+disputed, "stripe:"+d.ID, "dispute "+d.ID)
}

// refundTo refunds the conversion up to target cents in all (never more than
// it was), under a key that names this Stripe refund.
func (e *event) refundTo(ctx context.Context, conv db.Conversion, target int64, key, what string) (string, string, error) {
	target = min(target, conv.AmountCents)
	delta := target - conv.RefundedCents
	if delta <= 0 {
		return statusProcessed, fmt.Sprintf("%s: conversion %s already has %d cents refunded", what, conv.ID, conv.RefundedCents), nil
	}
	r, err := e.a.tracking.RefundConversion(ctx, conv, delta, key)
	var te *tracking.Error
	if errors.As(err, &te) {
		return statusIgnored, what + ": " + te.Message, nil
	}
	if err != nil {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("%s: refund %s reversed %d cents of commission", what, r.RefundID, r.Reversed.CommissionCents), nil
}

// notYet decides about a refund whose conversion is not recorded: nothing
// to do for a customer who was never referred; otherwise its payment has
// not been processed yet, so retry (and, in the end, park).
func (e *event) notYet(ctx context.Context, c *stripe.Customer, what string) (string, string, error) {
	var id string
	var carried string
	if c != nil {
		id, carried = c.ID, c.Metadata[RefMetadataKey]
	}
	ref, err := e.refFor(ctx, id, carried)
	if err != nil {
		return "", "", err
	}
	if ref == "" {
		return statusIgnored, what + ": the customer has no " + RefMetadataKey, nil
	}
	return "", "", temporal.NewApplicationError(what+": no conversion recorded for it yet (the payment event may not have arrived)", "ConversionNotYet")
}

func idOf[T interface {
	*stripe.Invoice | *stripe.PaymentIntent
}](v T) string {
	switch x := any(v).(type) {
	case *stripe.Invoice:
		if x != nil {
			return x.ID
		}
	case *stripe.PaymentIntent:
		if x != nil {
			return x.ID
		}
	}
	return ""
}

// proportion is round(part × whole / of), half up, exact for any int64.
func proportion(part, whole, of int64) int64 {
	if of <= 0 {
		return part
	}
	n := new(big.Int).Mul(big.NewInt(part), big.NewInt(whole))
	n.Mul(n, big.NewInt(2)).Add(n, big.NewInt(of))
	n.Quo(n, new(big.Int).Mul(big.NewInt(of), big.NewInt(2)))
	return n.Int64()
}
