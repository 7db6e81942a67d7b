package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/webhook"
)

// A payout's movements and the status that goes with each, appended in
// the caller's transaction. Each is idempotent (the transfer key names the
// payout, the step and the conversion) and checks the payout's status
// under a row lock first, so a retry, a duplicate webhook or an owner's
// second click changes nothing twice and no step runs out of order.

// ErrPayoutState is a step asked of a payout in a status that forbids it
// (paying a failed payout, failing a paid one).
var ErrPayoutState = errors.New("payout is not in a status that allows this")

// Reserve moves a new payout's allocations from available to in payout.
func Reserve(ctx context.Context, q *db.Queries, p db.Payout, allocs []payout.Allocation) error {
	for _, a := range allocs {
		if err := q.InsertPayoutAllocation(ctx, db.InsertPayoutAllocationParams{
			PayoutID: p.ID, ConversionID: a.ConversionID, AmountCents: a.AmountCents, FeeCents: a.FeeCents,
		}); err != nil {
			return fmt.Errorf("allocate payout %s: %w", p.ID, err)
		}
	}
	return movePayout(ctx, q, p, "reserve", CreatorAvailable, CreatorInPayout, KindPayoutReserve)
}

// Collect records what the app paid for a run.
func Collect(ctx context.Context, q *db.Queries, appID, runID string, cents int64) error {
	if cents <= 0 {
		return nil
	}
	return q.InsertPayoutTransfer(ctx, db.InsertPayoutTransferParams{
		TransferKey: "collection:" + runID, AppID: appID, RunID: &runID,
		DebitAccount: AppCollected, CreditAccount: App, AmountCents: cents, Kind: KindCollection,
	})
}

// Step is one change of a payout's status.
type Step struct {
	PayoutID   string
	Status     string // paid, failed, reversed, processing or awaiting_payment
	Reason     string // why it failed or was reversed
	TransferID string // the Stripe transfer that paid it
	Reference  string // manual: the owner's payment reference
}

// Advance applies a step to a payout and returns the payout after it.
// A payout already in the step's status is returned unchanged.
func Advance(ctx context.Context, q *db.Queries, s Step) (db.Payout, error) {
	p, err := q.GetPayoutForUpdate(ctx, s.PayoutID)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Payout{}, fmt.Errorf("payout %s does not exist: %w", s.PayoutID, err)
	}
	if err != nil {
		return db.Payout{}, err
	}
	if p.Status == s.Status {
		return p, nil
	}
	from := map[string][]string{
		payout.StatusProcessing:      {payout.StatusReserved},
		payout.StatusAwaitingPayment: {payout.StatusReserved},
		payout.StatusPaid:            {payout.StatusProcessing, payout.StatusAwaitingPayment},
		payout.StatusFailed:          {payout.StatusReserved, payout.StatusProcessing, payout.StatusAwaitingPayment},
		payout.StatusReversed:        {payout.StatusPaid},
	}[s.Status]
	allowed := false
	for _, f := range from {
		allowed = allowed || p.Status == f
	}
	if !allowed {
		return p, fmt.Errorf("%w: payout %s is %s, cannot become %s", ErrPayoutState, p.ID, p.Status, s.Status)
	}
	switch s.Status {
	case payout.StatusPaid:
		err = movePayout(ctx, q, p, "paid", CreatorInPayout, CreatorPaid, KindPayout)
	case payout.StatusFailed:
		err = movePayout(ctx, q, p, "return", CreatorInPayout, CreatorAvailable, KindPayoutReturn)
	case payout.StatusReversed:
		err = movePayout(ctx, q, p, "reversal", CreatorPaid, CreatorAvailable, KindPayoutReversal)
	}
	if err != nil {
		return p, err
	}
	if err := q.SetPayoutStatus(ctx, db.SetPayoutStatusParams{
		ID: p.ID, Status: s.Status, FailureReason: s.Reason,
		TransferID: db.OptionalText(s.TransferID), Reference: db.OptionalText(s.Reference),
	}); err != nil {
		return p, err
	}
	after, err := q.GetPayout(ctx, p.ID)
	if err != nil {
		return p, err
	}
	// The app hears of a payout's end in the same transaction.
	if typ := map[string]string{payout.StatusPaid: webhook.PayoutPaid, payout.StatusFailed: webhook.PayoutFailed}[s.Status]; typ != "" {
		if err := webhook.Emit(ctx, q, after.AppID, typ, after.ID, payout.ViewOf(after, ""), time.Now()); err != nil {
			return p, err
		}
	}
	return after, nil
}

func movePayout(ctx context.Context, q *db.Queries, p db.Payout, step, from, to, kind string) error {
	allocs, err := q.PayoutAllocations(ctx, p.ID)
	if err != nil {
		return err
	}
	var sum int64
	for _, a := range allocs {
		sum += a.AmountCents
		cv := a.ConversionID
		if err := q.InsertPayoutTransfer(ctx, db.InsertPayoutTransferParams{
			TransferKey: "payout:" + p.ID + ":" + step + ":" + cv, AppID: p.AppID, CreatorID: &p.CreatorID,
			ConversionID: &cv, PayoutID: &p.ID, RunID: &p.RunID,
			DebitAccount: from, CreditAccount: to, AmountCents: a.AmountCents, Kind: kind,
		}); err != nil {
			return fmt.Errorf("ledger %s of payout %s: %w", step, p.ID, err)
		}
	}
	if sum != p.AmountCents {
		return fmt.Errorf("payout %s of %d cents carries %d cents of conversions", p.ID, p.AmountCents, sum)
	}
	return nil
}
