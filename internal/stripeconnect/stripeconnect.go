// Package stripeconnect is the guide's Option 3: an app connects its Stripe
// account (OAuth, Standard accounts), and the platform's Connect webhook
// turns its referred customers' paid invoices and checkouts into
// conversions, and its refunds and disputes into refunds. An event is
// verified and stored once; processing is a Temporal workflow per event, so
// a crash after the 2xx loses nothing and a redelivery credits nothing twice.
package stripeconnect

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/workflows"
)

// Config is the Stripe side of the configuration. Without the keys the
// feature is off and says so.
type Config struct {
	SecretKey     string // STRIPE_SECRET_KEY: the platform's key
	ClientID      string // STRIPE_CLIENT_ID: the Connect application (ca_…)
	WebhookSecret string // STRIPE_WEBHOOK_SECRET: the Connect endpoint's signing secret
	APIBase       string // STRIPE_API_BASE: https://api.stripe.com, or stripe-mock
	ConnectBase   string // STRIPE_CONNECT_BASE: https://connect.stripe.com
	PublicURL     string // PUBLIC_URL: where Stripe sends the owner back to
	// ParkAfter is how long an event that cannot be processed yet (a refund
	// that arrived before its payment) is retried before it is parked for an
	// operator. STRIPE_PARK_AFTER, default 1h.
	ParkAfter time.Duration
}

// ErrOff is returned when the keys a feature needs are not configured.
var ErrOff = errors.New("stripe is off")

// webhookTolerance is Stripe's recommended window for a signature's
// timestamp (the libraries' default): older deliveries are replays.
const webhookTolerance = 5 * time.Minute

// Service connects accounts and receives the webhook.
type Service struct {
	cfg       Config
	pool      *pgxpool.Pool
	q         *db.Queries
	temporal  client.Client
	taskQueue string
	stripe    *stripeclient.API
	now       func() time.Time
}

// New returns the service; cfg decides what is on.
func New(cfg Config, pool *pgxpool.Pool, tc client.Client, taskQueue string) *Service {
	if cfg.ConnectBase == "" {
		cfg.ConnectBase = "https://connect.stripe.com"
	}
	if cfg.ParkAfter == 0 {
		cfg.ParkAfter = time.Hour
	}
	return &Service{cfg: cfg, pool: pool, q: db.New(pool), temporal: tc, taskQueue: taskQueue,
		stripe: newStripeClient(cfg), now: time.Now}
}

func newStripeClient(cfg Config) *stripeclient.API {
	quiet := &stripe.LeveledLogger{Level: stripe.LevelError}
	hc := &http.Client{Timeout: 20 * time.Second}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{URL: optional(cfg.APIBase), HTTPClient: hc, LeveledLogger: quiet}),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, &stripe.BackendConfig{URL: stripe.String(cfg.ConnectBase), HTTPClient: hc, LeveledLogger: quiet}),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, &stripe.BackendConfig{HTTPClient: hc, LeveledLogger: quiet}),
	}
	return stripeclient.New(cfg.SecretKey, backends)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// WebhookEnabled says whether events can be received.
func (s *Service) WebhookEnabled() error {
	if s.cfg.WebhookSecret == "" || s.cfg.SecretKey == "" {
		return fmt.Errorf("%w: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to receive Stripe events", ErrOff)
	}
	return nil
}

// ConnectEnabled says whether the OAuth flow can run.
func (s *Service) ConnectEnabled() error {
	if s.cfg.ClientID == "" || s.cfg.SecretKey == "" {
		return fmt.Errorf("%w: set STRIPE_SECRET_KEY and STRIPE_CLIENT_ID to connect Stripe accounts", ErrOff)
	}
	return nil
}

// ErrBadSignature is a webhook delivery that is not from Stripe, or too old.
var ErrBadSignature = errors.New("bad stripe signature")

// ErrMalformed is a signed delivery that is not a Stripe event.
var ErrMalformed = errors.New("malformed stripe event")

// eventName is what Stripe's ids, event types and account ids look like.
var eventName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

// Receive verifies a webhook delivery, stores the event once and starts its
// processing. It returns once the event is durable: stored, and its
// workflow started (or already there).
func (s *Service) Receive(ctx context.Context, payload []byte, signature string) (stripe.Event, error) {
	if err := s.WebhookEnabled(); err != nil {
		return stripe.Event{}, err
	}
	evt, err := webhook.ConstructEventWithOptions(payload, signature, s.cfg.WebhookSecret, webhook.ConstructEventOptions{
		Tolerance:                webhookTolerance,
		IgnoreAPIVersionMismatch: true, // events are read field by field; the account's API version may differ
	})
	if err != nil {
		return stripe.Event{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !eventName.MatchString(evt.ID) || !eventName.MatchString(string(evt.Type)) ||
		(evt.Account != "" && !eventName.MatchString(evt.Account)) {
		return evt, fmt.Errorf("%w: the event's id, type or account is malformed", ErrMalformed)
	}
	if _, err := s.q.InsertStripeEvent(ctx, db.InsertStripeEventParams{
		ID: evt.ID, Type: string(evt.Type), Account: evt.Account, Payload: payload,
	}); err != nil {
		return evt, fmt.Errorf("store stripe event %s: %w", evt.ID, err)
	}
	// Started on every delivery: the first start wins, and a redelivery of
	// an event whose first start was lost (a crash between the insert and
	// here) starts it now.
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       "stripe-event-" + evt.ID,
		TaskQueue:                s.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.StripeEventWorkflowName, workflows.StripeEventInput{EventID: evt.ID, ParkAfter: s.cfg.ParkAfter})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return evt, fmt.Errorf("start processing of stripe event %s: %w", evt.ID, err)
	}
	return evt, nil
}

// stateTTL is how long an owner has to finish Stripe's OAuth screens.
const stateTTL = 30 * time.Minute

// ConnectURL is where an app's owner goes to connect a Stripe account. The
// state names the app, expires, and is signed, so the callback knows which
// app the account is for and that this platform sent the owner there.
func (s *Service) ConnectURL(appID string) (string, error) {
	if err := s.ConnectEnabled(); err != nil {
		return "", err
	}
	v := url.Values{
		"response_type": {"code"},
		"client_id":     {s.cfg.ClientID},
		"scope":         {"read_write"},
		"state":         {s.state(appID, s.now().Add(stateTTL))},
	}
	if s.cfg.PublicURL != "" {
		v.Set("redirect_uri", strings.TrimRight(s.cfg.PublicURL, "/")+"/api/stripe/oauth/callback")
	}
	return s.cfg.ConnectBase + "/oauth/authorize?" + v.Encode(), nil
}

func (s *Service) state(appID string, expires time.Time) string {
	body := appID + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + s.sign(body)
}

func (s *Service) sign(body string) string {
	// The state key is derived from the platform's secret key, so there is
	// no other secret to configure.
	m := hmac.New(sha256.New, []byte("agentlinks oauth state\x00"+s.cfg.SecretKey))
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ErrBadState is an OAuth callback whose state this platform did not issue,
// or issued too long ago.
var ErrBadState = errors.New("bad oauth state")

func (s *Service) checkState(state string) (string, error) {
	parts := strings.Split(state, ".")
	if len(parts) != 3 {
		return "", ErrBadState
	}
	body := parts[0] + "." + parts[1]
	if subtle.ConstantTimeCompare([]byte(s.sign(body)), []byte(parts[2])) != 1 {
		return "", ErrBadState
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.now().After(time.Unix(exp, 0)) {
		return "", fmt.Errorf("%w: it expired; start the connection again", ErrBadState)
	}
	return parts[0], nil
}

// Callback finishes the OAuth flow: checks the state, exchanges the code
// for the connected account's id, and stores it on the app.
func (s *Service) Callback(ctx context.Context, code, state string) (appID, account string, err error) {
	if err := s.ConnectEnabled(); err != nil {
		return "", "", err
	}
	if appID, err = s.checkState(state); err != nil {
		return "", "", err
	}
	if code == "" {
		return "", "", errors.New("stripe sent no authorization code")
	}
	tok, err := s.stripe.OAuth.New(&stripe.OAuthTokenParams{
		Params:       stripe.Params{Context: ctx},
		GrantType:    stripe.String("authorization_code"),
		Code:         stripe.String(code),
		ClientSecret: stripe.String(s.cfg.SecretKey),
	})
	if err != nil {
		return appID, "", fmt.Errorf("exchange the authorization code with stripe: %w", err)
	}
	if !strings.HasPrefix(tok.StripeUserID, "acct_") {
		return appID, "", fmt.Errorf("stripe answered no account id (%q)", tok.StripeUserID)
	}
	return appID, tok.StripeUserID, s.Link(ctx, appID, tok.StripeUserID)
}

// Link stores a connected account on an app (the OAuth callback, or an
// operator linking one by hand).
func Link(ctx context.Context, q *db.Queries, appID, account string) error {
	if !strings.HasPrefix(account, "acct_") {
		return fmt.Errorf("%q is not a Stripe account id (acct_…)", account)
	}
	_, err := q.ConnectStripeAccount(ctx, db.ConnectStripeAccountParams{ID: appID, Account: &account})
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("no app %q", appID)
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return fmt.Errorf("stripe account %s is already connected to another app", account)
	}
	return err
}

// Link stores a connected account on an app.
func (s *Service) Link(ctx context.Context, appID, account string) error {
	return Link(ctx, s.q, appID, account)
}

// Disconnect deauthorizes the app's account at Stripe and forgets it.
func (s *Service) Disconnect(ctx context.Context, app db.App) error {
	if app.StripeAccountID == nil {
		return nil
	}
	if err := s.ConnectEnabled(); err != nil {
		return err
	}
	_, err := s.stripe.OAuth.Del(&stripe.DeauthorizeParams{
		Params:       stripe.Params{Context: ctx},
		ClientID:     stripe.String(s.cfg.ClientID),
		StripeUserID: app.StripeAccountID,
	})
	var se *stripe.Error
	// Already deauthorized on Stripe's side: forget it all the same.
	if err != nil && !(errors.As(err, &se) && se.HTTPStatusCode < 500) {
		return fmt.Errorf("deauthorize at stripe: %w", err)
	}
	_, err = s.q.DisconnectStripeAccount(ctx, app.StripeAccountID)
	return err
}
