package commission

import (
	"errors"
	"flag"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestCompute(t *testing.T) {
	tests := []struct {
		name                 string
		amount               int64
		bps                  int32
		commission, fee, net int64
	}{
		{"guide example: $100 at 30%", 10000, 3000, 3000, 150, 2850},
		{"guide API example: $25 at 30%", 2500, 3000, 750, 38, 712}, // fee 37.5 rounds up
		{"$9.99 at 30%", 999, 3000, 300, 15, 285},                   // 299.7 → 300
		{"half cent rounds up", 5, 1000, 1, 0, 1},                   // 0.5 → 1; fee 0.05 → 0
		{"just under half rounds down", 4, 1000, 0, 0, 0},           // 0.4 → 0
		{"fee half rounds up", 10, 10000, 10, 1, 9},                 // fee 0.5 → 1
		{"zero rate", 10000, 0, 0, 0, 0},
		{"full rate", 12345, 10000, 12345, 617, 11728},        // fee 617.25 → 617
		{"fractional percent 12.5%", 1001, 1250, 125, 6, 119}, // 125.125 → 125; 6.25 → 6
		{"largest amount", MaxAmountCents, 10000, MaxAmountCents, MaxAmountCents / 20, MaxAmountCents - MaxAmountCents/20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.amount, tt.bps)
			if err != nil {
				t.Fatal(err)
			}
			want := Breakdown{tt.amount, tt.commission, tt.fee, tt.net}
			if got != want {
				t.Fatalf("Compute(%d, %d) = %+v, want %+v", tt.amount, tt.bps, got, want)
			}
		})
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	for _, amount := range []int64{0, -1, MaxAmountCents + 1} {
		if _, err := Compute(amount, 3000); !errors.Is(err, ErrAmount) {
			t.Errorf("Compute(%d) error = %v, want ErrAmount", amount, err)
		}
	}
	for _, bps := range []int32{-1, 10001} {
		if _, err := Compute(100, bps); err == nil {
			t.Errorf("Compute(100, %d) accepted a rate outside 0..10000", bps)
		}
	}
}

var sequences = flag.Int("commission.cases", 20000, "refund sequences checked against exact rationals (make test-long: 1000000)")

// exact is round_half_up(a*b/d) in exact rational arithmetic, the model the
// 128-bit integer code must agree with.
func exact(a, b, d int64) int64 {
	r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(a), big.NewInt(b)), big.NewInt(d))
	r.Add(r, big.NewRat(1, 2))
	return new(big.Int).Quo(r.Num(), r.Denom()).Int64() // floor for non-negative
}

func TestMulDivHalfUpMatchesRationals(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		d := rng.Int64N(MaxAmountCents) + 1
		b := rng.Int64N(d + 1)
		a := rng.Int64N(MaxAmountCents + 1)
		if got, want := mulDivHalfUp(a, b, d), exact(a, b, d); got != want {
			t.Fatalf("mulDivHalfUp(%d, %d, %d) = %d, want %d", a, b, d, got, want)
		}
	}
}

func TestReversalHalfRefund(t *testing.T) {
	orig, _ := Compute(10000, 3000)
	got, err := Reversal(orig, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	want := Breakdown{5000, 1500, 75, 1425}
	if got != want {
		t.Fatalf("half refund reversed %+v, want %+v", got, want)
	}
}

// Any sequence of partial refunds that adds up to the whole amount reverses
// exactly the whole commission, fee and net: nothing drifts by a cent.
func TestReversalsSumExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < *sequences; i++ {
		amount := rng.Int64N(100000) + 1
		if i%10 == 0 {
			amount = rng.Int64N(MaxAmountCents) + 1
		}
		orig, err := Compute(amount, int32(rng.IntN(MaxBPS+1)))
		if err != nil {
			t.Fatal(err)
		}
		var sum Breakdown
		refunded := int64(0)
		for refunded < amount {
			part := rng.Int64N(amount-refunded) + 1
			r, err := Reversal(orig, refunded, part)
			if err != nil {
				t.Fatal(err)
			}
			if r.CommissionCents != r.PlatformFeeCents+r.NetCommissionCents || r.CommissionCents < 0 ||
				r.PlatformFeeCents < 0 || r.NetCommissionCents < 0 {
				t.Fatalf("reversal %+v of %+v is not a valid split", r, orig)
			}
			refunded += part
			sum.AmountCents += r.AmountCents
			sum.CommissionCents += r.CommissionCents
			sum.PlatformFeeCents += r.PlatformFeeCents
			sum.NetCommissionCents += r.NetCommissionCents
			// Cumulative reversal equals the proportional share of the
			// cumulative refund, independent of how it was split.
			if want := exact(orig.NetCommissionCents, refunded, amount); sum.NetCommissionCents != want {
				t.Fatalf("after refunding %d of %d: reversed net %d, want %d", refunded, amount, sum.NetCommissionCents, want)
			}
			if want := exact(orig.PlatformFeeCents, refunded, amount); sum.PlatformFeeCents != want {
				t.Fatalf("after refunding %d of %d: reversed fee %d, want %d", refunded, amount, sum.PlatformFeeCents, want)
			}
		}
		if sum != orig {
			t.Fatalf("full refund in parts reversed %+v, want exactly %+v", sum, orig)
		}
	}
}

func TestReversalRefusesOverRefund(t *testing.T) {
	orig, _ := Compute(10000, 3000)
	if _, err := Reversal(orig, 6000, 4001); !errors.Is(err, ErrOverRefund) {
		t.Fatalf("over-refund error = %v, want ErrOverRefund", err)
	}
	if _, err := Reversal(orig, 0, 0); err == nil {
		t.Fatal("zero refund accepted")
	}
}

func TestParsePercent(t *testing.T) {
	good := map[string]int32{"30": 3000, "12.5": 1250, "7.25": 725, "0": 0, "100": 10000, "0.01": 1, "30.": 3000}
	for in, want := range good {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "101", "100.01", "1.234", "-5", "1e2", "30%"} {
		if got, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) = %d, want an error", in, got)
		}
	}
}

// The fees of payouts that carry a conversion in parts add up to exactly
// its fee, whatever the parts.
func TestCarriedFeeAddsUpToTheFee(t *testing.T) {
	orig := Breakdown{NetCommissionCents: 2851, PlatformFeeCents: 150}
	for _, parts := range [][]int64{{2851}, {1, 2850}, {1000, 1000, 851}, {7, 7, 7, 2830}} {
		var carried, fees int64
		for _, p := range parts {
			fees += CarriedFee(orig, carried, p)
			carried += p
		}
		if fees != orig.PlatformFeeCents {
			t.Errorf("parts %v carry fees of %d, want %d", parts, fees, orig.PlatformFeeCents)
		}
	}
	if f := CarriedFee(Breakdown{}, 0, 100); f != 0 {
		t.Errorf("a conversion with no net carries a fee of %d", f)
	}
}
