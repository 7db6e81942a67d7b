package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/webhook"
)

// RecordConversion computes the commission and records the conversion with
// its credit in the ledger, once.
func (a *Activities) RecordConversion(ctx context.Context, in conversion.Input) (conversion.Recorded, error) {
	split, err := commission.Compute(in.AmountCents, in.CommissionBPS)
	if err != nil {
		return conversion.Recorded{}, temporal.NewNonRetryableApplicationError(err.Error(), conversion.ErrTypeInvalidConversion, err)
	}
	var res conversion.Recorded
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		row, err := q.InsertConversion(ctx, db.InsertConversionParams{
			ID:                 in.ConversionID,
			AppID:              in.AppID,
			RefCode:            in.RefCode,
			CreatorID:          in.CreatorID,
			ReferralID:         db.OptionalText(in.ReferralID),
			UserID:             in.UserID,
			DedupeKey:          db.OptionalText(in.DedupeKey),
			AmountCents:        split.AmountCents,
			Currency:           in.Currency,
			CommissionBps:      in.CommissionBPS,
			CommissionCents:    split.CommissionCents,
			PlatformFeeCents:   split.PlatformFeeCents,
			NetCommissionCents: split.NetCommissionCents,
			WorkflowID:         conversion.WorkflowID(in.ConversionID),
			CreatedAt:          in.CreatedAt,
			AvailableAt:        in.CreatedAt.Add(in.Hold),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			// Already recorded (a retry, or a new run of the workflow).
			row, err = q.GetConversion(ctx, in.ConversionID)
			if err != nil {
				return fmt.Errorf("conversion %s conflicts on its dedupe key but is missing: %w", in.ConversionID, err)
			}
			res.Conversion, err = a.load(ctx, q, row)
			return err
		}
		if err != nil {
			return fmt.Errorf("insert conversion: %w", err)
		}
		res.Inserted = true
		t := transfer{q: q, appID: row.AppID, creatorID: row.CreatorID, conversionID: row.ID}
		if err := t.move(ctx, "credit:net:"+row.ID, ledger.App, ledger.CreatorPending, split.NetCommissionCents, ledger.KindCredit); err != nil {
			return err
		}
		if err := t.move(ctx, "credit:fee:"+row.ID, ledger.App, ledger.PlatformPending, split.PlatformFeeCents, ledger.KindCredit); err != nil {
			return err
		}
		if res.Conversion, err = a.load(ctx, q, row); err != nil {
			return err
		}
		return webhook.Emit(ctx, q, row.AppID, webhook.ConversionCreated, row.ID, res.Conversion.View(), row.CreatedAt)
	})
	if err == nil {
		a.Recorded.Tell(in, res)
		if res.Inserted {
			a.Metrics.ConversionRecorded(in.AppID, in.Currency, split.CommissionCents)
		}
	}
	return res, err
}

// ReleaseConversion moves what is left of a pending conversion's commission
// from pending to available. Releasing twice releases once.
func (a *Activities) ReleaseConversion(ctx context.Context, conversionID string) (conversion.State, error) {
	var out conversion.State
	var released *time.Time // set when this call released it
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		row, err := q.GetConversionForUpdate(ctx, conversionID)
		if err != nil {
			return a.missing(conversionID, err)
		}
		if row.Status == conversion.StatusPending {
			refunded, err := q.SumRefunds(ctx, row.ID)
			if err != nil {
				return err
			}
			t := transfer{q: q, appID: row.AppID, creatorID: row.CreatorID, conversionID: row.ID}
			if err := t.move(ctx, "release:net:"+row.ID, ledger.CreatorPending, ledger.CreatorAvailable,
				row.NetCommissionCents-refunded.NetCommissionCents, ledger.KindRelease); err != nil {
				return err
			}
			if err := t.move(ctx, "release:fee:"+row.ID, ledger.PlatformPending, ledger.PlatformRevenue,
				row.PlatformFeeCents-refunded.PlatformFeeCents, ledger.KindRelease); err != nil {
				return err
			}
			now := time.Now()
			if err := q.MarkConversionReleased(ctx, db.MarkConversionReleasedParams{ID: row.ID, ReleasedAt: &now}); err != nil {
				return err
			}
			if row, err = q.GetConversion(ctx, row.ID); err != nil {
				return err
			}
			if out, err = a.load(ctx, q, row); err != nil {
				return err
			}
			released = &now
			return webhook.Emit(ctx, q, row.AppID, webhook.ConversionAvailable, row.ID, out.View(), now)
		}
		out, err = a.load(ctx, q, row)
		return err
	})
	if err == nil && released != nil {
		a.Metrics.Released(out.AppID, released.Sub(out.AvailableAt))
	}
	return out, err
}

// RefundConversion reverses a refund proportionally: from pending during the
// hold, or as a clawback from available after release. A refund id already
// recorded returns the recorded refund; more than the unrefunded amount is a
// non-retryable OverRefund error and moves nothing.
func (a *Activities) RefundConversion(ctx context.Context, in conversion.RefundInput) (conversion.Refunded, error) {
	var out conversion.Refunded
	var inserted bool   // this call recorded the refund
	var currency string // for the metrics
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		// Lock the conversion first: refunds and the release of one
		// conversion are serialised here, whatever the workflow does.
		row, err := q.GetConversionForUpdate(ctx, in.ConversionID)
		if err != nil {
			return a.missing(in.ConversionID, err)
		}
		ref, err := q.GetRefund(ctx, in.RefundID)
		if err == nil {
			out = conversion.RefundedFromRow(ref)
			out.Conversion, err = a.load(ctx, q, row)
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if in.AmountCents <= 0 || in.AmountCents > row.AmountCents-row.RefundedCents {
			msg := fmt.Sprintf("refund of %d cents exceeds the %d cents left to refund on conversion %s",
				in.AmountCents, row.AmountCents-row.RefundedCents, row.ID)
			return temporal.NewNonRetryableApplicationError(msg, conversion.ErrTypeOverRefund, nil)
		}
		rev, err := commission.Reversal(conversion.Breakdown(row), row.RefundedCents, in.AmountCents)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), conversion.ErrTypeOverRefund, err)
		}
		currency = row.Currency
		clawback := row.Status == conversion.StatusAvailable
		ref, err = q.InsertRefund(ctx, db.InsertRefundParams{
			ID:                 in.RefundID,
			ConversionID:       row.ID,
			AppID:              row.AppID,
			CreatorID:          row.CreatorID,
			DedupeKey:          db.OptionalText(in.DedupeKey),
			AmountCents:        rev.AmountCents,
			CommissionCents:    rev.CommissionCents,
			PlatformFeeCents:   rev.PlatformFeeCents,
			NetCommissionCents: rev.NetCommissionCents,
			Clawback:           clawback,
		})
		if err != nil {
			return fmt.Errorf("insert refund: %w", err)
		}
		creatorAcct, platformAcct, kind := ledger.CreatorPending, ledger.PlatformPending, ledger.KindReversal
		if clawback {
			creatorAcct, platformAcct, kind = ledger.CreatorAvailable, ledger.PlatformRevenue, ledger.KindClawback
		}
		t := transfer{q: q, appID: row.AppID, creatorID: row.CreatorID, conversionID: row.ID, refundID: ref.ID}
		if err := t.move(ctx, "refund:net:"+ref.ID, creatorAcct, ledger.App, rev.NetCommissionCents, kind); err != nil {
			return err
		}
		if err := t.move(ctx, "refund:fee:"+ref.ID, platformAcct, ledger.App, rev.PlatformFeeCents, kind); err != nil {
			return err
		}
		if err := q.AddConversionRefund(ctx, db.AddConversionRefundParams{ID: row.ID, AmountCents: rev.AmountCents}); err != nil {
			return err
		}
		if row, err = q.GetConversion(ctx, row.ID); err != nil {
			return err
		}
		out = conversion.RefundedFromRow(ref)
		if out.Conversion, err = a.load(ctx, q, row); err != nil {
			return err
		}
		inserted = true
		return webhook.Emit(ctx, q, row.AppID, webhook.ConversionRefunded, ref.ID, out.View(), ref.CreatedAt)
	})
	if err == nil && inserted {
		a.Metrics.Refunded(out.Conversion.AppID, currency, out.Clawback, out.Reversed.CommissionCents, out.Reversed.NetCommissionCents)
	}
	return out, err
}

func (a *Activities) missing(id string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return temporal.NewNonRetryableApplicationError("conversion "+id+" does not exist", conversion.ErrTypeConversionMissing, err)
	}
	return err
}

// load turns a conversion row into the workflow's view, with its refunds.
func (a *Activities) load(ctx context.Context, q *db.Queries, row db.Conversion) (conversion.State, error) {
	refunded, err := q.SumRefunds(ctx, row.ID)
	if err != nil {
		return conversion.State{}, err
	}
	return conversion.FromRow(row, commission.Breakdown(refunded)), nil
}

// transfer appends ledger transfers for one conversion.
type transfer struct {
	q                              *db.Queries
	appID, creatorID, conversionID string
	refundID                       string
}

// move appends one transfer under an idempotency key; zero moves nothing.
func (t transfer) move(ctx context.Context, key, from, to string, cents int64, kind string) error {
	if cents == 0 {
		return nil
	}
	if cents < 0 {
		return fmt.Errorf("ledger transfer %s of %d cents: amounts are positive", key, cents)
	}
	err := t.q.InsertTransfer(ctx, db.InsertTransferParams{
		TransferKey:   key,
		AppID:         t.appID,
		CreatorID:     t.creatorID,
		ConversionID:  db.OptionalText(t.conversionID),
		RefundID:      db.OptionalText(t.refundID),
		DebitAccount:  from,
		CreditAccount: to,
		AmountCents:   cents,
		Kind:          kind,
	})
	if err != nil {
		return fmt.Errorf("ledger transfer %s: %w", key, err)
	}
	return nil
}
