// Package stripeapi is the Stripe HTTP adapter: the few calls AgentLinks
// makes to Stripe (the OAuth code exchange and deauthorization of Connect,
// and reads of a connected account's customers, charges and invoice
// payments) through stripe-go v76, against api.stripe.com or, in tests,
// stripe-mock and a local handler for what stripe-mock lacks.
package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/form"

	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/stripeevent"
)

// Client calls Stripe with the platform's secret key.
type Client struct {
	cfg     config.Stripe
	api     *stripeclient.API
	backend stripe.Backend // for the calls stripe-go v76 has no method for
}

// New returns a client for the configuration (which may be off: calls then
// fail at Stripe, so callers check the configuration first).
func New(cfg config.Stripe) *Client {
	quiet := &stripe.LeveledLogger{Level: stripe.LevelError}
	hc := &http.Client{Timeout: 20 * time.Second}
	var apiURL *string // nil: stripe-go's default, api.stripe.com
	if cfg.APIBase != "" {
		apiURL = stripe.String(cfg.APIBase)
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{URL: apiURL, HTTPClient: hc, LeveledLogger: quiet}),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, &stripe.BackendConfig{URL: stripe.String(cfg.ConnectBaseURL()), HTTPClient: hc, LeveledLogger: quiet}),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, &stripe.BackendConfig{HTTPClient: hc, LeveledLogger: quiet}),
	}
	return &Client{cfg: cfg, api: stripeclient.New(cfg.SecretKey, backends), backend: backends.API}
}

// Configured says whether the platform's secret key is set: without it
// every call fails at Stripe.
func (c *Client) Configured() bool { return c != nil && c.cfg.SecretKey != "" }

// ExchangeCode finishes Connect's OAuth flow: the authorization code Stripe
// sent the owner back with becomes the connected account's id.
func (c *Client) ExchangeCode(ctx context.Context, code string) (string, error) {
	tok, err := c.api.OAuth.New(&stripe.OAuthTokenParams{
		Params:       stripe.Params{Context: ctx},
		GrantType:    stripe.String("authorization_code"),
		Code:         stripe.String(code),
		ClientSecret: stripe.String(c.cfg.SecretKey),
	})
	if err != nil {
		return "", fmt.Errorf("exchange the authorization code with stripe: %w", err)
	}
	if !strings.HasPrefix(tok.StripeUserID, "acct_") {
		return "", fmt.Errorf("stripe answered no account id (%q)", tok.StripeUserID)
	}
	return tok.StripeUserID, nil
}

// Deauthorize disconnects the platform from the account. An account Stripe
// says is already disconnected (a 4xx) is not an error.
func (c *Client) Deauthorize(ctx context.Context, account string) error {
	_, err := c.api.OAuth.Del(&stripe.DeauthorizeParams{
		Params:       stripe.Params{Context: ctx},
		ClientID:     stripe.String(c.cfg.ClientID),
		StripeUserID: stripe.String(account),
	})
	var se *stripe.Error
	if err != nil && !(errors.As(err, &se) && se.HTTPStatusCode < 500) {
		return fmt.Errorf("deauthorize at stripe: %w", err)
	}
	return nil
}

// Customer fetches a customer of a connected account; nil when Stripe has
// no such customer (404).
func (c *Client) Customer(ctx context.Context, account, id string) (*stripe.Customer, error) {
	cu, err := c.api.Customers.Get(id, &stripe.CustomerParams{
		Params: stripe.Params{Context: ctx, StripeAccount: stripe.String(account)},
	})
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch customer %s from %s: %w", id, account, err)
	}
	return cu, nil
}

// Charge fetches a charge of a connected account. stripe-go v76 asks in
// its own API version, 2023-10-16, so the charge is read in that shape
// (which still names the invoice it paid).
func (c *Client) Charge(ctx context.Context, account, id string) (stripeevent.Charge, error) {
	ch, err := c.api.Charges.Get(id, &stripe.ChargeParams{
		Params: stripe.Params{Context: ctx, StripeAccount: stripe.String(account)},
	})
	if err != nil {
		return stripeevent.Charge{}, fmt.Errorf("fetch charge %s: %w", id, err)
	}
	return stripeevent.For(stripe.APIVersion).Charge(ch.LastResponse.RawJSON)
}

// InvoiceRefs fetches an invoice of a connected account for the refs it
// carries (stripeevent.Reader.InvoiceRefs), read in stripe-go's version
// (2023-10-16); nil when Stripe has no such invoice (404).
func (c *Client) InvoiceRefs(ctx context.Context, account, id string) (*stripeevent.Invoice, error) {
	inv, err := c.api.Invoices.Get(id, &stripe.InvoiceParams{
		Params: stripe.Params{Context: ctx, StripeAccount: stripe.String(account)},
	})
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch invoice %s from %s: %w", id, account, err)
	}
	read, err := stripeevent.For(stripe.APIVersion).InvoiceRefs(inv.LastResponse.RawJSON)
	if err != nil {
		return nil, err
	}
	return &read, nil
}

// invoicePaymentsVersion is the first API version with the Invoice
// Payments API, which the list below asks in.
const invoicePaymentsVersion = "2025-03-31.basil"

// invoicePaymentList is a page of Stripe's Invoice Payments list.
type invoicePaymentList struct {
	stripe.APIResource
	Data []json.RawMessage `json:"data"`
}

// InvoicePaymentsOf asks a connected account which invoice payments a
// payment intent made (Stripe's Invoice Payments list, filtered by
// payment): how a refund that names only its payment intent finds its
// invoice from basil on. stripe-go v76 predates the endpoint, so the call
// goes through its backend with the endpoint's API version.
func (c *Client) InvoicePaymentsOf(ctx context.Context, account, paymentIntent string) ([]stripeevent.InvoicePayment, error) {
	form := &form.Values{}
	form.Add("payment[type]", "payment_intent")
	form.Add("payment[payment_intent]", paymentIntent)
	form.Add("limit", "10")
	params := &stripe.Params{Context: ctx, StripeAccount: stripe.String(account),
		Headers: http.Header{"Stripe-Version": {invoicePaymentsVersion}}}
	var list invoicePaymentList
	if err := c.backend.CallRaw(http.MethodGet, "/v1/invoice_payments", c.cfg.SecretKey, form, params, &list); err != nil {
		return nil, fmt.Errorf("list the invoice payments of %s on %s: %w", paymentIntent, account, err)
	}
	r := stripeevent.For(invoicePaymentsVersion)
	out := make([]stripeevent.InvoicePayment, 0, len(list.Data))
	for _, raw := range list.Data {
		ip, err := r.InvoicePayment(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}
