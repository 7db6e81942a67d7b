package activities

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/internal/stripeevent"
)

// A Stripe event's refunds and disputes: the conversion the charge paid
// for is found by the ids Stripe gives, and refunded in proportion.

// ErrTypeConversionNotYet is a refund whose payment is not recorded yet:
// retried, then parked.
const ErrTypeConversionNotYet = "ConversionNotYet"

// conversionOf finds the conversion a charge paid for: by its invoice (the
// charge names it before basil; an alias remembered from an invoice or an
// invoice payment names it after), else by its payment intent or the
// charge itself (one-off Checkout payments). found is false when none is
// recorded; invoice is the invoice the charge is known to have paid.
func (e *event) conversionOf(ctx context.Context, ch stripeevent.Charge) (conv db.Conversion, found bool, invoice string, err error) {
	invoice = ch.Invoice
	for _, id := range []string{ch.PaymentIntent, ch.ID} {
		if invoice != "" || id == "" {
			continue
		}
		inv, err := e.a.Q.GetStripePaymentInvoice(ctx, db.GetStripePaymentInvoiceParams{Account: e.account, PaymentID: id})
		if err == nil {
			invoice = inv
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return conv, false, "", err
		}
	}
	for _, t := range []string{invoice, ch.PaymentIntent, ch.ID} {
		if t == "" {
			continue
		}
		key := "txn:" + t
		c, err := e.a.Q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: e.app.ID, DedupeKey: &key})
		if err == nil {
			return c, true, invoice, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return c, false, invoice, err
		}
	}
	return db.Conversion{}, false, invoice, nil
}

// chargeConversion is conversionOf, asking the connected account which
// invoice the charge's payment intent paid when nothing here says (from
// basil on, a refund can arrive before the invoice_payment.paid that ties
// it, or that event may not be subscribed). A charge of a customer who was
// never referred is ignored (status and note say so); one whose payment
// is not recorded yet is an error: retried, then parked.
func (e *event) chargeConversion(ctx context.Context, ch stripeevent.Charge, what string) (db.Conversion, string, string, error) {
	conv, found, invoice, err := e.conversionOf(ctx, ch)
	if err != nil || found {
		return conv, "", "", err
	}
	if invoice == "" && ch.PaymentIntent != "" {
		payments, err := e.a.Stripe.InvoicePaymentsOf(ctx, e.account, ch.PaymentIntent)
		if err != nil {
			return conv, "", "", err
		}
		for _, ip := range payments {
			if err := e.alias(ip.Invoice, ip.Payment); err != nil {
				return conv, "", "", err
			}
		}
		if conv, found, invoice, err = e.conversionOf(ctx, ch); err != nil || found {
			return conv, "", "", err
		}
	}
	referred, err := e.referred(ctx, ch.Customer, invoice)
	if err != nil {
		return conv, "", "", err
	}
	if !referred {
		return conv, statusIgnored, what + ": neither the customer nor the invoice carries " + RefMetadataKey, nil
	}
	return conv, "", "", temporal.NewApplicationError(what+": no conversion recorded for it yet (the payment event may not have arrived)", ErrTypeConversionNotYet)
}

// referred says whether a payment's customer or invoice carries a ref:
// the customer's own (carried, remembered or fetched), a conversion of the
// customer already recorded (the ref was on an invoice or subscription),
// or the invoice's, fetched from the account.
func (e *event) referred(ctx context.Context, c stripeevent.Customer, invoice string) (bool, error) {
	ref, err := e.refFor(ctx, c.ID, c.Ref)
	if err != nil || ref != "" {
		return ref != "", err
	}
	if c.ID != "" {
		n, err := e.a.Q.CountConversionsByUser(ctx, db.CountConversionsByUserParams{AppID: e.app.ID, UserID: c.ID})
		if err != nil || n > 0 {
			return n > 0, err
		}
	}
	if invoice == "" {
		return false, nil
	}
	inv, err := e.a.Stripe.InvoiceRefs(ctx, e.account, invoice)
	if err != nil || inv == nil {
		return false, err
	}
	return inv.Ref != "" || inv.SubscriptionRef != "" || inv.Customer.Ref != "", nil
}

func (e *event) chargeRefunded() (string, string, error) {
	ctx := e.ctx
	ch, err := e.read.Charge(e.raw)
	if err != nil {
		return "", "", err
	}
	what := "refund of charge " + ch.ID
	conv, status, note, err := e.chargeConversion(ctx, ch, what)
	if err != nil || status != "" {
		return status, note, err
	}
	// Stripe says how much of the charge is refunded so far; the conversion
	// is the charge before tax, so it is refunded in the same proportion.
	// Computed on the cumulative amount, a redelivered or out-of-order
	// refund event moves nothing twice.
	target := proportion(ch.Refunded, conv.AmountCents, ch.Amount)
	key := fmt.Sprintf("stripe:%s:%d", ch.ID, ch.Refunded)
	return e.refundTo(ctx, conv, target, key, what)
}

func (e *event) disputeCreated() (string, string, error) {
	ctx := e.ctx
	d, err := e.read.Dispute(e.raw)
	if err != nil {
		return "", "", err
	}
	ch := d.Charge
	if !d.Full && ch.ID != "" {
		// The event names the charge only: fetch it for its amount (and,
		// in the version stripe-go asks in, its invoice).
		if ch, err = e.a.Stripe.Charge(ctx, e.account, ch.ID); err != nil {
			return "", "", err
		}
		if ch.PaymentIntent == "" {
			ch.PaymentIntent = d.PaymentIntent
		}
	}
	what := "dispute " + d.ID
	conv, status, note, err := e.chargeConversion(ctx, ch, what)
	if err != nil || status != "" {
		return status, note, err
	}
	// A dispute is a refund of the disputed amount, on top of any refund.
	disputed := d.Amount
	if ch.Amount > 0 {
		disputed = proportion(d.Amount, conv.AmountCents, ch.Amount)
	}
	return e.refundTo(ctx, conv, conv.RefundedCents+disputed, conversion.StripeDisputeKey(d.ID), what)
}

// refundTo refunds the conversion up to target cents in all (never more than
// it was), under a key that names this Stripe refund.
func (e *event) refundTo(ctx context.Context, conv db.Conversion, target int64, key, what string) (string, string, error) {
	target = min(target, conv.AmountCents)
	delta := target - conv.RefundedCents
	if delta <= 0 {
		return statusProcessed, fmt.Sprintf("%s: conversion %s already has %d cents refunded", what, conv.ID, conv.RefundedCents), nil
	}
	r, err := e.a.Payments.RefundPayment(ctx, conv, delta, key)
	var te *refusal.Error
	if errors.As(err, &te) {
		return statusIgnored, what + ": " + te.Message, nil
	}
	if err != nil {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("%s: refund %s reversed %d cents of commission", what, r.RefundID, r.Reversed.CommissionCents), nil
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
