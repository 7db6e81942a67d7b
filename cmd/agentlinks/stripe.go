package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/stripeevent"
)

// stripeTestEvent signs a Connect event with STRIPE_WEBHOOK_SECRET and
// posts it to the API's webhook, the way Stripe would: a local stand-in for
// `stripe trigger`, to try the Stripe integration without a Stripe account.
func stripeTestEvent(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("stripe-test-event", stdout)
	fs := c.fs
	typ := fs.String("type", "invoice.paid", "invoice.paid, invoice_payment.paid (2025-03-31.basil and later) or charge.refunded")
	version := fs.String("api-version", "2023-10-16", "the API version the event is rendered in: 2023-10-16, 2025-03-31.basil, 2025-09-30.clover, …")
	account := fs.String("account", "", "the connected account, acct_… (required)")
	customer := fs.String("customer", "cus_test", "the customer id")
	ref := fs.String("ref", "", "invoice.paid: the ref in the customer's metadata.agentlinks_ref")
	invoiceID := fs.String("invoice", "in_test", "the invoice id (the conversion's transaction_id)")
	paymentIntent := fs.String("payment-intent", "", "the payment intent that paid the invoice (default pi_<invoice>)")
	amount := fs.Int64("amount", 10000, "cents the customer paid (the charge amount)")
	tax := fs.Int64("tax", 0, "invoice.paid: the tax included in --amount")
	refunded := fs.Int64("refunded", 0, "charge.refunded: cents refunded so far on the charge (cumulative)")
	apiURL := fs.String("api", "http://"+cfg.HTTPAddr, "the AgentLinks API")
	if err := c.parse(args, "account"); err != nil {
		return err
	}
	if cfg.Stripe.WebhookSecret == "" {
		return usageError{"stripe-test-event: --account and STRIPE_WEBHOOK_SECRET (the one the API uses) are required"}
	}
	if *paymentIntent == "" {
		*paymentIntent = "pi_" + strings.TrimPrefix(*invoiceID, "in_")
	}
	basil := stripeevent.ShapeOf(*version) == stripeevent.Basil
	charge := "ch_" + strings.TrimPrefix(*paymentIntent, "pi_")
	var object map[string]any
	switch *typ {
	case "invoice.paid":
		if *ref == "" {
			return usageError{"stripe-test-event: invoice.paid needs --ref"}
		}
		object = map[string]any{
			"id": *invoiceID, "object": "invoice", "amount_paid": *amount, "total": *amount, "total_excluding_tax": *amount - *tax,
			"status": "paid", "customer": map[string]any{"id": *customer, "object": "customer", "metadata": map[string]string{"agentlinks_ref": *ref}},
		}
		if basil { // the tax as total_taxes; the payment is tied by invoice_payment.paid
			taxes := []map[string]any{}
			if *tax > 0 {
				taxes = append(taxes, map[string]any{"amount": *tax, "tax_behavior": "exclusive", "type": "tax_rate_details"})
			}
			object["total_taxes"] = taxes
		} else {
			object["tax"], object["charge"], object["payment_intent"] = *tax, charge, *paymentIntent
		}
	case "invoice_payment.paid":
		object = map[string]any{
			"id": "inpay_" + strings.TrimPrefix(*paymentIntent, "pi_"), "object": "invoice_payment", "invoice": *invoiceID,
			"amount_paid": *amount, "status": "paid", "is_default": true,
			"payment": map[string]any{"type": "payment_intent", "payment_intent": *paymentIntent},
		}
	case "charge.refunded":
		object = map[string]any{
			"id": charge, "object": "charge", "amount": *amount, "amount_refunded": *refunded,
			"payment_intent": *paymentIntent, "customer": *customer, "refunded": *refunded >= *amount,
		}
		if !basil { // from basil on a charge no longer names its invoice
			object["invoice"] = *invoiceID
		}
	default:
		return usageError{"stripe-test-event: --type must be invoice.paid, invoice_payment.paid or charge.refunded"}
	}
	payload, err := json.Marshal(map[string]any{
		"id": ids.New("evt"), "object": "event", "type": *typ, "account": *account, "api_version": *version,
		"created": time.Now().Unix(), "livemode": false, "data": map[string]any{"object": object},
	})
	if err != nil {
		return err
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: cfg.Stripe.WebhookSecret})
	req, err := http.NewRequestWithContext(ctx, "POST", *apiURL+"/api/stripe/webhook", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var answer any
	if json.Unmarshal(body, &answer) != nil {
		answer = string(bytes.TrimSpace(body))
	}
	if err := c.print(map[string]any{"status": res.StatusCode, "answer": answer},
		fmt.Sprintf("%d %s\n", res.StatusCode, bytes.TrimSpace(body))); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("the webhook answered %d", res.StatusCode)
	}
	return nil
}

// stripeEvents lists Stripe events by outcome; parked ones need an operator.
func stripeEvents(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("stripe-events", stdout)
	status := c.fs.String("status", "parked", "received, processed, ignored or parked")
	if err := c.parse(args, "status"); err != nil {
		return err
	}
	return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
		rows, err := db.New(pool).ListStripeEventsByStatus(ctx, *status)
		if err != nil {
			return err
		}
		events := make([]map[string]any, 0, len(rows))
		var text strings.Builder
		for _, r := range rows {
			events = append(events, map[string]any{"id": r.ID, "type": r.Type, "account": r.Account, "api_version": r.ApiVersion,
				"app_id": r.AppID, "status": r.Status, "note": r.Note, "received_at": r.ReceivedAt})
			app := "-"
			if r.AppID != nil {
				app = *r.AppID
			}
			fmt.Fprintf(&text, "%s  %-28s  %s  %s  %s  %s  %s\n", r.ReceivedAt.UTC().Format(time.RFC3339), r.Type, r.ID,
				r.Account, version(r.ApiVersion), app, r.Note)
		}
		if len(rows) == 0 {
			fmt.Fprintf(&text, "no %s Stripe events\n", *status)
		}
		return c.print(map[string]any{"status": *status, "events": events}, text.String())
	})
}

func version(v string) string {
	if v == "" {
		return "(no api_version)"
	}
	return v
}
