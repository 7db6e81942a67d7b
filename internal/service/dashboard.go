package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// The dashboard's reads and actions. Every one takes the signed-in
// account and answers only what is that account's: an app of another
// owner is not found, whatever its id.

func appNotFound(appID string) error {
	return refusal.NotFound("app_not_found", "you have no app %.64q", appID)
}

// OwnedApps lists the apps the account owns, oldest first.
func (s *Service) OwnedApps(ctx context.Context, accountID string) ([]db.App, error) {
	return s.Q.ListOwnedApps(ctx, &accountID)
}

// OwnedApp is the app if the account owns it.
func (s *Service) OwnedApp(ctx context.Context, accountID, appID string) (db.App, error) {
	if !isText(appID) || len(appID) > maxIDLen {
		return db.App{}, appNotFound(appID)
	}
	app, err := s.Q.GetOwnedApp(ctx, db.GetOwnedAppParams{ID: appID, OwnerID: &accountID})
	if errors.Is(err, pgx.ErrNoRows) {
		return app, appNotFound(appID)
	}
	return app, err
}

// CreateOwnedApp creates an app owned by the account, with its first
// secret key (shown once).
func (s *Service) CreateOwnedApp(ctx context.Context, accountID string, in programs.NewApp) (programs.CreatedApp, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "" || len(in.Name) > 200 || !isText(in.Name):
		return programs.CreatedApp{}, refusal.Invalid("invalid_name", "an app needs a name of at most 200 characters")
	case in.CommissionBPS < 0 || in.CommissionBPS > 10000:
		return programs.CreatedApp{}, refusal.Invalid("invalid_commission", "the commission is a percent from 0 to 100")
	case in.Hold < 0 || in.Hold > 365*24*time.Hour:
		return programs.CreatedApp{}, refusal.Invalid("invalid_hold", "the hold period is from 0 to 365 days")
	case in.CookieDays != 0 && (in.CookieDays < 1 || in.CookieDays > 730):
		return programs.CreatedApp{}, refusal.Invalid("invalid_cookie_days", "the cookie window is from 1 to 730 days")
	}
	in.OwnerID = accountID
	return programs.CreateApp(ctx, s.Pool, in)
}

// AppKeys lists the app's secret keys by prefix, newest first.
func (s *Service) AppKeys(ctx context.Context, accountID, appID string) ([]db.ListAPIKeysRow, error) {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return nil, err
	}
	return s.Q.ListAPIKeys(ctx, appID)
}

// CreateAppKey makes a new secret key for the app: shown this once.
func (s *Service) CreateAppKey(ctx context.Context, accountID, appID string) (string, error) {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return "", err
	}
	return programs.AddKey(ctx, s.Q, appID)
}

// RevokeAppKey revokes one of the app's keys; a key of another app, or one
// already revoked, is not found.
func (s *Service) RevokeAppKey(ctx context.Context, accountID, appID string, keyID int64) error {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return err
	}
	n, err := s.Q.RevokeAPIKey(ctx, db.RevokeAPIKeyParams{ID: keyID, AppID: appID})
	if err != nil {
		return err
	}
	if n == 0 {
		return refusal.NotFound("key_not_found", "this app has no active key %d", keyID)
	}
	return nil
}

// Program is a program as its join page shows it.
type Program struct {
	AppID, Name       string
	CommissionPercent string
	CookieDays        int32
}

// JoinablePage is the public face of a program: any app can be joined.
func (s *Service) JoinablePage(ctx context.Context, appID string) (Program, error) {
	if !isText(appID) || len(appID) > maxIDLen {
		return Program{}, refusal.NotFound("program_not_found", "there is no program %.64q", appID)
	}
	app, err := s.Q.GetApp(ctx, appID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Program{}, refusal.NotFound("program_not_found", "there is no program %q", appID)
	}
	if err != nil {
		return Program{}, err
	}
	return Program{AppID: app.ID, Name: app.Name, CommissionPercent: Percent(app.CommissionBps), CookieDays: app.CookieDays}, nil
}

// Percent is basis points as a percent for people: 3000 → "30", 1250 → "12.5".
func Percent(bps int32) string {
	s := fmt.Sprintf("%d.%02d", bps/100, bps%100)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// Join makes the account a creator in the app's program (a creator of its
// own the first time) and returns the ref code; joining again returns the
// same code. A creator an operator enrolled with the account's email is
// not taken over: nobody verified that the email is this person's.
func (s *Service) Join(ctx context.Context, acct Account, appID string) (programs.Enrollment, error) {
	if _, err := s.JoinablePage(ctx, appID); err != nil {
		return programs.Enrollment{}, err
	}
	var out programs.Enrollment
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := s.Q.WithTx(tx)
		cr, err := q.GetCreatorByUser(ctx, &acct.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := q.GetCreatorByEmail(ctx, acct.Email); err == nil {
				return refusal.Conflict("creator_email_taken",
					"a creator with the email %s was added by the platform; ask support to link it to your account", acct.Email)
			}
			cr, err = q.CreateLinkedCreator(ctx, db.CreateLinkedCreatorParams{ID: ids.New("cr"), Email: acct.Email, UserID: &acct.ID})
		}
		if err != nil {
			return err
		}
		out, err = programs.EnrollCreator(ctx, q, appID, cr.ID)
		return err
	})
	return out, err
}

// Membership is one program a creator is in, with what it has brought.
type Membership struct {
	App     db.App
	RefCode string
	Balance Balance
	Stats   Stats
	// Pending is what is on hold, each with the date it becomes available.
	Pending []db.ListPendingConversionsOfCreatorRow
}

// Memberships lists the programs the account is a creator in.
func (s *Service) Memberships(ctx context.Context, accountID string) ([]Membership, error) {
	cr, err := s.Q.GetCreatorByUser(ctx, &accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.Q.ListCreatorPrograms(ctx, cr.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Membership, 0, len(rows))
	for _, r := range rows {
		m := Membership{App: r.App, RefCode: r.RefCode.Code,
			Balance: Balance{PendingCents: r.PendingCents, AvailableCents: r.AvailableCents, PaidCents: r.PaidCents}}
		if m.Stats, err = s.Stats(ctx, r.App.ID, r.RefCode.Code); err != nil {
			return nil, err
		}
		if m.Pending, err = s.Q.ListPendingConversionsOfCreator(ctx, db.ListPendingConversionsOfCreatorParams{AppID: r.App.ID, CreatorID: cr.ID}); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ExampleRef is a ref code of the app's program to show in examples (its
// first creator's), or "" when nobody has joined yet.
func (s *Service) ExampleRef(ctx context.Context, accountID, appID string) (string, error) {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return "", err
	}
	code, err := s.Q.FirstRefCode(ctx, appID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return code, err
}
