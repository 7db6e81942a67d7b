package activities

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// A Stripe event's refunds and disputes: the conversion the charge paid
// for is found by the ids Stripe gives, and refunded in proportion.

// conversionFor finds the conversion a charge paid for: by invoice, else
// payment intent, else the charge itself.
func (e *event) conversionFor(ctx context.Context, txns ...string) (db.Conversion, bool, error) {
	for _, t := range txns {
		if t == "" {
			continue
		}
		key := "txn:" + t
		c, err := e.a.Q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: e.app.ID, DedupeKey: &key})
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
		full, err := e.a.Stripe.Charge(ctx, e.account, ch.ID)
		if err != nil {
			return "", "", err
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
