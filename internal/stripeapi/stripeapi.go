// Package stripeapi is the Stripe HTTP adapter: the few calls AgentLinks
// makes to Stripe (the OAuth code exchange and deauthorization of Connect,
// and reads of a connected account's customers and charges) through
// stripe-go v76, against api.stripe.com or, in tests, stripe-mock.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"

	"github.com/agentlinks/agentlinks/internal/config"
)

// Client calls Stripe with the platform's secret key.
type Client struct {
	cfg config.Stripe
	api *stripeclient.API
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
	return &Client{cfg: cfg, api: stripeclient.New(cfg.SecretKey, backends)}
}

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

// Charge fetches a charge of a connected account.
func (c *Client) Charge(ctx context.Context, account, id string) (*stripe.Charge, error) {
	ch, err := c.api.Charges.Get(id, &stripe.ChargeParams{
		Params: stripe.Params{Context: ctx, StripeAccount: stripe.String(account)},
	})
	if err != nil {
		return nil, fmt.Errorf("fetch charge %s: %w", id, err)
	}
	return ch, nil
}
