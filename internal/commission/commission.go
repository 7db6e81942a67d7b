// Package commission is the money math of AgentLinks: pure functions over
// integer cents, no I/O. The rules come from PRODUCT.md (Money):
//
//	commission   = round(amount × percent)
//	platform fee = round(commission × 5%)
//	net          = commission − platform fee
//
// rounding half up, percent held exactly in basis points. Refunds reverse
// proportionally on the cumulative refunded amount, so a full refund reverses
// exactly the whole commission and fee and partial refunds never drift.
package commission

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

const (
	// PlatformFeeBPS is AgentLinks' share of every commission: 5%.
	PlatformFeeBPS = 500
	// MaxBPS is 100%.
	MaxBPS = 10000
	// MaxAmountCents bounds one conversion (10^12 cents, ten billion dollars)
	// so that every product below fits the arithmetic.
	MaxAmountCents = 1_000_000_000_000
)

// Breakdown is what a customer payment (or a refund of it) means in money.
type Breakdown struct {
	AmountCents        int64 `json:"amount_cents"`
	CommissionCents    int64 `json:"commission_cents"`
	PlatformFeeCents   int64 `json:"platform_fee_cents"`
	NetCommissionCents int64 `json:"net_commission_cents"`
}

// ErrAmount reports an amount outside 1..MaxAmountCents.
var ErrAmount = errors.New("amount_cents must be a positive integer of at most 10^12")

// Compute splits a payment of amountCents at a commission rate of bps basis
// points. The guide's example: Compute(10000, 3000) = 3000 / 150 / 2850.
func Compute(amountCents int64, bps int32) (Breakdown, error) {
	if amountCents <= 0 || amountCents > MaxAmountCents {
		return Breakdown{}, ErrAmount
	}
	if bps < 0 || bps > MaxBPS {
		return Breakdown{}, fmt.Errorf("commission rate %d bps is outside 0..10000", bps)
	}
	c := mulDivHalfUp(amountCents, int64(bps), MaxBPS)
	fee := mulDivHalfUp(c, PlatformFeeBPS, MaxBPS)
	return Breakdown{
		AmountCents:        amountCents,
		CommissionCents:    c,
		PlatformFeeCents:   fee,
		NetCommissionCents: c - fee,
	}, nil
}

// Reversal is what a refund of refundCents reverses on a conversion whose
// original split is orig and of which priorRefundedCents were refunded
// before. It is the difference between the proportional share of the
// cumulative refunded amount after and before this refund, so the reversals
// of any sequence of refunds add up to exactly the proportional share of
// their total, and a full refund to exactly the whole commission and fee.
func Reversal(orig Breakdown, priorRefundedCents, refundCents int64) (Breakdown, error) {
	if refundCents <= 0 {
		return Breakdown{}, fmt.Errorf("refund amount must be positive, got %d", refundCents)
	}
	if priorRefundedCents < 0 || priorRefundedCents+refundCents > orig.AmountCents {
		return Breakdown{}, fmt.Errorf("%w: refunding %d after %d of %d", ErrOverRefund,
			refundCents, priorRefundedCents, orig.AmountCents)
	}
	before := share(orig, priorRefundedCents)
	after := share(orig, priorRefundedCents+refundCents)
	return Breakdown{
		AmountCents:        refundCents,
		CommissionCents:    after.CommissionCents - before.CommissionCents,
		PlatformFeeCents:   after.PlatformFeeCents - before.PlatformFeeCents,
		NetCommissionCents: after.NetCommissionCents - before.NetCommissionCents,
	}, nil
}

// ErrOverRefund reports a refund larger than what is left to refund.
var ErrOverRefund = errors.New("refund exceeds the unrefunded amount")

// share is the part of orig that a cumulative refund of refunded cents
// reverses. Fee (the platform's) and net (the creator's) are each the rounded
// proportional share; commission is their sum. Rounding each balance on its
// own makes both monotone in the refunded amount, so no reversal step is ever
// negative on either side, and commission = fee + net holds for every step.
func share(orig Breakdown, refunded int64) Breakdown {
	fee := mulDivHalfUp(orig.PlatformFeeCents, refunded, orig.AmountCents)
	net := mulDivHalfUp(orig.NetCommissionCents, refunded, orig.AmountCents)
	return Breakdown{AmountCents: refunded, CommissionCents: fee + net, PlatformFeeCents: fee, NetCommissionCents: net}
}

// mulDivHalfUp returns round_half_up(a × b / d) for non-negative a, b and
// positive d with a×b/d < 2^63. The product is taken in 128 bits: a
// commission of up to 10^12 times a refund of up to 10^12 overflows int64.
func mulDivHalfUp(a, b, d int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, r := bits.Div64(hi, lo, uint64(d)) // hi < d whenever the quotient fits
	if r >= uint64(d)-r {                 // r ≥ d/2 without overflow: half up
		q++
	}
	return int64(q)
}

// ParsePercent reads a percent such as "30", "12.5" or "7.25" into basis
// points exactly; more than two decimals cannot be held and is refused.
func ParsePercent(s string) (int32, error) {
	var whole, frac int64
	var fracDigits int
	seenDot := false
	if s == "" {
		return 0, errors.New("empty percent")
	}
	for _, ch := range s {
		switch {
		case ch == '.' && !seenDot:
			seenDot = true
		case ch >= '0' && ch <= '9':
			if seenDot {
				fracDigits++
				if fracDigits > 2 {
					return 0, fmt.Errorf("percent %q has more than two decimals", s)
				}
				frac = frac*10 + int64(ch-'0')
			} else {
				whole = whole*10 + int64(ch-'0')
				if whole > 100 {
					return 0, fmt.Errorf("percent %q is above 100", s)
				}
			}
		default:
			return 0, fmt.Errorf("percent %q is not a number like 30 or 12.5", s)
		}
	}
	if fracDigits == 1 {
		frac *= 10
	}
	bps := whole*100 + frac
	if bps > MaxBPS {
		return 0, fmt.Errorf("percent %q is above 100", s)
	}
	return int32(bps), nil
}

// Percent is basis points as a percent for people, the inverse of
// ParsePercent: 3000 → "30", 1250 → "12.5", 5 → "0.05".
func Percent(bps int32) string {
	s := fmt.Sprintf("%d.%02d", bps/100, bps%100)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// CarriedFee is the platform fee the app pays with a payout that carries
// cents of a conversion's net commission, after payouts carried carried
// before: the proportional share of the cumulative amount carried, so the
// fees of every payout of a conversion add up to exactly its fee (the
// rule refunds follow). The app owes the creator's net and AgentLinks' fee
// on it; a payout collects both.
func CarriedFee(orig Breakdown, carried, cents int64) int64 {
	if orig.NetCommissionCents <= 0 || cents <= 0 || carried < 0 {
		return 0
	}
	after := min(carried+cents, orig.NetCommissionCents)
	before := min(carried, orig.NetCommissionCents)
	return mulDivHalfUp(orig.PlatformFeeCents, after, orig.NetCommissionCents) -
		mulDivHalfUp(orig.PlatformFeeCents, before, orig.NetCommissionCents)
}

// Decimal writes cents as an exact decimal amount with two places and no
// currency sign: -1234 → "-12.34" (CSV exports, reasons, operator output).
func Decimal(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
