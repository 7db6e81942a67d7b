package ledger

import (
	"context"
	"fmt"

	"github.com/agentlinks/agentlinks/db"
)

// Check verifies PRODUCT.md's money invariants over the whole database and
// returns one line per violation (none means the books balance):
//
//   - for every conversion, the net commission credited equals
//     pending + available + in payout + paid + reversed, and the fee credited equals
//     platform pending + platform revenue + fee reversed, to the cent;
//   - what the ledger reversed equals what the refunds table says, and the
//     conversion's refunded amount equals the sum of its refunds;
//   - the balances agree with the conversion's status;
//   - per creator and program, the balances summed from the ledger equal
//     what that creator's conversions leave them, and every transfer is
//     labelled with its conversion's app and creator;
//   - platform revenue and pending fees equal the fees of the released and
//     the pending conversions, less what was reversed;
//   - every account, summed over the platform, nets to zero (double entry);
//   - the derived rollups the dashboard reads (creator_balances, app_daily,
//     app_click_daily, ref_daily) equal what the ledger and the rows they summarise say.
func Check(ctx context.Context, q *db.Queries) ([]string, error) {
	var bad []string
	convs, err := q.ListConversions(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := q.ConversionLedger(ctx)
	if err != nil {
		return nil, err
	}
	bal := map[string]map[string]int64{}
	for _, r := range rows {
		if bal[r.ConversionID] == nil {
			bal[r.ConversionID] = map[string]int64{}
		}
		bal[r.ConversionID][r.Account] = r.BalanceCents
	}
	type creatorKey struct{ app, creator string }
	owed := map[creatorKey]int64{}
	var feePending, feeRevenue int64
	for _, c := range convs {
		b := bal[c.ID]
		ref, err := q.SumRefunds(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		add := func(format string, args ...any) {
			bad = append(bad, fmt.Sprintf("conversion %s (%s): ", c.ID, c.Status)+fmt.Sprintf(format, args...))
		}
		pending, avail, inPayout := b[CreatorPending], b[CreatorAvailable], b[CreatorInPayout]
		paid := b[CreatorPaid] + inPayout // released money, wherever a payout took it
		if got := pending + avail + paid + ref.NetCommissionCents; got != c.NetCommissionCents {
			add("net credited %d != pending %d + available %d + in payout %d + paid %d + reversed %d",
				c.NetCommissionCents, pending, avail, inPayout, b[CreatorPaid], ref.NetCommissionCents)
		}
		if got := b[PlatformPending] + b[PlatformRevenue] + ref.PlatformFeeCents; got != c.PlatformFeeCents {
			add("fee credited %d != platform pending %d + revenue %d + reversed %d",
				c.PlatformFeeCents, b[PlatformPending], b[PlatformRevenue], ref.PlatformFeeCents)
		}
		if want := -(c.CommissionCents - ref.CommissionCents); b[App] != want {
			add("app account %d, want %d (commission less reversals)", b[App], want)
		}
		if ref.AmountCents != c.RefundedCents {
			add("refunded_cents %d != sum of refunds %d", c.RefundedCents, ref.AmountCents)
		}
		leftNet := c.NetCommissionCents - ref.NetCommissionCents
		owed[creatorKey{c.AppID, c.CreatorID}] += leftNet
		if leftFee := c.PlatformFeeCents - ref.PlatformFeeCents; c.Status == "pending" {
			feePending += leftFee
		} else if c.ReleasedAt != nil {
			feeRevenue += leftFee
		}
		switch c.Status {
		case "pending":
			if pending != leftNet || avail != 0 {
				add("pending with pending %d, available %d; want %d, 0", pending, avail, leftNet)
			}
		case "available":
			if pending != 0 || avail+paid != leftNet {
				add("available with pending %d, available+in payout+paid %d; want 0, %d", pending, avail+paid, leftNet)
			}
		case "refunded":
			if c.RefundedCents != c.AmountCents || pending != 0 || avail+paid != 0 {
				add("refunded with refunded %d of %d, pending %d, available+in payout+paid %d",
					c.RefundedCents, c.AmountCents, pending, avail+paid)
			}
		}
	}
	for k, want := range owed {
		cb, err := q.CreatorBalances(ctx, db.CreatorBalancesParams{AppID: k.app, CreatorID: k.creator})
		if err != nil {
			return nil, err
		}
		if got := cb.PendingCents + cb.AvailableCents + cb.InPayoutCents + cb.PaidCents; got != want {
			bad = append(bad, fmt.Sprintf("creator %s in app %s: pending %d + available %d + in payout %d + paid %d = %d, but their conversions leave them %d",
				k.creator, k.app, cb.PendingCents, cb.AvailableCents, cb.InPayoutCents, cb.PaidCents, got, want))
		}
	}
	mislabeled, err := q.MislabeledTransfers(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range mislabeled {
		bad = append(bad, fmt.Sprintf("transfer %s is labelled app %s creator %s, but conversion %s is app %s creator %s",
			m.TransferKey, m.AppID, m.CreatorID, m.ConversionID, m.ConversionAppID, m.ConversionCreatorID))
	}
	refunds, err := q.MislabeledRefunds(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range refunds {
		bad = append(bad, fmt.Sprintf("refund %s is labelled creator %s, but its conversion is creator %s", r.ID, r.CreatorID, r.ConversionCreatorID))
	}
	totals, err := q.AccountTotals(ctx)
	if err != nil {
		return nil, err
	}
	var sum int64
	accounts := map[string]int64{}
	for _, t := range totals {
		sum += t.BalanceCents
		accounts[t.Account] = t.BalanceCents
	}
	if accounts[PlatformPending] != feePending {
		bad = append(bad, fmt.Sprintf("platform pending fees %d, but the pending conversions' fees are %d", accounts[PlatformPending], feePending))
	}
	if accounts[PlatformRevenue] != feeRevenue {
		bad = append(bad, fmt.Sprintf("platform revenue %d, but the released conversions' fees are %d", accounts[PlatformRevenue], feeRevenue))
	}
	if sum != 0 {
		bad = append(bad, fmt.Sprintf("accounts sum to %d, not 0", sum))
	}
	payouts, err := CheckPayouts(ctx, q)
	if err != nil {
		return nil, err
	}
	bad = append(bad, payouts...)
	rollups, err := CheckRollups(ctx, q)
	return append(bad, rollups...), err
}

// CheckRollups compares the derived aggregates the dashboard reads with
// their sources, one line per difference (part of Check).
func CheckRollups(ctx context.Context, q *db.Queries) ([]string, error) {
	var bad []string
	drift, err := q.CreatorBalanceDrift(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range drift {
		bad = append(bad, fmt.Sprintf("creator %s in app %s: rollup pending %d, available %d, in payout %d, paid %d; the ledger says %d, %d, %d, %d",
			d.CreatorID, d.AppID, d.RollupPending, d.RollupAvailable, d.RollupInPayout, d.RollupPaid,
			d.LedgerPending, d.LedgerAvailable, d.LedgerInPayout, d.LedgerPaid))
	}
	days, err := q.ProgramDayDrift(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		day := d.Day.Time.Format("2006-01-02")
		for _, side := range []struct {
			what string
			v    [9]int64
		}{
			{"the rows say", [9]int64{d.RowClicks, d.RowUniqueClicks, d.RowSignups, d.RowConversions, d.RowAmountCents,
				d.RowCommissionCents, d.RowNetCommissionCents, d.RowRefunds, d.RowRefundedCents}},
			{"the rollup says", [9]int64{d.RollupClicks, d.RollupUniqueClicks, d.RollupSignups, d.RollupConversions, d.RollupAmountCents,
				d.RollupCommissionCents, d.RollupNetCommissionCents, d.RollupRefunds, d.RollupRefundedCents}},
		} {
			if side.v == [9]int64{} {
				continue // this side has nothing that day
			}
			v := side.v
			bad = append(bad, fmt.Sprintf("app %s on %s: %s clicks %d (unique %d), signups %d, conversions %d (amount %d, commission %d, net %d), refunds %d (%d), which the other side does not",
				d.AppID, day, side.what, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]))
		}
	}
	refs, err := q.RefDayDrift(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		bad = append(bad, fmt.Sprintf("ref %s on %s: rollup signups %d, conversions %d, net %d, reversed %d; the rows say %d, %d, %d, %d",
			r.RefCode, r.Day.Time.Format("2006-01-02"), r.RollupSignups, r.RollupConversions, r.RollupNetCents, r.RollupReversedCents,
			r.RowSignups, r.RowConversions, r.RowNetCents, r.RowReversedCents))
	}
	return bad, nil
}
