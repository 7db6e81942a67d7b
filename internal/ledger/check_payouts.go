package ledger

import (
	"context"
	"fmt"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/payout"
)

// CheckPayouts checks the payouts, runs and charges against the ledger
// (part of Check), one line per violation:
//
//   - each payout's transfers leave what its status says: in payout while
//     reserved or awaiting, paid once paid, nothing once failed or reversed
//     (the money back in available); its allocations add up to it;
//   - each run's payouts add up to its net and fee, a funded run collected
//     exactly its charge and an unfunded one nothing, and its charge is its
//     net plus fee less the credit it used;
//   - a Stripe payout is paid only from a funded run, and no app had more
//     paid out for it than it paid in (its credit never below zero).
func CheckPayouts(ctx context.Context, q *db.Queries) ([]string, error) {
	var bad []string
	rows, err := q.PayoutLedger(ctx)
	if err != nil {
		return nil, err
	}
	moved := map[string]map[string]int64{}
	for _, r := range rows {
		if moved[r.PayoutID] == nil {
			moved[r.PayoutID] = map[string]int64{}
		}
		moved[r.PayoutID][r.Account] = r.BalanceCents
	}
	runs, err := q.ListPayoutRunsAll(ctx)
	if err != nil {
		return nil, err
	}
	runByID := map[string]db.PayoutRun{}
	for _, r := range runs {
		runByID[r.ID] = r
	}
	payouts, err := q.ListPayoutsAll(ctx)
	if err != nil {
		return nil, err
	}
	type sums struct{ net, fee int64 }
	perRun := map[string]sums{}
	for _, p := range payouts {
		m := moved[p.ID]
		want := map[string]int64{CreatorAvailable: -p.AmountCents, CreatorInPayout: p.AmountCents, CreatorPaid: 0}
		switch p.Status {
		case payout.StatusPaid:
			want[CreatorInPayout], want[CreatorPaid] = 0, p.AmountCents
		case payout.StatusFailed, payout.StatusReversed:
			want = map[string]int64{CreatorAvailable: 0, CreatorInPayout: 0, CreatorPaid: 0}
		}
		for _, acct := range []string{CreatorAvailable, CreatorInPayout, CreatorPaid} {
			if m[acct] != want[acct] {
				bad = append(bad, fmt.Sprintf("payout %s (%s, %d cents): its transfers leave %s %d, want %d",
					p.ID, p.Status, p.AmountCents, acct, m[acct], want[acct]))
			}
		}
		run := runByID[p.RunID]
		if run.Mode == payout.ModeStripe && (p.Status == payout.StatusPaid || p.Status == payout.StatusProcessing) && run.FundedAt == nil {
			bad = append(bad, fmt.Sprintf("payout %s is %s, but its run %s was never funded", p.ID, p.Status, run.ID))
		}
		s := perRun[p.RunID]
		perRun[p.RunID] = sums{s.net + p.AmountCents, s.fee + p.FeeCents}
	}
	allocs, err := q.AllocationSums(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range allocs {
		if a.AllocatedCents != a.AmountCents || a.AllocatedFeeCents != a.FeeCents {
			bad = append(bad, fmt.Sprintf("payout %s of %d (fee %d) carries %d (fee %d) of conversions",
				a.ID, a.AmountCents, a.FeeCents, a.AllocatedCents, a.AllocatedFeeCents))
		}
	}
	collections, err := q.RunCollections(ctx)
	if err != nil {
		return nil, err
	}
	collected := map[string]int64{}
	for _, c := range collections {
		collected[c.RunID] = c.CollectedCents
	}
	apps := map[string]bool{}
	for _, r := range runs {
		apps[r.AppID] = true
		if s := perRun[r.ID]; s.net != r.NetCents || s.fee != r.FeeCents {
			bad = append(bad, fmt.Sprintf("run %s says net %d fee %d; its payouts add up to %d and %d", r.ID, r.NetCents, r.FeeCents, s.net, s.fee))
		}
		want := int64(0)
		if r.FundedAt != nil {
			want = r.ChargeCents
			if r.ChargeCents+r.CreditCents != r.NetCents+r.FeeCents {
				bad = append(bad, fmt.Sprintf("run %s charged %d with %d credit for %d net and %d fee", r.ID, r.ChargeCents, r.CreditCents, r.NetCents, r.FeeCents))
			}
		}
		if collected[r.ID] != want {
			bad = append(bad, fmt.Sprintf("run %s (%s) collected %d in the ledger, want %d", r.ID, r.Status, collected[r.ID], want))
		}
	}
	for app := range apps {
		credit, err := q.AppCredit(ctx, app)
		if err != nil {
			return nil, err
		}
		if credit < 0 {
			bad = append(bad, fmt.Sprintf("app %s had %d cents more paid out for it than it paid in", app, -credit))
		}
	}
	return bad, nil
}
