// Package service is what AgentLinks does, without HTTP: the tracking API's
// clicks and signups (tracking.go), conversions and refunds through each
// conversion's workflow (conversions.go), the reads an app makes of its
// program (reports.go) and Stripe Connect (stripe.go). Who is asking is
// decided above it: functions take the app a caller authenticated as, never
// a credential. A refusal the caller can fix is a *refusal.Error.
package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/metrics"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
	"github.com/agentlinks/agentlinks/internal/webhook"
	"github.com/agentlinks/agentlinks/workflows"
)

// Limits on caller-supplied strings, so that no field can bloat a row.
const (
	maxIDLen    = 256
	maxEmailLen = 320
	maxURLLen   = 2048
)

// Service answers the API and records what Stripe events report.
type Service struct {
	Pool      *pgxpool.Pool
	Q         *db.Queries
	Workflows workflows.Client
	// DedupeWindow: a visitor's clicks on one ref count once per window.
	DedupeWindow time.Duration
	Now          func() time.Time
	// Stripe is the Connect configuration; without its keys Connect is
	// off and says so (ErrStripeOff).
	Stripe    config.Stripe
	PublicURL string // where Stripe sends an owner back to
	stripe    *stripeapi.Client
	clicks    *clickBatcher
	refs      *refCache
	// creatorPages are the dashboard's recent pages of creators.
	creatorPages pageCache
	// Metrics counts what the service moves (nil counts nothing).
	Metrics *metrics.Metrics
	// Webhooks is how outbound webhooks are registered and retried.
	Webhooks WebhookSettings
}

// WebhookSettings configure outbound webhooks.
type WebhookSettings struct {
	// AllowPrivate lets endpoints be on loopback and private addresses
	// (dev, tests); production refuses them.
	AllowPrivate bool
	Retry        webhook.Retry
}

// WithMetrics counts the service's work (click batches, manual payouts)
// in m and returns the service.
func (s *Service) WithMetrics(m *metrics.Metrics) *Service {
	s.Metrics = m
	s.clicks.metrics.Store(m)
	return s
}

// New returns a service over a pool and a workflow client. Close stops its
// click writer.
func New(pool *pgxpool.Pool, wf workflows.Client, dedupeWindow time.Duration) *Service {
	q := db.New(pool)
	return &Service{Pool: pool, Q: q, Workflows: wf, DedupeWindow: dedupeWindow, Now: time.Now, Webhooks: WebhookSettings{Retry: webhook.DefaultRetry},
		stripe: stripeapi.New(config.Stripe{}), clicks: newClickBatcher(q, dedupeWindow), refs: newRefCache(q, refCacheTTL)}
}

// WithStripe turns Stripe Connect on with cfg (and publicURL for the OAuth
// redirect) and returns the service.
func (s *Service) WithStripe(cfg config.Stripe, publicURL string) *Service {
	s.Stripe, s.PublicURL, s.stripe = cfg, publicURL, stripeapi.New(cfg)
	return s
}

// Close writes the clicks still queued and stops taking more.
func (s *Service) Close() { s.clicks.close() }

// now is the service clock at the database's precision (microseconds), so
// what is answered is what is stored.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Authenticate returns the id of the app a secret key belongs to: the one
// place a key is looked up (one indexed read by the key's hash). The API
// decides with it who is asking.
func (s *Service) Authenticate(ctx context.Context, secretKey string) (string, error) {
	if secretKey == "" {
		return "", refusal.Unauthorized("missing_api_key", "this endpoint needs the app's secret key: send the header Authorization: Bearer sk_…")
	}
	key, err := s.Q.GetActiveAPIKeyByHash(ctx, ids.HashKey(secretKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return "", refusal.Unauthorized("invalid_api_key", "the secret key is not valid: it is unknown or revoked")
	}
	if err != nil {
		return "", fmt.Errorf("look up key: %w", err)
	}
	return key.AppID, nil
}

// lookupRef finds a ref code and its program; appID, when given, must be
// the ref's app.
func (s *Service) lookupRef(ctx context.Context, ref, appID string) (db.GetRefCodeRow, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return db.GetRefCodeRow{}, refusal.Invalid("missing_ref", "ref is required: the creator's ref code from the ?ref= link")
	}
	if len(ref) > 64 || !isText(ref) {
		return db.GetRefCodeRow{}, refusal.NotFound("unknown_ref", "no creator has the ref code %.64q", ref)
	}
	row, err := s.Q.GetRefCode(ctx, strings.ToLower(ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return row, refusal.NotFound("unknown_ref", "no creator has the ref code %q", ref)
	}
	if err != nil {
		return row, fmt.Errorf("look up ref %q: %w", ref, err)
	}
	return row, sameApp(row, ref, appID)
}

// sameApp refuses a ref of another app than the one the request names.
func sameApp(row db.GetRefCodeRow, ref, appID string) error {
	if appID != "" && appID != row.App.ID {
		return refusal.Invalid("ref_app_mismatch", "ref %q belongs to another app than %q", ref, appID)
	}
	return nil
}

func checkAmount(cents int64) error {
	if cents <= 0 || cents > commission.MaxAmountCents {
		return refusal.Invalid("invalid_amount", "amount_cents must be a positive whole number of cents, at most %d; got %d", commission.MaxAmountCents, cents)
	}
	return nil
}

func checkID(field, v string, required bool) error {
	// Codes are snake_case whatever the field's name (Idempotency-Key).
	code := strings.ReplaceAll(strings.ToLower(field), "-", "_")
	if required && strings.TrimSpace(v) == "" {
		return refusal.Invalid("missing_"+code, "%s is required", field)
	}
	if !isText(v) {
		return refusal.Invalid("invalid_"+code, "%s must be UTF-8 text without NUL characters", field)
	}
	if len(v) > maxIDLen {
		return refusal.Invalid("invalid_"+code, "%s is longer than %d characters", field, maxIDLen)
	}
	return nil
}

// dedupeKey is how a repeat is recognised: the caller's own id for the
// thing (transaction_id, refund_id), else its Idempotency-Key header.
func dedupeKey(field, id, header string) (string, error) {
	if err := checkID(field, id, false); err != nil {
		return "", err
	}
	if err := checkID("Idempotency-Key", header, false); err != nil {
		return "", err
	}
	switch {
	case id != "" && field == "transaction_id":
		return "txn:" + id, nil
	case id != "":
		return "rid:" + id, nil
	case header != "":
		return "idem:" + header, nil
	}
	return "", nil
}

// clip keeps at most n bytes of s as storable text: valid UTF-8, no NUL
// (PostgreSQL text holds neither invalid UTF-8 nor NUL).
func clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// isText reports whether s can be stored as PostgreSQL text.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
