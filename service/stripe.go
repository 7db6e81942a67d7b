package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/workflows"
)

// Stripe Connect is the guide's Option 3: an app connects its Stripe
// account (OAuth, Standard accounts), and the platform's Connect webhook
// turns its referred customers' paid invoices and checkouts into
// conversions, and its refunds and disputes into refunds. An event is
// verified and stored once; processing is a Temporal workflow per event
// (workflows/stripe.go, activities/stripe.go), so a crash after the 2xx
// loses nothing and a redelivery credits nothing twice.

// ErrStripeOff is returned when the keys a feature needs are not
// configured.
var ErrStripeOff = errors.New("stripe is off")

// webhookTolerance is Stripe's recommended window for a signature's
// timestamp (the libraries' default): older deliveries are replays.
const webhookTolerance = 5 * time.Minute

// StripeWebhookEnabled says whether events can be received.
func (s *Service) StripeWebhookEnabled() error {
	if s.Stripe.WebhookSecret == "" || s.Stripe.SecretKey == "" {
		return fmt.Errorf("%w: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to receive Stripe events", ErrStripeOff)
	}
	return nil
}

// StripeConnectEnabled says whether the OAuth flow can run.
func (s *Service) StripeConnectEnabled() error {
	if s.Stripe.ClientID == "" || s.Stripe.SecretKey == "" {
		return fmt.Errorf("%w: set STRIPE_SECRET_KEY and STRIPE_CLIENT_ID to connect Stripe accounts", ErrStripeOff)
	}
	return nil
}

// StripePayoutsEnabled says whether programs can pay their creators
// through Stripe: charging the owner's card and transferring to each
// creator's Express account, whose state arrives as events. Without it a
// new program pays its creators itself (manual payouts).
func (s *Service) StripePayoutsEnabled() error {
	if !s.Stripe.PayoutsOn() {
		return fmt.Errorf("%w: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to pay creators through Stripe", ErrStripeOff)
	}
	return nil
}

// ErrBadSignature is a webhook delivery that is not from Stripe, or too old.
var ErrBadSignature = errors.New("bad stripe signature")

// ErrMalformed is a signed delivery that is not a Stripe event.
var ErrMalformed = errors.New("malformed stripe event")

// eventName is what Stripe's ids, event types and account ids look like.
var eventName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

// ReceiveStripeEvent verifies a webhook delivery, stores the event once and starts its
// processing. It returns once the event is durable: stored, and its
// workflow started (or already there).
func (s *Service) ReceiveStripeEvent(ctx context.Context, payload []byte, signature string) (stripe.Event, error) {
	if err := s.StripeWebhookEnabled(); err != nil {
		return stripe.Event{}, err
	}
	opts := webhook.ConstructEventOptions{
		Tolerance: webhookTolerance,
		// Events come in whatever version the endpoint or account is on;
		// each is read by the version it names (internal/stripeevent).
		IgnoreAPIVersionMismatch: true,
	}
	evt, err := webhook.ConstructEventWithOptions(payload, signature, s.Stripe.WebhookSecret, opts)
	if err != nil && s.Stripe.PlatformWebhookSecret != "" {
		// The platform's own events (transfer.reversed) come signed with
		// their endpoint's secret.
		evt, err = webhook.ConstructEventWithOptions(payload, signature, s.Stripe.PlatformWebhookSecret, opts)
	}
	if err != nil {
		return stripe.Event{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !eventName.MatchString(evt.ID) || !eventName.MatchString(string(evt.Type)) ||
		(evt.Account != "" && !eventName.MatchString(evt.Account)) {
		return evt, fmt.Errorf("%w: the event's id, type or account is malformed", ErrMalformed)
	}
	if _, err := s.Q.InsertStripeEvent(ctx, db.InsertStripeEventParams{
		ID: evt.ID, Type: string(evt.Type), Account: evt.Account, ApiVersion: evt.APIVersion, Payload: payload,
	}); err != nil {
		return evt, fmt.Errorf("store stripe event %s: %w", evt.ID, err)
	}
	// Started on every delivery (see StartStripeEvent).
	return evt, s.Workflows.StartStripeEvent(ctx, workflows.StripeEventInput{EventID: evt.ID, ParkAfter: s.Stripe.ParkAfter})
}

// stateTTL is how long an owner has to finish Stripe's OAuth screens.
const stateTTL = 30 * time.Minute

// StripeConnectURL is where an app's owner goes to connect a Stripe account. The
// state names the app, expires, and is signed, so the callback knows which
// app the account is for and that this platform sent the owner there.
func (s *Service) StripeConnectURL(appID string) (string, error) {
	if err := s.StripeConnectEnabled(); err != nil {
		return "", err
	}
	v := url.Values{
		"response_type": {"code"},
		"client_id":     {s.Stripe.ClientID},
		"scope":         {"read_write"},
		"state":         {s.oauthState(appID, s.Now().Add(stateTTL))},
	}
	if s.PublicURL != "" {
		v.Set("redirect_uri", strings.TrimRight(s.PublicURL, "/")+"/api/stripe/oauth/callback")
	}
	return s.Stripe.ConnectBaseURL() + "/oauth/authorize?" + v.Encode(), nil
}

func (s *Service) oauthState(appID string, expires time.Time) string {
	body := appID + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + s.signState(body)
}

func (s *Service) signState(body string) string {
	// The state key is derived from the platform's secret key, so there is
	// no other secret to configure.
	m := hmac.New(sha256.New, []byte("agentlinks oauth state\x00"+s.Stripe.SecretKey))
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ErrBadState is an OAuth callback whose state this platform did not issue,
// or issued too long ago.
var ErrBadState = errors.New("bad oauth state")

func (s *Service) checkOAuthState(state string) (string, error) {
	parts := strings.Split(state, ".")
	if len(parts) != 3 {
		return "", ErrBadState
	}
	body := parts[0] + "." + parts[1]
	if subtle.ConstantTimeCompare([]byte(s.signState(body)), []byte(parts[2])) != 1 {
		return "", ErrBadState
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.Now().After(time.Unix(exp, 0)) {
		return "", fmt.Errorf("%w: it expired; start the connection again", ErrBadState)
	}
	return parts[0], nil
}

// StripeCallback finishes the OAuth flow: checks the state, exchanges the code
// for the connected account's id, and stores it on the app.
func (s *Service) StripeCallback(ctx context.Context, code, state string) (appID, account string, err error) {
	if err := s.StripeConnectEnabled(); err != nil {
		return "", "", err
	}
	if appID, err = s.checkOAuthState(state); err != nil {
		return "", "", err
	}
	if code == "" {
		return "", "", errors.New("stripe sent no authorization code")
	}
	if account, err = s.stripe.ExchangeCode(ctx, code); err != nil {
		return appID, "", err
	}
	return appID, account, programs.ConnectStripe(ctx, s.Pool, appID, account)
}

// DisconnectStripe deauthorizes the app's account at Stripe and forgets it.
func (s *Service) DisconnectStripe(ctx context.Context, appID string) error {
	app, err := s.Q.GetApp(ctx, appID)
	if err != nil {
		return err
	}
	if app.StripeAccountID == nil {
		return nil
	}
	if err := s.StripeConnectEnabled(); err != nil {
		return err
	}
	if err := s.stripe.Deauthorize(ctx, *app.StripeAccountID); err != nil {
		return err
	}
	_, err = s.Q.DisconnectStripeAccount(ctx, app.StripeAccountID)
	return err
}
