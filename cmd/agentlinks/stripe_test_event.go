package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ids"
)

// stripeTestEvent signs a Connect event with STRIPE_WEBHOOK_SECRET and
// posts it to the API's webhook, the way Stripe would: a local stand-in for
// `stripe trigger`, to try the Stripe integration without a Stripe account.
func stripeTestEvent(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("stripe-test-event", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	typ := fs.String("type", "invoice.paid", "invoice.paid or charge.refunded")
	account := fs.String("account", "", "the connected account, acct_… (required)")
	customer := fs.String("customer", "cus_test", "the customer id")
	ref := fs.String("ref", "", "invoice.paid: the ref in the customer's metadata.agentlinks_ref")
	invoiceID := fs.String("invoice", "in_test", "the invoice id (the conversion's transaction_id)")
	amount := fs.Int64("amount", 10000, "cents the customer paid (the charge amount)")
	tax := fs.Int64("tax", 0, "invoice.paid: the tax included in --amount")
	refunded := fs.Int64("refunded", 0, "charge.refunded: cents refunded so far on the charge (cumulative)")
	apiURL := fs.String("api", "http://"+cfg.HTTPAddr, "the AgentLinks API")
	if err := fs.Parse(args); err != nil {
		return usageError{"stripe-test-event: " + err.Error()}
	}
	if *account == "" || cfg.StripeWebhookSecret == "" {
		return usageError{"stripe-test-event: --account and STRIPE_WEBHOOK_SECRET (the one the API uses) are required"}
	}
	var object map[string]any
	switch *typ {
	case "invoice.paid":
		if *ref == "" {
			return usageError{"stripe-test-event: invoice.paid needs --ref"}
		}
		object = map[string]any{
			"id": *invoiceID, "object": "invoice", "amount_paid": *amount, "tax": *tax, "status": "paid",
			"customer": map[string]any{"id": *customer, "object": "customer", "metadata": map[string]string{"agentlinks_ref": *ref}},
		}
	case "charge.refunded":
		object = map[string]any{
			"id": "ch_" + *invoiceID, "object": "charge", "amount": *amount, "amount_refunded": *refunded,
			"invoice": *invoiceID, "customer": *customer, "refunded": *refunded >= *amount,
		}
	default:
		return usageError{"stripe-test-event: --type must be invoice.paid or charge.refunded"}
	}
	payload, err := json.Marshal(map[string]any{
		"id": ids.New("evt"), "object": "event", "type": *typ, "account": *account, "api_version": "2023-10-16",
		"created": time.Now().Unix(), "livemode": false, "data": map[string]any{"object": object},
	})
	if err != nil {
		return err
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: cfg.StripeWebhookSecret})
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
	fmt.Fprintf(stdout, "%d %s\n", res.StatusCode, bytes.TrimSpace(body))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("the webhook answered %d", res.StatusCode)
	}
	return nil
}
