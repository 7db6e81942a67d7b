// Package activities holds every side effect of the conversion workflow: the
// database writes that record a conversion, release it and reverse it. Each
// runs in one transaction and is idempotent: a retry after a crash finds the
// work done (unique keys, ON CONFLICT DO NOTHING, the same ledger transfer
// key) and changes nothing twice.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/ledger"
)

// Conversion statuses, as stored and as answered.
const (
	StatusPending   = "pending"
	StatusAvailable = "available"
	StatusRefunded  = "refunded"
)

// Error types that no retry can fix.
const (
	ErrTypeInvalidConversion = "InvalidConversion"
	ErrTypeOverRefund        = "OverRefund"
	ErrTypeConversionMissing = "ConversionMissing"
)

// Activities holds what the activities need.
type Activities struct {
	Pool *pgxpool.Pool
	Q    *db.Queries
	// Waiters, when set, is told of every conversion RecordConversion
	// commits or finds recorded, for an API in the same process.
	Waiters *RecordWaiters
}

// New returns the activities over a connection pool.
func New(pool *pgxpool.Pool) *Activities {
	return &Activities{Pool: pool, Q: db.New(pool)}
}

// ConversionInput is everything needed to record a conversion. The caller
// snapshots the app's rate and hold so that later changes to the app never
// change this conversion.
type ConversionInput struct {
	ConversionID  string
	AppID         string
	RefCode       string
	CreatorID     string
	ReferralID    string // empty when the user has no referral
	UserID        string
	DedupeKey     string // transaction id or idempotency key; empty for none
	AmountCents   int64
	Currency      string
	CommissionBPS int32
	Hold          time.Duration
	CreatedAt     time.Time
	// RequestID names the request that started the workflow, so that only
	// that request is told it created the conversion.
	RequestID string
	// SearchAttributesAtStart says the start set the conversion's search
	// attributes (AppID, RefCode, ConversionStatus "pending"), so the
	// workflow need not set them again once it has recorded a pending
	// conversion. Starts made before this field existed leave it false, and
	// their workflows upsert as they did, so that their histories replay.
	SearchAttributesAtStart bool `json:",omitempty"`
	// ReleaseLocally says the workflow releases the commission with a
	// local activity (in the workflow task the hold's timer wakes) rather
	// than a scheduled one. Starts made before this field existed leave it
	// false and release as they did, so that their histories replay.
	ReleaseLocally bool `json:",omitempty"`
}

// Conversion is a recorded conversion as the workflow and callers see it.
type Conversion struct {
	ID          string
	AppID       string
	RefCode     string
	CreatorID   string
	UserID      string
	Status      string
	Commission  commission.Breakdown
	Refunded    commission.Breakdown
	CreatedAt   time.Time
	AvailableAt time.Time
	WorkflowID  string
}

// Remaining is the amount still refundable.
func (c Conversion) Remaining() int64 { return c.Commission.AmountCents - c.Refunded.AmountCents }

// RecordResult says whether this call inserted the conversion.
type RecordResult struct {
	Conversion Conversion
	Inserted   bool
}

// RecordConversion computes the commission and records the conversion with
// its credit in the ledger, once.
func (a *Activities) RecordConversion(ctx context.Context, in ConversionInput) (RecordResult, error) {
	split, err := commission.Compute(in.AmountCents, in.CommissionBPS)
	if err != nil {
		return RecordResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConversion, err)
	}
	var res RecordResult
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		row, err := q.InsertConversion(ctx, db.InsertConversionParams{
			ID:                 in.ConversionID,
			AppID:              in.AppID,
			RefCode:            in.RefCode,
			CreatorID:          in.CreatorID,
			ReferralID:         optional(in.ReferralID),
			UserID:             in.UserID,
			DedupeKey:          optional(in.DedupeKey),
			AmountCents:        split.AmountCents,
			Currency:           in.Currency,
			CommissionBps:      in.CommissionBPS,
			CommissionCents:    split.CommissionCents,
			PlatformFeeCents:   split.PlatformFeeCents,
			NetCommissionCents: split.NetCommissionCents,
			WorkflowID:         WorkflowID(in.ConversionID),
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
		res.Conversion, err = a.load(ctx, q, row)
		return err
	})
	if err == nil {
		a.Waiters.tell(in, res)
	}
	return res, err
}

// ReleaseConversion moves what is left of a pending conversion's commission
// from pending to available. Releasing twice releases once.
func (a *Activities) ReleaseConversion(ctx context.Context, conversionID string) (Conversion, error) {
	var out Conversion
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		row, err := q.GetConversionForUpdate(ctx, conversionID)
		if err != nil {
			return a.missing(conversionID, err)
		}
		if row.Status == StatusPending {
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
		}
		out, err = a.load(ctx, q, row)
		return err
	})
	return out, err
}

// RefundInput asks to reverse part of a conversion.
type RefundInput struct {
	RefundID     string
	ConversionID string
	AmountCents  int64
	DedupeKey    string // the caller's refund id or idempotency key; empty for none
}

// RefundResult is one recorded refund.
type RefundResult struct {
	RefundID     string
	ConversionID string
	Reversed     commission.Breakdown
	Clawback     bool
	Conversion   Conversion // the conversion after the refund
}

// RefundConversion reverses a refund proportionally: from pending during the
// hold, or as a clawback from available after release. A refund id already
// recorded returns the recorded refund; more than the unrefunded amount is a
// non-retryable OverRefund error and moves nothing.
func (a *Activities) RefundConversion(ctx context.Context, in RefundInput) (RefundResult, error) {
	var out RefundResult
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
			out = refundResult(ref)
			out.Conversion, err = a.load(ctx, q, row)
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if in.AmountCents <= 0 || in.AmountCents > row.AmountCents-row.RefundedCents {
			msg := fmt.Sprintf("refund of %d cents exceeds the %d cents left to refund on conversion %s",
				in.AmountCents, row.AmountCents-row.RefundedCents, row.ID)
			return temporal.NewNonRetryableApplicationError(msg, ErrTypeOverRefund, nil)
		}
		rev, err := commission.Reversal(breakdown(row), row.RefundedCents, in.AmountCents)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeOverRefund, err)
		}
		clawback := row.Status == StatusAvailable
		ref, err = q.InsertRefund(ctx, db.InsertRefundParams{
			ID:                 in.RefundID,
			ConversionID:       row.ID,
			AppID:              row.AppID,
			DedupeKey:          optional(in.DedupeKey),
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
		out = refundResult(ref)
		out.Conversion, err = a.load(ctx, q, row)
		return err
	})
	return out, err
}

func (a *Activities) missing(id string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return temporal.NewNonRetryableApplicationError("conversion "+id+" does not exist", ErrTypeConversionMissing, err)
	}
	return err
}

// load turns a conversion row into the workflow's view, with its refunds.
func (a *Activities) load(ctx context.Context, q *db.Queries, row db.Conversion) (Conversion, error) {
	refunded, err := q.SumRefunds(ctx, row.ID)
	if err != nil {
		return Conversion{}, err
	}
	return FromRow(row, commission.Breakdown(refunded)), nil
}

// FromRow builds the view of a conversion from its row and refund totals.
func FromRow(row db.Conversion, refunded commission.Breakdown) Conversion {
	return Conversion{
		ID:          row.ID,
		AppID:       row.AppID,
		RefCode:     row.RefCode,
		CreatorID:   row.CreatorID,
		UserID:      row.UserID,
		Status:      row.Status,
		Commission:  breakdown(row),
		Refunded:    refunded,
		CreatedAt:   row.CreatedAt,
		AvailableAt: row.AvailableAt,
		WorkflowID:  row.WorkflowID,
	}
}

func breakdown(row db.Conversion) commission.Breakdown {
	return commission.Breakdown{
		AmountCents:        row.AmountCents,
		CommissionCents:    row.CommissionCents,
		PlatformFeeCents:   row.PlatformFeeCents,
		NetCommissionCents: row.NetCommissionCents,
	}
}

func refundResult(r db.Refund) RefundResult {
	return RefundResult{
		RefundID:     r.ID,
		ConversionID: r.ConversionID,
		Reversed: commission.Breakdown{
			AmountCents:        r.AmountCents,
			CommissionCents:    r.CommissionCents,
			PlatformFeeCents:   r.PlatformFeeCents,
			NetCommissionCents: r.NetCommissionCents,
		},
		Clawback: r.Clawback,
	}
}

// WorkflowID is the business id of a conversion's workflow.
func WorkflowID(conversionID string) string { return "conversion-" + conversionID }

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
		ConversionID:  optional(t.conversionID),
		RefundID:      optional(t.refundID),
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

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
