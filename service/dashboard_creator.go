package service

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// The creator's side of the dashboard: a program's join page, joining,
// and what each program a creator is in brought them.

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
	return Program{AppID: app.ID, Name: app.Name, CommissionPercent: commission.Percent(app.CommissionBps), CookieDays: app.CookieDays}, nil
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
	// Reversals are the commissions taken back or flagged, with why.
	Reversals []Reversal
	// Days are the last 30 UTC days of the link: clicks, signups,
	// conversions and the creator's net earnings, oldest first.
	Days []DayStats
	// Payouts are the creator's payouts in the program, newest first.
	Payouts []Payout
	// CashOut is why the creator cannot cash out now ("" when they can).
	CashOut string
	// NextPayout is when the program's schedule runs next (nil: no schedule).
	NextPayout *time.Time
}

// CreatorView is the creator's side of the dashboard: the programs the
// account is a creator in, and its payout account.
type CreatorView struct {
	Memberships   []Membership
	PayoutAccount PayoutAccount
	// NeedsPayoutAccount: a program pays through Stripe (and Stripe is
	// configured), so the account card is shown.
	NeedsPayoutAccount bool
}

// Creator answers the creator's side of the account's dashboard.
func (s *Service) Creator(ctx context.Context, accountID string) (CreatorView, error) {
	cr, err := s.Q.GetCreatorByUser(ctx, &accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return CreatorView{}, nil
	}
	if err != nil {
		return CreatorView{}, err
	}
	v := CreatorView{PayoutAccount: payoutAccountOf(cr)}
	if v.Memberships, err = s.memberships(ctx, cr); err != nil {
		return v, err
	}
	for _, m := range v.Memberships {
		v.NeedsPayoutAccount = v.NeedsPayoutAccount || m.App.PayoutMode == payout.ModeStripe
	}
	// Without Stripe nobody can set up a payout account.
	v.NeedsPayoutAccount = v.NeedsPayoutAccount && s.StripePayoutsEnabled() == nil
	return v, nil
}

// memberships lists the programs the creator is in.
func (s *Service) memberships(ctx context.Context, cr db.Creator) ([]Membership, error) {
	rows, err := s.Q.ListCreatorPrograms(ctx, cr.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Membership, 0, len(rows))
	for _, r := range rows {
		m := Membership{App: r.App, RefCode: r.RefCode.Code,
			Balance: Balance{PendingCents: r.PendingCents, AvailableCents: r.AvailableCents, PaidCents: r.PaidCents, InPayoutCents: r.InPayoutCents}}
		if m.Stats, err = s.Stats(ctx, r.App.ID, r.RefCode.Code); err != nil {
			return nil, err
		}
		if m.Pending, err = s.Q.ListPendingConversionsOfCreator(ctx, db.ListPendingConversionsOfCreatorParams{AppID: r.App.ID, CreatorID: cr.ID}); err != nil {
			return nil, err
		}
		if m.Reversals, err = s.reversals(ctx, r.App.ID, cr.ID); err != nil {
			return nil, err
		}
		if m.Days, err = s.refDays(ctx, r.RefCode.Code, 30, s.Now()); err != nil {
			return nil, err
		}
		if m.Payouts, err = s.creatorPayouts(ctx, r.App.ID, cr.ID); err != nil {
			return nil, err
		}
		m.CashOut = payout.Skip(payout.Candidate{AvailableCents: m.Balance.AvailableCents, HasAccount: payoutAccountOf(cr).Ready()},
			r.App.MinPayoutCents, r.App.PayoutMode)
		for _, p := range m.Payouts {
			if p.Status == payout.StatusReserved || p.Status == payout.StatusProcessing || p.Status == payout.StatusAwaitingPayment {
				m.CashOut = "a payout of yours is under way"
			}
		}
		if sched, err := payout.ParseSchedule(r.App.PayoutSchedule); err == nil && sched != (payout.Schedule{}) {
			next := sched.Next(s.Now())
			m.NextPayout = &next
		}
		out = append(out, m)
	}
	return out, nil
}

// Reversal is a commission taken back from a creator, with why.
type Reversal struct {
	ConversionID string
	Reason       string // refund, dispute, clawback (refund after release), self-referral
	AmountCents  int64  // of the sale
	NetCents     int64  // of the creator's commission
	At           time.Time
}

// reversals lists what was taken back from a creator in a program, and
// the conversions flagged as self-referrals, newest first.
func (s *Service) reversals(ctx context.Context, appID, creatorID string) ([]Reversal, error) {
	refunds, err := s.Q.CreatorReversals(ctx, db.CreatorReversalsParams{AppID: appID, CreatorID: creatorID})
	if err != nil {
		return nil, err
	}
	out := make([]Reversal, 0, len(refunds))
	for _, r := range refunds {
		out = append(out, Reversal{ConversionID: r.ConversionID, Reason: conversion.RefundReason(r.DedupeKey, r.Clawback), AmountCents: r.AmountCents, NetCents: r.NetCommissionCents, At: r.CreatedAt})
	}
	flagged, err := s.Q.CreatorFlaggedConversions(ctx, db.CreatorFlaggedConversionsParams{AppID: appID, CreatorID: creatorID})
	if err != nil {
		return nil, err
	}
	for _, f := range flagged {
		out = append(out, Reversal{ConversionID: f.ID, Reason: "flagged: self-referral", AmountCents: f.AmountCents, NetCents: f.NetCommissionCents, At: f.CreatedAt})
	}
	slices.SortStableFunc(out, func(a, b Reversal) int { return b.At.Compare(a.At) })
	return out, nil
}

// refDays is a ref link's last days, zeros included, oldest first.
func (s *Service) refDays(ctx context.Context, ref string, days int, now time.Time) ([]DayStats, error) {
	to := now.UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -(days - 1))
	rows, err := s.Q.RefDays(ctx, db.RefDaysParams{RefCode: ref, FromDay: pgtype.Date{Time: from, Valid: true}, ToDay: pgtype.Date{Time: to, Valid: true}})
	if err != nil {
		return nil, err
	}
	return everyDay(from, to, rows, func(r db.RefDaysRow) time.Time { return r.Day.Time }, func(d *DayStats, r db.RefDaysRow) {
		d.Clicks, d.Signups, d.Conversions = r.Clicks, r.Signups, r.Conversions
		d.NetCommissionCents, d.ReversedNetCommissionCents = r.NetCommissionCents, r.ReversedNetCommissionCents
	}), nil
}
