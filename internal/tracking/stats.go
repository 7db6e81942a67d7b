package tracking

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentlinks/agentlinks/db"
)

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

// ProgramStats answers the stats of the key's program over the last days
// days, from the per-day rollups (a read of at most days rows per table,
// whatever the program's size).
func (s *Service) ProgramStats(ctx context.Context, bearer string, days int, now time.Time) (ProgramStats, error) {
	app, err := s.AppForKey(ctx, bearer)
	if err != nil {
		return ProgramStats{}, err
	}
	if days < 1 || days > MaxStatsDays {
		return ProgramStats{}, invalid("invalid_days", "days must be a whole number from 1 to %d", MaxStatsDays)
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
	out := ProgramStats{AppID: app.ID, Currency: app.Currency, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Days: make([]DayStats, 0, days)}
	i := 0
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := DayStats{Day: d.Format(time.DateOnly)}
		if i < len(rows) && rows[i].Day.Time.Equal(d) {
			r := rows[i]
			i++
			day.add(DayStats{
				Clicks: r.Clicks, UniqueClicks: r.UniqueClicks, Signups: r.Signups, Conversions: r.Conversions,
				AmountCents: r.AmountCents, CommissionCents: r.CommissionCents, PlatformFeeCents: r.PlatformFeeCents,
				NetCommissionCents: r.NetCommissionCents, Refunds: r.Refunds, RefundedCents: r.RefundedCents,
				ReversedCommissionCents: r.ReversedCommissionCents, ReversedPlatformFeeCents: r.ReversedPlatformFeeCents,
				ReversedNetCommissionCents: r.ReversedNetCommissionCents,
			})
		}
		out.Totals.add(day)
		out.Days = append(out.Days, day)
	}
	return out, nil
}
