package activities_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

var moneyCases = flag.Int("money.cases", 300, "random conversions the money property test drives (make test-long: 20000)")

// model is the independent account of one conversion, in exact rationals:
// what PRODUCT.md says each balance must be.
type model struct {
	id               string
	amount, refunded int64
	net, fee         int64
	released         bool
}

func roundHalfUp(r *big.Rat) int64 {
	x := new(big.Rat).Add(r, big.NewRat(1, 2))
	return new(big.Int).Quo(x.Num(), x.Denom()).Int64()
}

func newModel(id string, amount int64, bps int32) *model {
	c := roundHalfUp(new(big.Rat).SetFrac64(amount*int64(bps), 10000))
	f := roundHalfUp(new(big.Rat).SetFrac64(c*5, 100))
	return &model{id: id, amount: amount, net: c - f, fee: f}
}

// left is what the creator and the platform still hold of the conversion
// after its cumulative refunds: the proportional shares, rounded half up.
func (m *model) left() (net, fee int64) {
	share := func(total int64) int64 {
		return total - roundHalfUp(new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(total), big.NewInt(m.refunded)), big.NewInt(m.amount)))
	}
	return share(m.net), share(m.fee)
}

// TestMoneyMatchesExactModel drives random conversions, partial and full
// refunds (some over-refunding, some repeated), releases and clawbacks
// through the real activities and database, and after every step compares
// every balance with the exact model, to the cent.
func TestMoneyMatchesExactModel(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano())))
	seed := rng.Uint64()
	rng = rand.New(rand.NewPCG(11, seed))
	t.Logf("seed %d", seed)
	bps := int32(rng.IntN(10001))
	app, err := programs.CreateApp(ctx, d.Pool, programs.NewApp{Name: "Model", CommissionBPS: bps, Hold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	acts := activities.New(d.Pool)
	q := db.New(d.Pool)
	// Conversions go to a new creator every 50, so that checking a
	// creator's balances after every step stays cheap in long runs; the
	// platform's totals are checked when each creator's batch ends.
	var en programs.Enrollment
	var all, batch []*model
	sums := func(ms []*model) (pending, available, feePending, revenue int64) {
		for _, m := range ms {
			net, fee := m.left()
			if m.released {
				available, revenue = available+net, revenue+fee
			} else {
				pending, feePending = pending+net, feePending+fee
			}
		}
		return
	}
	check := func(step string) {
		t.Helper()
		pending, available, _, _ := sums(batch)
		b, err := q.CreatorBalances(ctx, db.CreatorBalancesParams{AppID: app.App.ID, CreatorID: en.CreatorID})
		if err != nil {
			t.Fatal(err)
		}
		if b.PendingCents != pending || b.AvailableCents != available {
			t.Fatalf("seed %d, after %s: creator pending %d available %d; model %d %d",
				seed, step, b.PendingCents, b.AvailableCents, pending, available)
		}
	}
	checkPlatform := func() {
		t.Helper()
		_, _, feePending, revenue := sums(all)
		totals, err := q.AccountTotals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acct := map[string]int64{}
		for _, x := range totals {
			acct[x.Account] = x.BalanceCents
		}
		if acct[ledger.PlatformPending] != feePending || acct[ledger.PlatformRevenue] != revenue {
			t.Fatalf("seed %d: platform fee pending %d revenue %d; model %d %d",
				seed, acct[ledger.PlatformPending], acct[ledger.PlatformRevenue], feePending, revenue)
		}
	}
	isOver := func(err error) bool {
		var app *temporal.ApplicationError
		return errors.As(err, &app) && app.Type() == conversion.ErrTypeOverRefund
	}
	refunds := 0
	for i := 0; i < *moneyCases; i++ {
		if i%50 == 0 {
			if i > 0 {
				checkPlatform()
			}
			if en, err = programs.Enroll(ctx, d.Pool, app.App.ID, fmt.Sprintf("m%d@example.com", i)); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
		amount := rng.Int64N(100000) + 1
		if rng.IntN(20) == 0 {
			amount = rng.Int64N(1_000_000_000_000) + 1
		}
		m := newModel(fmt.Sprintf("cv_%d", i), amount, bps)
		in := conversion.Input{ConversionID: m.id, AppID: app.App.ID, RefCode: en.RefCode, CreatorID: en.CreatorID,
			UserID: "u", AmountCents: amount, Currency: "usd", CommissionBPS: bps, Hold: time.Hour, CreatedAt: time.Now()}
		for range 1 + rng.IntN(2) { // a retried record credits once
			if _, err := acts.RecordConversion(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		all, batch = append(all, m), append(batch, m)
		check("record " + m.id)
		for op := rng.IntN(5); op > 0; op-- {
			switch rng.IntN(4) {
			case 0: // release (once the hold is over), unless fully refunded
				if _, err := acts.ReleaseConversion(ctx, m.id); err != nil {
					t.Fatal(err)
				}
				if m.refunded < m.amount {
					m.released = true
				}
			case 1: // an over-refund moves nothing
				_, err := acts.RefundConversion(ctx, conversion.RefundInput{RefundID: fmt.Sprintf("rf_over_%d_%d", i, op), ConversionID: m.id,
					AmountCents: m.amount - m.refunded + 1 + rng.Int64N(10)})
				if !isOver(err) {
					t.Fatalf("over-refund of %s: %v", m.id, err)
				}
			default: // a partial or full refund, sometimes delivered twice
				if m.refunded == m.amount {
					continue
				}
				x := rng.Int64N(m.amount-m.refunded) + 1
				if rng.IntN(4) == 0 {
					x = m.amount - m.refunded
				}
				refunds++
				id := fmt.Sprintf("rf_%d", refunds)
				for range 1 + rng.IntN(2) {
					if _, err := acts.RefundConversion(ctx, conversion.RefundInput{RefundID: id, ConversionID: m.id, AmountCents: x}); err != nil {
						t.Fatal(err)
					}
				}
				m.refunded += x
			}
			check(fmt.Sprintf("op on %s", m.id))
		}
	}
	checkPlatform()
	if bad, err := ledger.Check(ctx, q); err != nil || len(bad) > 0 {
		t.Fatalf("seed %d: %v %v", seed, err, bad)
	}
}
