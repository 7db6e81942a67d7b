// Package programs creates and changes apps (programs) and enrolls
// creators in them: what the operator CLI and, later, the dashboard do.
package programs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/payout"
)

// DefaultHold is the refund window: 14 days.
const DefaultHold = 14 * 24 * time.Hour

// DefaultMinPayoutCents is the least a creator cashes out unless the
// program says otherwise: 50.00.
const DefaultMinPayoutCents = 5000

// NewApp describes an app to create.
type NewApp struct {
	Name               string
	CommissionBPS      int32
	Hold               time.Duration
	Currency           string // default usd
	CookieDays         int32  // default 60
	KeylessConversions bool
	OwnerID            string // the account that owns it; "" for none (operator-made)
	// PayoutMode is how creators are paid: payout.ModeStripe (the default)
	// or payout.ModeManual, the default where Stripe is not configured.
	PayoutMode string
	// MinPayoutCents is the least a creator cashes out; nil is
	// DefaultMinPayoutCents.
	MinPayoutCents *int64
}

// CreatedApp is a new app with its first secret key, shown this once.
type CreatedApp struct {
	App       db.App
	SecretKey string
}

// CreateApp creates an app and its first secret key in one transaction.
func CreateApp(ctx context.Context, pool *pgxpool.Pool, in NewApp) (CreatedApp, error) {
	if strings.TrimSpace(in.Name) == "" {
		return CreatedApp{}, errors.New("an app needs a name")
	}
	if in.Hold < 0 || in.Hold%time.Second != 0 {
		return CreatedApp{}, fmt.Errorf("hold period %s must be a whole number of seconds, at least 0", in.Hold)
	}
	if in.Currency == "" {
		in.Currency = "usd"
	}
	if in.CookieDays == 0 {
		in.CookieDays = 60
	}
	if in.PayoutMode == "" {
		in.PayoutMode = payout.ModeStripe
	}
	minPayout := int64(DefaultMinPayoutCents)
	if in.MinPayoutCents != nil {
		minPayout = *in.MinPayoutCents
	}
	var out CreatedApp
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		app, err := q.CreateApp(ctx, db.CreateAppParams{
			ID:                 ids.New("app"),
			Name:               in.Name,
			CommissionBps:      in.CommissionBPS,
			HoldSeconds:        int64(in.Hold / time.Second),
			Currency:           strings.ToLower(in.Currency),
			CookieDays:         in.CookieDays,
			KeylessConversions: in.KeylessConversions,
			OwnerID:            db.OptionalText(in.OwnerID),
			PayoutMode:         in.PayoutMode,
			MinPayoutCents:     minPayout,
		})
		if err != nil {
			return fmt.Errorf("create app: %w", err)
		}
		key, err := AddKey(ctx, q, app.ID)
		if err != nil {
			return err
		}
		out = CreatedApp{App: app, SecretKey: key}
		return nil
	})
	return out, err
}

// AddKey makes a new secret key for the app and returns it: shown this
// once, stored only as its hash.
func AddKey(ctx context.Context, q *db.Queries, appID string) (string, error) {
	key := ids.SecretKey()
	if _, err := q.CreateAPIKey(ctx, db.CreateAPIKeyParams{AppID: appID, KeyHash: ids.HashKey(key), KeyPrefix: key[:7]}); err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	return key, nil
}

// Enrollment is a creator in one program, with their ref code.
type Enrollment struct {
	CreatorID string
	RefCode   string
}

// Enroll adds the creator with this email to the app's program (creating
// the creator if new) and returns their ref code; enrolling again returns
// the same code.
func Enroll(ctx context.Context, pool *pgxpool.Pool, appID, email string) (Enrollment, error) {
	email = strings.TrimSpace(email)
	if !strings.Contains(email, "@") {
		return Enrollment{}, fmt.Errorf("%q is not an email address", email)
	}
	q := db.New(pool)
	if _, err := q.GetApp(ctx, appID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Enrollment{}, fmt.Errorf("no app %q", appID)
		}
		return Enrollment{}, err
	}
	cr, err := q.UpsertCreator(ctx, db.UpsertCreatorParams{ID: ids.New("cr"), Email: email})
	if err != nil {
		return Enrollment{}, fmt.Errorf("create creator: %w", err)
	}
	// An account with this email is the creator's: an operator enrolling
	// by email vouches for it (a person joining never claims by email).
	if u, err := q.GetUserByEmail(ctx, email); err == nil && cr.UserID == nil {
		if _, err := q.LinkCreator(ctx, db.LinkCreatorParams{ID: cr.ID, UserID: &u.ID}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return Enrollment{}, fmt.Errorf("link creator %s to account %s: %w", cr.ID, u.ID, err)
		}
	}
	return EnrollCreator(ctx, q, appID, cr.ID)
}

// EnrollCreator gives a creator a ref code in the app's program; enrolling
// again returns the same code.
func EnrollCreator(ctx context.Context, q *db.Queries, appID, creatorID string) (Enrollment, error) {
	for attempt := 0; attempt < 10; attempt++ {
		rc, err := q.CreateRefCode(ctx, db.CreateRefCodeParams{Code: ids.RefCode(), AppID: appID, CreatorID: creatorID})
		if errors.Is(err, pgx.ErrNoRows) { // already enrolled
			rc, err = q.GetRefCodeForCreator(ctx, db.GetRefCodeForCreatorParams{AppID: appID, CreatorID: creatorID})
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // the code is taken: draw another
			continue
		}
		if err != nil {
			return Enrollment{}, fmt.Errorf("create ref code: %w", err)
		}
		return Enrollment{CreatorID: creatorID, RefCode: rc.Code}, nil
	}
	return Enrollment{}, errors.New("could not find a free ref code after 10 tries")
}

// NormalizeOrigin turns what an owner types (https://Shop.example.com/) into
// the origin a browser sends (https://shop.example.com), or says why not.
func NormalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("allowed origin %q must look like https://shop.example.com", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("allowed origin %q must be scheme://host[:port], with no path", s)
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndex(host, ":")]
	}
	return u.Scheme + "://" + host, nil
}

// SetAllowedOrigins replaces the origins whose pages may call the tracking
// endpoints for the app from a browser (CORS).
func SetAllowedOrigins(ctx context.Context, pool *pgxpool.Pool, appID string, origins []string) (db.App, error) {
	norm := make([]string, 0, len(origins))
	for _, o := range origins {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return db.App{}, err
		}
		if !slices.Contains(norm, n) {
			norm = append(norm, n)
		}
	}
	app, err := db.New(pool).SetAppAllowedOrigins(ctx, db.SetAppAllowedOriginsParams{ID: appID, AllowedOrigins: norm})
	if errors.Is(err, pgx.ErrNoRows) {
		return app, fmt.Errorf("no app %q", appID)
	}
	return app, err
}

// ConnectStripe stores a connected Stripe account on an app (the OAuth
// callback, or an operator linking one by hand). One account serves one
// app.
func ConnectStripe(ctx context.Context, pool *pgxpool.Pool, appID, account string) error {
	if !strings.HasPrefix(account, "acct_") {
		return fmt.Errorf("%q is not a Stripe account id (acct_…)", account)
	}
	_, err := db.New(pool).ConnectStripeAccount(ctx, db.ConnectStripeAccountParams{ID: appID, Account: &account})
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("no app %q", appID)
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return fmt.Errorf("stripe account %s is already connected to another app", account)
	}
	return err
}
