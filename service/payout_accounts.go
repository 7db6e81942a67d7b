package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
)

// Where the money goes and where it comes from: a creator's Stripe Express
// account (onboarded through Account Links, kept up to date by
// account.updated), and an app's saved payment method (a SetupIntent made
// in Stripe Checkout's setup mode), both through the Stripe adapter.

// PayoutAccount is a creator's payout account as the dashboard shows it
// (empty when none).
type PayoutAccount = stripeapi.PayoutAccount

func payoutAccountOf(cr db.Creator) PayoutAccount {
	if cr.PayoutAccountID == nil {
		return PayoutAccount{}
	}
	return PayoutAccount{ID: *cr.PayoutAccountID, PayoutsEnabled: cr.PayoutsEnabled, TransfersActive: cr.TransfersActive,
		DetailsSubmitted: cr.DetailsSubmitted, CurrentlyDue: cr.RequirementsDue}
}

// ErrNotCreator is an account that is in no program yet.
var ErrNotCreator = refusal.NotFound("not_a_creator", "join a program first: a payout account belongs to a creator")

func (s *Service) creatorOf(ctx context.Context, accountID string) (db.Creator, error) {
	cr, err := s.Q.GetCreatorByUser(ctx, &accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return cr, ErrNotCreator
	}
	return cr, err
}

// CreatorPayoutAccount is the account's payout account (empty when none).
func (s *Service) CreatorPayoutAccount(ctx context.Context, accountID string) (PayoutAccount, error) {
	cr, err := s.creatorOf(ctx, accountID)
	if errors.Is(err, ErrNotCreator) {
		return PayoutAccount{}, nil
	}
	return payoutAccountOf(cr), err
}

// StartPayoutOnboarding opens the creator's Express account (once) and
// returns Stripe's onboarding link for it; Stripe sends the creator back
// to returnURL, or to refreshURL when the link expired.
func (s *Service) StartPayoutOnboarding(ctx context.Context, accountID, refreshURL, returnURL string) (string, error) {
	if err := s.StripeWebhookEnabled(); err != nil {
		return "", err
	}
	cr, err := s.creatorOf(ctx, accountID)
	if err != nil {
		return "", err
	}
	acct := ""
	if cr.PayoutAccountID != nil {
		acct = *cr.PayoutAccountID
	} else {
		a, err := s.stripe.CreateExpressAccount(ctx, cr.Email, cr.ID)
		if err != nil {
			return "", err
		}
		if _, err := s.Q.SetCreatorPayoutAccount(ctx, db.SetCreatorPayoutAccountParams{ID: cr.ID, PayoutAccountID: &a.ID}); err != nil {
			return "", fmt.Errorf("keep the payout account: %w", err)
		}
		acct = a.ID
		if err := s.savePayoutAccountState(ctx, acct); err != nil {
			return "", err
		}
	}
	return s.stripe.OnboardingLink(ctx, acct, refreshURL, returnURL)
}

// RefreshPayoutAccount reads the creator's account state from Stripe, for
// when they come back from onboarding before account.updated arrives.
func (s *Service) RefreshPayoutAccount(ctx context.Context, accountID string) (PayoutAccount, error) {
	cr, err := s.creatorOf(ctx, accountID)
	if err != nil || cr.PayoutAccountID == nil {
		return PayoutAccount{}, err
	}
	if err := s.savePayoutAccountState(ctx, *cr.PayoutAccountID); err != nil {
		return PayoutAccount{}, err
	}
	return s.CreatorPayoutAccount(ctx, accountID)
}

func (s *Service) savePayoutAccountState(ctx context.Context, acct string) error {
	st, err := s.stripe.PayoutAccount(ctx, acct)
	if err != nil {
		return err
	}
	now := s.now()
	_, err = s.Q.UpdatePayoutAccountState(ctx, db.UpdatePayoutAccountStateParams{PayoutAccountID: &acct, PayoutsEnabled: st.PayoutsEnabled,
		TransfersActive: st.TransfersActive, DetailsSubmitted: st.DetailsSubmitted, RequirementsDue: st.CurrentlyDue, At: &now})
	return err
}

// PayoutDashboardLink opens a finished account's Express dashboard.
func (s *Service) PayoutDashboardLink(ctx context.Context, accountID string) (string, error) {
	cr, err := s.creatorOf(ctx, accountID)
	if err != nil {
		return "", err
	}
	if cr.PayoutAccountID == nil || !cr.DetailsSubmitted {
		return "", refusal.Conflict("onboarding_unfinished", "finish setting up your payout account first")
	}
	return s.stripe.LoginLink(ctx, *cr.PayoutAccountID)
}

// StartPaymentMethodSetup makes the app's Stripe customer (once) and
// returns Stripe Checkout's setup page, where the owner saves the card
// AgentLinks charges for each payout run. successURL must carry
// {CHECKOUT_SESSION_ID}, which Stripe fills in.
func (s *Service) StartPaymentMethodSetup(ctx context.Context, app db.App, ownerEmail, successURL, cancelURL string) (string, error) {
	if err := s.StripeWebhookEnabled(); err != nil {
		return "", err
	}
	cus := ""
	if app.StripeCustomerID != nil {
		cus = *app.StripeCustomerID
	} else {
		var err error
		if cus, err = s.stripe.AppCustomer(ctx, app.ID, app.Name, ownerEmail); err != nil {
			return "", err
		}
		if _, err := s.Q.SetAppPaymentMethod(ctx, db.SetAppPaymentMethodParams{ID: app.ID, StripeCustomerID: &cus,
			PaymentMethodID: app.PaymentMethodID, PaymentMethodLabel: app.PaymentMethodLabel}); err != nil {
			return "", err
		}
	}
	return s.stripe.SetupCheckout(ctx, cus, app.Currency, successURL, cancelURL)
}

// FinishPaymentMethodSetup saves what the owner's setup session saved.
func (s *Service) FinishPaymentMethodSetup(ctx context.Context, app db.App, sessionID string) (db.App, error) {
	if !isText(sessionID) || len(sessionID) > maxIDLen || sessionID == "" {
		return app, refusal.Invalid("invalid_session", "the setup session id is missing or malformed")
	}
	pm, err := s.stripe.SetupResult(ctx, sessionID)
	if err != nil {
		return app, refusal.Conflict("setup_unfinished", "%s", err.Error())
	}
	return s.Q.SetAppPaymentMethod(ctx, db.SetAppPaymentMethodParams{ID: app.ID, StripeCustomerID: app.StripeCustomerID,
		PaymentMethodID: &pm.ID, PaymentMethodLabel: pm.Label})
}

// SetPaymentMethod is an operator setting an app's Stripe customer and
// payment method directly (a card saved at Stripe another way; tests).
func (s *Service) SetPaymentMethod(ctx context.Context, appID, customer, paymentMethod, label string) (db.App, error) {
	app, err := s.Q.SetAppPaymentMethod(ctx, db.SetAppPaymentMethodParams{ID: appID, StripeCustomerID: &customer,
		PaymentMethodID: &paymentMethod, PaymentMethodLabel: label})
	if errors.Is(err, pgx.ErrNoRows) {
		return app, appNotFound(appID)
	}
	return app, err
}

// SetCreatorPayoutAccount is an operator linking a creator to an existing
// Express account (tests, or an account made outside the dashboard); its
// state is read from Stripe.
func (s *Service) SetCreatorPayoutAccount(ctx context.Context, creatorID, acct string) error {
	if _, err := s.Q.SetCreatorPayoutAccount(ctx, db.SetCreatorPayoutAccountParams{ID: creatorID, PayoutAccountID: &acct}); errors.Is(err, pgx.ErrNoRows) {
		return refusal.Conflict("payout_account_set", "creator %s does not exist or has another payout account", creatorID)
	} else if err != nil {
		return err
	}
	return s.savePayoutAccountState(ctx, acct)
}
