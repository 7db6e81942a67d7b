package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stripe/stripe-go/v76"
)

// The platform-side calls of cashing out: creators' Express accounts,
// the app's saved payment method, the charge that funds a run, and the
// transfers that pay creators. Every call that creates something carries
// an Idempotency-Key the caller fixed before its first try, so a retry
// after a crash gets Stripe's first answer, never a second object.

// PayoutAccount is what Stripe says of a creator's Express account.
type PayoutAccount struct {
	ID               string
	PayoutsEnabled   bool
	TransfersActive  bool
	DetailsSubmitted bool
	CurrentlyDue     []string
}

// Ready is an account that can receive transfers.
func (p PayoutAccount) Ready() bool { return p.ID != "" && p.TransfersActive }

// AccountState reads an account object (an API answer or an
// account.updated event's).
func AccountState(a *stripe.Account) PayoutAccount {
	out := PayoutAccount{ID: a.ID, PayoutsEnabled: a.PayoutsEnabled, DetailsSubmitted: a.DetailsSubmitted, CurrentlyDue: []string{}}
	if a.Capabilities != nil {
		out.TransfersActive = a.Capabilities.Transfers == stripe.AccountCapabilityStatusActive
	}
	if a.Requirements != nil {
		out.CurrentlyDue = append(out.CurrentlyDue, a.Requirements.CurrentlyDue...)
	}
	return out
}

// CreateExpressAccount opens an Express account for a creator that can
// receive transfers. key is fixed per creator, so a second click or a
// retry returns the same account.
func (c *Client) CreateExpressAccount(ctx context.Context, email, creatorID string) (PayoutAccount, error) {
	p := &stripe.AccountParams{
		Type:  stripe.String(string(stripe.AccountTypeExpress)),
		Email: stripe.String(email),
		Capabilities: &stripe.AccountCapabilitiesParams{
			Transfers: &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)},
		},
	}
	p.Context = ctx
	p.SetIdempotencyKey("express-account-" + creatorID)
	p.AddMetadata("agentlinks_creator", creatorID)
	a, err := c.api.Accounts.New(p)
	if err != nil {
		return PayoutAccount{}, fmt.Errorf("create the payout account at stripe: %w", err)
	}
	return AccountState(a), nil
}

// PayoutAccount reads an Express account's state.
func (c *Client) PayoutAccount(ctx context.Context, id string) (PayoutAccount, error) {
	a, err := c.api.Accounts.GetByID(id, &stripe.AccountParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return PayoutAccount{}, fmt.Errorf("read payout account %s: %w", id, err)
	}
	return AccountState(a), nil
}

// OnboardingLink is Stripe's hosted onboarding for an Express account
// (Account Links): a single-use URL; refreshURL is where Stripe sends an
// expired one back to, returnURL where a finished one goes.
func (c *Client) OnboardingLink(ctx context.Context, account, refreshURL, returnURL string) (string, error) {
	l, err := c.api.AccountLinks.New(&stripe.AccountLinkParams{
		Params:     stripe.Params{Context: ctx},
		Account:    stripe.String(account),
		RefreshURL: stripe.String(refreshURL),
		ReturnURL:  stripe.String(returnURL),
		Type:       stripe.String("account_onboarding"),
	})
	if err != nil {
		return "", fmt.Errorf("create the onboarding link: %w", err)
	}
	return l.URL, nil
}

// LoginLink opens a finished Express account's dashboard.
func (c *Client) LoginLink(ctx context.Context, account string) (string, error) {
	l, err := c.api.LoginLinks.New(&stripe.LoginLinkParams{Params: stripe.Params{Context: ctx}, Account: stripe.String(account)})
	if err != nil {
		return "", fmt.Errorf("create the login link: %w", err)
	}
	return l.URL, nil
}

// AppCustomer is the platform's customer for an app, created once per app.
func (c *Client) AppCustomer(ctx context.Context, appID, name, email string) (string, error) {
	p := &stripe.CustomerParams{Name: stripe.String(name)}
	if email != "" {
		p.Email = stripe.String(email)
	}
	p.Context = ctx
	p.SetIdempotencyKey("app-customer-" + appID)
	p.AddMetadata("agentlinks_app", appID)
	cu, err := c.api.Customers.New(p)
	if err != nil {
		return "", fmt.Errorf("create the app's stripe customer: %w", err)
	}
	return cu.ID, nil
}

// SetupCheckout starts Stripe Checkout in setup mode: the owner saves a
// card on Stripe's page (a SetupIntent underneath, for charges made while
// they are away) and comes back to successURL with the session id.
func (c *Client) SetupCheckout(ctx context.Context, customer, currency, successURL, cancelURL string) (string, error) {
	s, err := c.api.CheckoutSessions.New(&stripe.CheckoutSessionParams{
		Params:             stripe.Params{Context: ctx},
		Mode:               stripe.String(string(stripe.CheckoutSessionModeSetup)),
		Customer:           stripe.String(customer),
		Currency:           stripe.String(currency),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		SuccessURL:         stripe.String(successURL),
		CancelURL:          stripe.String(cancelURL),
		SetupIntentData:    &stripe.CheckoutSessionSetupIntentDataParams{Description: stripe.String("AgentLinks payouts to your creators")},
	})
	if err != nil {
		return "", fmt.Errorf("start the payment method setup: %w", err)
	}
	return s.URL, nil
}

// SavedPaymentMethod is what a finished setup saved.
type SavedPaymentMethod struct {
	ID, Label string
}

// SetupResult reads what the setup session saved: its SetupIntent's
// payment method, with a label such as "visa •••• 4242".
func (c *Client) SetupResult(ctx context.Context, sessionID string) (SavedPaymentMethod, error) {
	p := &stripe.CheckoutSessionParams{Params: stripe.Params{Context: ctx}}
	p.AddExpand("setup_intent.payment_method")
	s, err := c.api.CheckoutSessions.Get(sessionID, p)
	if err != nil {
		return SavedPaymentMethod{}, fmt.Errorf("read the setup session: %w", err)
	}
	si := s.SetupIntent
	if si == nil || si.Status != stripe.SetupIntentStatusSucceeded || si.PaymentMethod == nil {
		return SavedPaymentMethod{}, errors.New("the payment method setup did not finish at stripe; try again")
	}
	label := string(si.PaymentMethod.Type)
	if card := si.PaymentMethod.Card; card != nil {
		label = fmt.Sprintf("%s •••• %s", card.Brand, card.Last4)
	}
	return SavedPaymentMethod{ID: si.PaymentMethod.ID, Label: label}, nil
}

// DeclinedError is Stripe refusing a charge for good: the card was
// declined or needs the owner present.
type DeclinedError struct{ Reason string }

func (e *DeclinedError) Error() string { return e.Reason }

// ChargeParams charges an app's saved payment method for a run.
type ChargeParams struct {
	Customer, PaymentMethod, Currency string
	AmountCents                       int64
	IdempotencyKey                    string
	Description                       string
	RunID                             string
}

// ChargeApp charges the app while its owner is away (off_session,
// confirmed at once) and returns the payment intent; it succeeded when
// the error is nil. A decline is a *DeclinedError; anything else may be
// retried under the same key.
func (c *Client) ChargeApp(ctx context.Context, in ChargeParams) (string, error) {
	p := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(in.AmountCents),
		Currency:      stripe.String(in.Currency),
		Customer:      stripe.String(in.Customer),
		PaymentMethod: stripe.String(in.PaymentMethod),
		Confirm:       stripe.Bool(true),
		OffSession:    stripe.Bool(true),
		Description:   stripe.String(in.Description),
	}
	p.Context = ctx
	p.SetIdempotencyKey(in.IdempotencyKey)
	p.AddMetadata("agentlinks_run", in.RunID)
	pi, err := c.api.PaymentIntents.New(p)
	var se *stripe.Error
	if errors.As(err, &se) && (se.Type == stripe.ErrorTypeCard || se.HTTPStatusCode == http.StatusPaymentRequired) {
		reason := se.Msg
		if se.DeclineCode != "" {
			reason += " (" + string(se.DeclineCode) + ")"
		}
		return "", &DeclinedError{Reason: "the card was declined: " + reason}
	}
	if err != nil {
		return "", fmt.Errorf("charge the app: %w", err)
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		return pi.ID, nil
	case stripe.PaymentIntentStatusRequiresAction, stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusCanceled:
		return pi.ID, &DeclinedError{Reason: fmt.Sprintf("the payment %s ended %s: the card needs the owner to act", pi.ID, pi.Status)}
	}
	return pi.ID, fmt.Errorf("the payment %s is %s, not yet succeeded", pi.ID, pi.Status)
}

// ErrBalanceInsufficient is Stripe saying the platform's balance cannot
// cover a transfer yet (funds from the charge still settling): wait and
// retry, it is not a failure.
var ErrBalanceInsufficient = errors.New("the platform's stripe balance cannot cover the transfer yet")

// RefusedError is Stripe refusing a transfer for good (the account cannot
// receive it, a bad currency…).
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// TransferParams pays a creator's net to their Express account.
type TransferParams struct {
	Destination, Currency string
	AmountCents           int64
	Group                 string // the run
	IdempotencyKey        string // payout-<id>
	PayoutID              string
}

// Transfer pays a creator; a retry with the same key returns the first
// transfer. Errors: ErrBalanceInsufficient (retry later), *RefusedError
// (for good), anything else (retry).
func (c *Client) Transfer(ctx context.Context, in TransferParams) (string, error) {
	p := &stripe.TransferParams{
		Amount:        stripe.Int64(in.AmountCents),
		Currency:      stripe.String(in.Currency),
		Destination:   stripe.String(in.Destination),
		TransferGroup: stripe.String(in.Group),
	}
	p.Context = ctx
	p.SetIdempotencyKey(in.IdempotencyKey)
	p.AddMetadata("agentlinks_payout", in.PayoutID)
	tr, err := c.api.Transfers.New(p)
	var se *stripe.Error
	switch {
	case errors.As(err, &se) && se.Code == stripe.ErrorCodeBalanceInsufficient:
		return "", fmt.Errorf("%w: %s", ErrBalanceInsufficient, se.Msg)
	case errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict && se.Type != stripe.ErrorTypeIdempotency:
		return "", &RefusedError{Reason: "stripe refused the transfer: " + strings.TrimSpace(se.Msg)}
	case err != nil:
		return "", fmt.Errorf("transfer to %s: %w", in.Destination, err)
	}
	return tr.ID, nil
}
