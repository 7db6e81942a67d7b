package service

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// Platform is what an operator sees.
type Platform struct {
	Counts db.PlatformCountsRow
	Days   []db.PlatformDaysRow
	Parked []db.ListStripeEventsByStatusRow
	// Payouts per currency; StuckRuns are runs waiting on Stripe for over an hour.
	Payouts   []db.PlatformPayoutsRow
	StuckRuns []db.PayoutRun
}

// PlatformView answers the operator's page; an account that is not an
// operator is refused as if the page did not exist.
func (s *Service) PlatformView(ctx context.Context, acct Account, days int, now time.Time) (Platform, error) {
	var p Platform
	if !acct.Operator {
		return p, refusal.NotFound("not_found", "there is no such page")
	}
	to := now.UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -(days - 1))
	var err error
	if p.Counts, err = s.Q.PlatformCounts(ctx); err != nil {
		return p, err
	}
	if p.Days, err = s.Q.PlatformDays(ctx, db.PlatformDaysParams{FromDay: pgtype.Date{Time: from, Valid: true}, ToDay: pgtype.Date{Time: to, Valid: true}}); err != nil {
		return p, err
	}
	if p.Payouts, err = s.Q.PlatformPayouts(ctx); err != nil {
		return p, err
	}
	if p.StuckRuns, err = s.Q.StuckPayoutRuns(ctx); err != nil {
		return p, err
	}
	p.Parked, err = s.Q.ListStripeEventsByStatus(ctx, "parked")
	return p, err
}
