package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/payout"
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

// AppSettings are what an owner sets on an app.
type AppSettings struct {
	Name           string
	CommissionBPS  int32
	Hold           time.Duration
	CookieDays     int32
	MinPayoutCents int64
	AllowedOrigins []string // as typed; normalized (https://shop.example.com)
	Keyless        bool
}

// check refuses settings no program can have, and normalizes the origins.
func (a *AppSettings) check() error {
	a.Name = strings.TrimSpace(a.Name)
	switch {
	case a.Name == "" || len(a.Name) > 200 || !isText(a.Name):
		return refusal.Invalid("invalid_name", "an app needs a name of at most 200 characters")
	case a.CommissionBPS < 0 || a.CommissionBPS > 10000:
		return refusal.Invalid("invalid_commission", "the commission is a percent from 0 to 100")
	case a.Hold < 0 || a.Hold > 365*24*time.Hour:
		return refusal.Invalid("invalid_hold", "the hold period is from 0 to 365 days")
	case a.CookieDays < 1 || a.CookieDays > 730:
		return refusal.Invalid("invalid_cookie_days", "the cookie window is from 1 to 730 days")
	case a.MinPayoutCents < 0 || a.MinPayoutCents > 100_000_000:
		return refusal.Invalid("invalid_min_payout", "the minimum payout is from 0 to 1,000,000")
	case len(a.AllowedOrigins) > 20:
		return refusal.Invalid("invalid_origins", "at most 20 allowed origins")
	}
	norm := make([]string, 0, len(a.AllowedOrigins))
	for _, o := range a.AllowedOrigins {
		if strings.TrimSpace(o) == "" {
			continue
		}
		n, err := programs.NormalizeOrigin(o)
		if err != nil {
			return refusal.Invalid("invalid_origin", "%v", err)
		}
		if !slices.Contains(norm, n) {
			norm = append(norm, n)
		}
	}
	a.AllowedOrigins = norm
	return nil
}

// CreateOwnedApp creates an app owned by the account, with its first
// secret key (shown once).
func (s *Service) CreateOwnedApp(ctx context.Context, accountID string, in programs.NewApp) (programs.CreatedApp, error) {
	if in.CookieDays == 0 {
		in.CookieDays = 60
	}
	settings := AppSettings{Name: in.Name, CommissionBPS: in.CommissionBPS, Hold: in.Hold, CookieDays: in.CookieDays, MinPayoutCents: programs.DefaultMinPayoutCents}
	if in.MinPayoutCents != nil {
		settings.MinPayoutCents = *in.MinPayoutCents
	}
	if err := settings.check(); err != nil {
		return programs.CreatedApp{}, err
	}
	in.Name, in.OwnerID = settings.Name, accountID
	if s.StripePayoutsEnabled() != nil {
		in.PayoutMode = payout.ModeManual
	}
	return programs.CreateApp(ctx, s.Pool, in)
}

// UpdateOwnedApp changes an app's settings. Conversions already recorded
// keep the rate and hold they were recorded with.
func (s *Service) UpdateOwnedApp(ctx context.Context, accountID, appID string, in AppSettings) (db.App, error) {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return db.App{}, err
	}
	if err := in.check(); err != nil {
		return db.App{}, err
	}
	if in.Hold%time.Second != 0 {
		return db.App{}, refusal.Invalid("invalid_hold", "the hold period is a whole number of seconds")
	}
	return s.Q.UpdateAppSettings(ctx, db.UpdateAppSettingsParams{
		ID: appID, Name: in.Name, CommissionBps: in.CommissionBPS, HoldSeconds: int64(in.Hold / time.Second),
		CookieDays: in.CookieDays, MinPayoutCents: in.MinPayoutCents, AllowedOrigins: in.AllowedOrigins,
		KeylessConversions: in.Keyless,
	})
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

// CreatorsPage is a page of a program's creators, in the order they joined.
type CreatorsPage struct {
	Rows       []db.ProgramCreatorsRow
	Page, Of   int // this page, of how many (1-based)
	Total      int64
	PerPage    int
	Prev, Next int // 0 when there is none
}

// creatorsPage answers one page of the program's creators with what each
// brought over the last days days (0: all time) and their balances; the
// sums read the page's rows and days only, and a page is computed at most
// every creatorPageTTL.
func (s *Service) creatorsPage(ctx context.Context, appID string, days, page, perPage int) (CreatorsPage, error) {
	key := fmt.Sprintf("%s|%d|%d|%d", appID, days, page, perPage)
	if p, ok := s.creatorPages.get(key); ok {
		return p, nil
	}
	p, err := s.programCreators(ctx, appID, days, page, perPage)
	if err == nil {
		s.creatorPages.put(key, p)
	}
	return p, err
}

func (s *Service) programCreators(ctx context.Context, appID string, days, page, perPage int) (CreatorsPage, error) {
	total, err := s.Q.CountProgramCreators(ctx, appID)
	if err != nil {
		return CreatorsPage{}, err
	}
	of := max(1, int((total+int64(perPage)-1)/int64(perPage)))
	page = min(max(page, 1), of)
	to := s.Now().UTC().Truncate(24 * time.Hour)
	from := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if days > 0 {
		from = to.AddDate(0, 0, -(days - 1))
	}
	rows, err := s.Q.ProgramCreators(ctx, db.ProgramCreatorsParams{AppID: appID, MaxRows: int32(perPage), SkipRows: int32((page - 1) * perPage),
		FromDay: pgtype.Date{Time: from, Valid: true}, ToDay: pgtype.Date{Time: to, Valid: true}})
	if err != nil {
		return CreatorsPage{}, err
	}
	p := CreatorsPage{Rows: rows, Page: page, Of: of, Total: total, PerPage: perPage}
	if page > 1 {
		p.Prev = page - 1
	}
	if page < of {
		p.Next = page + 1
	}
	return p, nil
}

// ExportCreators calls emit with every creator of the program, a page at
// a time.
func (s *Service) ExportCreators(ctx context.Context, accountID, appID string, emit func(db.ProgramCreatorsRow) error) error {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return err
	}
	for page := 1; ; page++ {
		p, err := s.programCreators(ctx, appID, 0, page, 500) // fresh, never from the page cache
		if err != nil {
			return err
		}
		for _, r := range p.Rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		if p.Next == 0 {
			return nil
		}
	}
}

// Activity is a program's newest conversions and refunds, and the last
// moves of referred customers.
type Activity struct {
	Conversions []db.RecentConversionsRow
	Refunds     []db.RecentRefundsRow
	Moves       []db.RecentReferralMovesRow
}

// Overview is what a program's overview page shows.
type Overview struct {
	App      db.App
	Stats    ProgramStats
	Creators CreatorsPage
	Activity Activity
}

// ProgramOverview answers the owner's overview of a program over the last
// days days: totals per day, a page of 25 creators, and the newest
// conversions, refunds and moves.
func (s *Service) ProgramOverview(ctx context.Context, accountID, appID string, days, creatorsPage int) (Overview, error) {
	var o Overview
	var err error
	if o.App, err = s.OwnedApp(ctx, accountID, appID); err != nil {
		return o, err
	}
	if o.Stats, err = s.programStats(ctx, o.App, days, s.Now()); err != nil {
		return o, err
	}
	if o.Creators, err = s.creatorsPage(ctx, appID, days, creatorsPage, 25); err != nil {
		return o, err
	}
	a := &o.Activity
	if a.Conversions, err = s.Q.RecentConversions(ctx, db.RecentConversionsParams{AppID: appID, MaxRows: 25}); err != nil {
		return o, err
	}
	if a.Refunds, err = s.Q.RecentRefunds(ctx, db.RecentRefundsParams{AppID: appID, MaxRows: 10}); err != nil {
		return o, err
	}
	a.Moves, err = s.Q.RecentReferralMoves(ctx, appID)
	return o, err
}

// Setup is what a program's setup page shows.
type Setup struct {
	App  db.App
	Keys []db.ListAPIKeysRow // newest first, by prefix
	// ExampleRef is a ref code of the program to show in examples (its
	// first creator's), or "" when nobody has joined yet.
	ExampleRef string
}

// ProgramSetup answers the owner's setup page of a program.
func (s *Service) ProgramSetup(ctx context.Context, accountID, appID string) (Setup, error) {
	var st Setup
	var err error
	if st.App, err = s.OwnedApp(ctx, accountID, appID); err != nil {
		return st, err
	}
	if st.Keys, err = s.Q.ListAPIKeys(ctx, appID); err != nil {
		return st, err
	}
	st.ExampleRef, err = s.Q.FirstRefCode(ctx, appID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	return st, err
}

// ExportConversions calls emit with the program's conversions, oldest
// first, a page at a time (memory stays flat whatever the program's size).
func (s *Service) ExportConversions(ctx context.Context, accountID, appID string, emit func(db.ExportConversionsRow) error) error {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return err
	}
	after, afterID := time.Time{}, ""
	for {
		rows, err := s.Q.ExportConversions(ctx, db.ExportConversionsParams{AppID: appID, AfterCreated: after, AfterID: afterID, MaxRows: 2000})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		if len(rows) < 2000 {
			return nil
		}
		after, afterID = rows[len(rows)-1].CreatedAt, rows[len(rows)-1].ID
	}
}

// MoveCustomer gives a referred customer (the app's user_id) to the
// creator of another ref code in the program, or gives an unattributed
// customer (conversions, no referral) a creator. Their future conversions
// are credited to that creator; what is recorded stays where it is. The
// move is kept with who made it and when.
func (s *Service) MoveCustomer(ctx context.Context, accountID, appID, userID, toRef string) error {
	if _, err := s.OwnedApp(ctx, accountID, appID); err != nil {
		return err
	}
	userID, toRef = strings.TrimSpace(userID), strings.ToLower(strings.TrimSpace(toRef))
	if err := checkID("user_id", userID, true); err != nil {
		return err
	}
	if !isText(toRef) || len(toRef) > 64 {
		return refusal.NotFound("unknown_ref", "no creator of this program has the ref code %.64q", toRef)
	}
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := s.Q.WithTx(tx)
		to, err := q.GetRefCodeOfApp(ctx, db.GetRefCodeOfAppParams{AppID: appID, Code: toRef})
		if errors.Is(err, pgx.ErrNoRows) {
			return refusal.NotFound("unknown_ref", "no creator of this program has the ref code %q", toRef)
		}
		if err != nil {
			return err
		}
		var from *string
		ref, err := q.GetReferralOfApp(ctx, db.GetReferralOfAppParams{AppID: appID, UserID: userID})
		switch {
		case err == nil:
			if ref.CreatorID == to.CreatorID {
				return refusal.Invalid("already_attributed", "customer %q is already attributed to ref %s", userID, ref.RefCode)
			}
			was := ref.CreatorID // ref is overwritten below
			from = &was
			day := pgtype.Date{Time: ref.CreatedAt.UTC().Truncate(24 * time.Hour), Valid: true}
			if err := q.UncountRefSignup(ctx, db.UncountRefSignupParams{RefCode: ref.RefCode, Day: day}); err != nil {
				return err
			}
			if err := q.CountRefSignup(ctx, db.CountRefSignupParams{RefCode: to.Code, Day: day}); err != nil {
				return err
			}
			if ref, err = q.MoveReferral(ctx, db.MoveReferralParams{ID: ref.ID, RefCode: to.Code, CreatorID: to.CreatorID}); err != nil {
				return err
			}
		case errors.Is(err, pgx.ErrNoRows):
			n, err := q.CountConversionsByUser(ctx, db.CountConversionsByUserParams{AppID: appID, UserID: userID})
			if err != nil {
				return err
			}
			if n == 0 {
				return refusal.NotFound("customer_not_found", "this program has no customer %q (no signup, no conversion)", userID)
			}
			if ref, err = q.CreateReferral(ctx, db.CreateReferralParams{ID: ids.New("rfl"), AppID: appID, RefCode: to.Code,
				CreatorID: to.CreatorID, UserID: userID}); err != nil {
				return err
			}
		default:
			return err
		}
		_, err = q.InsertReferralMove(ctx, db.InsertReferralMoveParams{ReferralID: ref.ID, AppID: appID,
			FromCreatorID: from, ToCreatorID: to.CreatorID, MovedBy: accountID})
		return err
	})
}

// creatorPageTTL is how old a page of a program's creators may be: the
// overview's costliest read (each creator's days in the period), so a
// program whose owners reload it often sums it once every few seconds
// (BENCHMARKS.md, Dashboard pages). Totals, conversions and balances
// elsewhere on the page are read fresh.
const creatorPageTTL = 5 * time.Second

// pageCache keeps computed pages of creators for creatorPageTTL.
type pageCache struct {
	mu sync.Mutex
	m  map[string]cachedPage
}

type cachedPage struct {
	page    CreatorsPage
	expires time.Time
}

func (c *pageCache) get(key string) (CreatorsPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e.page, ok && time.Now().Before(e.expires)
}

func (c *pageCache) put(key string, p CreatorsPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10_000 { // bounded: start over rather than grow
		c.m = map[string]cachedPage{}
	}
	c.m[key] = cachedPage{page: p, expires: time.Now().Add(creatorPageTTL)}
}
