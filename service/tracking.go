package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/botua"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// OriginAllowed reports whether pages on origin may call the tracking
// endpoints of appID from a browser: the app's allowed origins (CORS).
func (s *Service) OriginAllowed(ctx context.Context, appID, origin string) (bool, error) {
	if appID == "" || origin == "" || !isText(appID) {
		return false, nil
	}
	app, err := s.cachedApp(ctx, appID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(app.AllowedOrigins, strings.ToLower(origin)), nil
}

// ClickInput is one click on a ref link.
type ClickInput struct {
	Ref, AppID, URL, Referrer string
	// VisitorID, when the caller knows one, names the visitor; otherwise the
	// visitor is the client's address and user agent.
	VisitorID, ClientIP, UserAgent string
}

// ClickResult says how a click was counted.
type ClickResult struct {
	Unique bool // counted as a unique click
	Bot    bool // kept raw, counted nowhere
	// CookieDays is the app's cookie window, for the tracking script.
	CookieDays int32
}

// Click records a click: the raw event always, and the per-day counters
// unless it is a bot; unique once per visitor per ref per window.
func (s *Service) Click(ctx context.Context, in ClickInput) (ClickResult, error) {
	row, err := s.cachedRef(ctx, in.Ref, in.AppID)
	if err != nil {
		return ClickResult{}, err
	}
	visitor := in.VisitorID
	if visitor == "" {
		visitor = in.ClientIP + "\x00" + in.UserAgent
	}
	hash := sha256.Sum256([]byte(row.App.ID + "\x00" + visitor))
	// Crawlers' and link previewers' hits are kept raw but are not clicks.
	res := ClickResult{Bot: botua.Is(in.UserAgent), CookieDays: row.App.CookieDays}
	res.Unique, err = s.clicks.add(ctx, click{
		ref: row.RefCode.Code, appID: row.App.ID, visitor: hash, bot: res.Bot,
		url: clip(in.URL, maxURLLen), referrer: clip(in.Referrer, maxURLLen),
	})
	if err != nil {
		return ClickResult{}, fmt.Errorf("record click: %w", err)
	}
	return res, nil
}

// SignupInput is one referred signup.
type SignupInput struct {
	Ref, AppID, UserID, Email string
}

// Referral is a referred user as answered.
type Referral struct {
	ReferralID   string    `json:"referral_id"`
	AppID        string    `json:"app_id"`
	Ref          string    `json:"ref"`
	UserID       string    `json:"user_id"`
	SelfReferral bool      `json:"self_referral"`
	CreatedAt    time.Time `json:"created_at"`
}

// Signup ties a user to the ref's creator, first touch: the same user_id
// again returns the first referral (created false), whatever ref it names.
func (s *Service) Signup(ctx context.Context, in SignupInput) (Referral, bool, error) {
	row, err := s.lookupRef(ctx, in.Ref, in.AppID)
	if err != nil {
		return Referral{}, false, err
	}
	if err := checkID("user_id", in.UserID, true); err != nil {
		return Referral{}, false, err
	}
	email := strings.TrimSpace(in.Email)
	if len(email) > maxEmailLen || !isText(email) || (email != "" && !strings.Contains(email, "@")) {
		return Referral{}, false, refusal.Invalid("invalid_email", "email %.64q is not an email address", email)
	}
	ref, err := s.Q.CreateReferral(ctx, db.CreateReferralParams{
		ID:           ids.New("rfl"),
		AppID:        row.App.ID,
		RefCode:      row.RefCode.Code,
		CreatorID:    row.RefCode.CreatorID,
		UserID:       in.UserID,
		Email:        email,
		SelfReferral: email != "" && strings.EqualFold(email, row.CreatorEmail),
	})
	created := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		ref, err = s.Q.GetReferralByUser(ctx, db.GetReferralByUserParams{AppID: row.App.ID, UserID: in.UserID})
	}
	if err != nil {
		return Referral{}, false, fmt.Errorf("record signup: %w", err)
	}
	return Referral{
		ReferralID: ref.ID, AppID: ref.AppID, Ref: ref.RefCode, UserID: ref.UserID,
		SelfReferral: ref.SelfReferral, CreatedAt: ref.CreatedAt,
	}, created, nil
}
