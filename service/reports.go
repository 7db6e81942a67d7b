package service

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// Balance is a creator's money in one program, derived from the ledger.
type Balance struct {
	PendingCents   int64 `json:"pending_cents"`
	AvailableCents int64 `json:"available_cents"`
	PaidCents      int64 `json:"paid_cents"`
	// InPayoutCents is reserved by a payout run that has not paid it yet.
	InPayoutCents int64 `json:"in_payout_cents"`
}

// Balance answers the balance of the ref's creator in the app's program.
func (s *Service) Balance(ctx context.Context, appID, ref string) (Balance, error) {
	row, err := s.appRef(ctx, appID, ref)
	if err != nil {
		return Balance{}, err
	}
	// The rollup the ledger keeps in step (one row, whatever the creator's
	// history); no row yet means nothing was ever credited.
	b, err := s.Q.GetCreatorBalance(ctx, db.GetCreatorBalanceParams{AppID: row.App.ID, CreatorID: row.RefCode.CreatorID})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Balance{}, err
	}
	return Balance{PendingCents: b.PendingCents, AvailableCents: b.AvailableCents, PaidCents: b.PaidCents, InPayoutCents: b.InPayoutCents}, nil
}

// Stats counts what a ref link brought.
type Stats struct {
	Clicks       int64 `json:"clicks"`
	UniqueClicks int64 `json:"unique_clicks"`
	Signups      int64 `json:"signups"`
	Conversions  int64 `json:"conversions"`
}

// Stats answers the counters of one ref of the app.
func (s *Service) Stats(ctx context.Context, appID, ref string) (Stats, error) {
	row, err := s.appRef(ctx, appID, ref)
	if err != nil {
		return Stats{}, err
	}
	code := row.RefCode.Code
	clicks, err := s.Q.ClickTotals(ctx, code)
	if err != nil {
		return Stats{}, err
	}
	// Per-day rollups: a read of one row per active day, whatever the volume.
	totals, err := s.Q.RefTotals(ctx, code)
	if err != nil {
		return Stats{}, err
	}
	return Stats{Clicks: clicks.Clicks, UniqueClicks: clicks.UniqueClicks, Signups: totals.Signups, Conversions: totals.Conversions}, nil
}

// appRef finds a ref of the app; another app's ref is unknown.
func (s *Service) appRef(ctx context.Context, appID, ref string) (db.GetRefCodeRow, error) {
	row, err := s.lookupRef(ctx, ref, "")
	if err != nil {
		return row, err
	}
	if row.App.ID != appID {
		return row, refusal.NotFound("unknown_ref", "this app has no ref code %q", ref)
	}
	return row, nil
}

// MaxStatsDays is the longest period ProgramStats answers at once.
const MaxStatsDays = 366

// DayStats is what a program's links brought on one UTC day, or over a
// period (ProgramStats.Totals). Money is in the program's currency, cents.
type DayStats struct {
	Day                        string `json:"day,omitempty"` // YYYY-MM-DD
	Clicks                     int64  `json:"clicks"`
	UniqueClicks               int64  `json:"unique_clicks"`
	Signups                    int64  `json:"signups"`
	Conversions                int64  `json:"conversions"`
	AmountCents                int64  `json:"amount_cents"`
	CommissionCents            int64  `json:"commission_cents"`
	PlatformFeeCents           int64  `json:"platform_fee_cents"`
	NetCommissionCents         int64  `json:"net_commission_cents"`
	Refunds                    int64  `json:"refunds"`
	RefundedCents              int64  `json:"refunded_cents"`
	ReversedCommissionCents    int64  `json:"reversed_commission_cents"`
	ReversedPlatformFeeCents   int64  `json:"reversed_platform_fee_cents"`
	ReversedNetCommissionCents int64  `json:"reversed_net_commission_cents"`
}

func (d *DayStats) add(o DayStats) {
	d.Clicks += o.Clicks
	d.UniqueClicks += o.UniqueClicks
	d.Signups += o.Signups
	d.Conversions += o.Conversions
	d.AmountCents += o.AmountCents
	d.CommissionCents += o.CommissionCents
	d.PlatformFeeCents += o.PlatformFeeCents
	d.NetCommissionCents += o.NetCommissionCents
	d.Refunds += o.Refunds
	d.RefundedCents += o.RefundedCents
	d.ReversedCommissionCents += o.ReversedCommissionCents
	d.ReversedPlatformFeeCents += o.ReversedPlatformFeeCents
	d.ReversedNetCommissionCents += o.ReversedNetCommissionCents
}

// ProgramStats is a program's activity over the last Days UTC days, today
// included: totals and one entry per day (zeros included), oldest first,
// ready for a chart. Clicks exclude bots; conversions and refunds count on
// the day they were recorded.
type ProgramStats struct {
	AppID    string     `json:"app_id"`
	Currency string     `json:"currency"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	Totals   DayStats   `json:"totals"`
	Days     []DayStats `json:"days"`
}

// ProgramStats answers the stats of the app's program over the last days
// days, from the per-day rollups (a read of at most days rows per table,
// whatever the program's size).
func (s *Service) ProgramStats(ctx context.Context, appID string, days int, now time.Time) (ProgramStats, error) {
	app, err := s.cachedApp(ctx, appID)
	if err != nil {
		return ProgramStats{}, err
	}
	return s.programStats(ctx, app, days, now)
}

func (s *Service) programStats(ctx context.Context, app db.App, days int, now time.Time) (ProgramStats, error) {
	if days < 1 || days > MaxStatsDays {
		return ProgramStats{}, refusal.Invalid("invalid_days", "days must be a whole number from 1 to %d", MaxStatsDays)
	}
	to := now.UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -(days - 1))
	rows, err := s.Q.ProgramDays(ctx, db.ProgramDaysParams{
		AppID:   app.ID,
		FromDay: pgtype.Date{Time: from, Valid: true},
		ToDay:   pgtype.Date{Time: to, Valid: true},
	})
	if err != nil {
		return ProgramStats{}, err
	}
	out := ProgramStats{AppID: app.ID, Currency: app.Currency, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly)}
	out.Days = everyDay(from, to, rows, func(r db.ProgramDaysRow) time.Time { return r.Day.Time }, func(d *DayStats, r db.ProgramDaysRow) {
		d.add(DayStats{
			Clicks: r.Clicks, UniqueClicks: r.UniqueClicks, Signups: r.Signups, Conversions: r.Conversions,
			AmountCents: r.AmountCents, CommissionCents: r.CommissionCents, PlatformFeeCents: r.PlatformFeeCents,
			NetCommissionCents: r.NetCommissionCents, Refunds: r.Refunds, RefundedCents: r.RefundedCents,
			ReversedCommissionCents: r.ReversedCommissionCents, ReversedPlatformFeeCents: r.ReversedPlatformFeeCents,
			ReversedNetCommissionCents: r.ReversedNetCommissionCents,
		})
	})
	for _, d := range out.Days {
		out.Totals.add(d)
	}
	return out, nil
}

// everyDay makes one entry per UTC day in [from, to], oldest first, zeros
// included, filled from the rows (ordered by day, days without a row left
// out) that day names.
func everyDay[R any](from, to time.Time, rows []R, day func(R) time.Time, fill func(*DayStats, R)) []DayStats {
	out := make([]DayStats, 0, int(to.Sub(from)/(24*time.Hour))+1)
	i := 0
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		entry := DayStats{Day: d.Format(time.DateOnly)}
		if i < len(rows) && day(rows[i]).Equal(d) {
			fill(&entry, rows[i])
			i++
		}
		out = append(out, entry)
	}
	return out
}
