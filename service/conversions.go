package service

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/workflows"
)

// Conversion is a conversion as answered.
// Conversion is a conversion as the API answers it (and webhooks send it).
type Conversion = conversion.View

// Sender is who sent a conversion or refund.
type Sender struct {
	// KeyApp is the app whose secret key the request carried, "" for none.
	KeyApp string
	// FromBrowser: a page sent it (it carries an Origin), not a backend.
	FromBrowser bool
}

// ConversionInput is one payment of a referred customer.
type ConversionInput struct {
	Ref, AppID, UserID string
	AmountCents        int64
	Currency           string
	TransactionID      string
	IdempotencyKey     string
	Sender
}

// Conversion records a payment's commission through its workflow. created
// is false for a repeat (same transaction id or idempotency key), which
// returns the first answer and credits nothing.
func (s *Service) Conversion(ctx context.Context, in ConversionInput) (Conversion, bool, error) {
	row, err := s.payee(ctx, in.Ref, in.AppID, in.Sender)
	if err != nil {
		return Conversion{}, false, err
	}
	c, created, err := s.convert(ctx, row, in)
	return c.View(), created, err
}

// RecordPayment records a payment reported by an integration the platform
// trusts (a verified Stripe event): the app is known, no key is needed.
func (s *Service) RecordPayment(ctx context.Context, appID string, p conversion.Payment) (conversion.State, error) {
	row, err := s.lookupRef(ctx, p.Ref, appID)
	if err != nil {
		return conversion.State{}, err
	}
	c, _, err := s.convert(ctx, row, ConversionInput{
		Ref: p.Ref, UserID: p.UserID, AmountCents: p.AmountCents, TransactionID: p.TransactionID, Currency: p.Currency,
	})
	return c, err
}

// payee finds the ref a conversion or refund names and checks that its
// sender may move money in the ref's program. An app in keyless mode
// accepts conversions and refunds without a key; a key that is sent must
// be the ref's app's.
func (s *Service) payee(ctx context.Context, ref, appID string, from Sender) (db.GetRefCodeRow, error) {
	row, err := s.lookupRef(ctx, ref, appID)
	if err != nil {
		return row, err
	}
	app := row.App
	if from.KeyApp == "" {
		if app.KeylessConversions {
			return row, nil
		}
		if from.FromBrowser {
			return row, refusal.Unauthorized("missing_api_key",
				"conversions and refunds from the browser work only for apps in keyless mode, because a ref code is public "+
					"and anyone could post payments with it; send this call from your backend with the header "+
					"Authorization: Bearer sk_… (the guide's Option 2), or ask the app owner to turn on keyless conversions")
		}
		return row, refusal.Unauthorized("missing_api_key",
			"this endpoint needs the app's secret key: send the header Authorization: Bearer sk_… "+
				"(conversions and refunds move money and a ref code is public, so they are not keyless unless the app owner turns on keyless conversions)")
	}
	// Comparing the app ids in constant time keeps the answer's timing
	// independent of which app the key is for.
	if subtle.ConstantTimeCompare([]byte(from.KeyApp), []byte(app.ID)) != 1 {
		return row, refusal.Unauthorized("invalid_api_key", "the secret key is not valid for the app this ref belongs to")
	}
	return row, nil
}

func (s *Service) convert(ctx context.Context, row db.GetRefCodeRow, in ConversionInput) (conversion.State, bool, error) {
	app := row.App
	if err := checkID("user_id", in.UserID, true); err != nil {
		return conversion.State{}, false, err
	}
	if err := checkAmount(in.AmountCents); err != nil {
		return conversion.State{}, false, err
	}
	if c := strings.ToLower(strings.TrimSpace(in.Currency)); c != "" && c != app.Currency {
		if !isText(c) || len(c) > 8 {
			c = "an unknown currency"
		}
		return conversion.State{}, false, refusal.Invalid("currency_mismatch", "this app's program is in %s, not %s", app.Currency, c)
	}
	dedupe, err := dedupeKey("transaction_id", in.TransactionID, in.IdempotencyKey)
	if err != nil {
		return conversion.State{}, false, err
	}
	if dedupe != "" {
		// The common repeat, answered without a workflow round trip.
		existing, err := s.Q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: app.ID, DedupeKey: &dedupe})
		if err == nil {
			c, err := s.load(ctx, existing)
			if err != nil {
				return conversion.State{}, false, err
			}
			return c, false, sameConversion(c, in)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return conversion.State{}, false, fmt.Errorf("look up transaction: %w", err)
		}
	}

	// Attribution is locked at signup: a user with a referral earns for
	// that referral's creator, whatever ref this request carries.
	refCode, creatorID, referralID := row.RefCode.Code, row.RefCode.CreatorID, ""
	referral, err := s.Q.GetReferralByUser(ctx, db.GetReferralByUserParams{AppID: app.ID, UserID: in.UserID})
	switch {
	case err == nil:
		refCode, creatorID, referralID = referral.RefCode, referral.CreatorID, referral.ID
	case !errors.Is(err, pgx.ErrNoRows):
		return conversion.State{}, false, fmt.Errorf("look up referral: %w", err)
	}

	id := ids.New("cv")
	if dedupe != "" {
		id = ids.Derived("cv", app.ID, dedupe)
	}
	reply, err := s.Workflows.RecordConversion(ctx, conversion.Input{
		ConversionID:  id,
		AppID:         app.ID,
		RefCode:       refCode,
		CreatorID:     creatorID,
		ReferralID:    referralID,
		UserID:        in.UserID,
		DedupeKey:     dedupe,
		AmountCents:   in.AmountCents,
		Currency:      app.Currency,
		CommissionBPS: app.CommissionBps,
		Hold:          time.Duration(app.HoldSeconds) * time.Second,
		CreatedAt:     s.now(),
		RequestID:     ids.New("req"),
	})
	if errors.Is(err, workflows.ErrInvalid) {
		return conversion.State{}, false, refusal.Invalid("invalid_conversion", "%v", err)
	}
	if err != nil {
		return conversion.State{}, false, err
	}
	if !reply.Created {
		return reply.Conversion, false, sameConversion(reply.Conversion, in)
	}
	return reply.Conversion, true, nil
}

// sameConversion refuses a repeat that is not a repeat: the same
// transaction id with another amount or user.
func sameConversion(c conversion.State, in ConversionInput) error {
	if c.Commission.AmountCents != in.AmountCents || c.UserID != in.UserID {
		return refusal.Conflict("transaction_reused",
			"this transaction_id or Idempotency-Key was already used for conversion %s (user %q, %d cents); a repeat must send the same user_id and amount_cents",
			c.ID, c.UserID, c.Commission.AmountCents)
	}
	return nil
}

// RefundInput is one refund of a referred customer's payment.
type RefundInput struct {
	Ref, AppID, UserID string
	AmountCents        int64
	TransactionID      string
	RefundID           string
	IdempotencyKey     string
	Sender
}

// Refund is a recorded refund as answered.
type Refund struct {
	RefundID         string               `json:"refund_id"`
	ConversionID     string               `json:"conversion_id"`
	Reversed         commission.Breakdown `json:"reversed"`
	Clawback         bool                 `json:"clawback"`
	ConversionStatus string               `json:"conversion_status"`
}

func refundView(r conversion.Refunded) Refund {
	return Refund{
		RefundID: r.RefundID, ConversionID: r.ConversionID, Reversed: r.Reversed,
		Clawback: r.Clawback, ConversionStatus: r.Conversion.Status,
	}
}

// Refund reverses a refunded payment's commission in proportion. It finds
// the conversion by transaction id, else the newest of (ref, user_id) with
// enough left to refund, else the newest of the ref. A repeat (same
// refund_id or Idempotency-Key) returns the first answer.
func (s *Service) Refund(ctx context.Context, in RefundInput) (Refund, error) {
	row, err := s.payee(ctx, in.Ref, in.AppID, in.Sender)
	if err != nil {
		return Refund{}, err
	}
	app := row.App
	if err := checkAmount(in.AmountCents); err != nil {
		return Refund{}, err
	}
	if err := checkID("user_id", in.UserID, false); err != nil {
		return Refund{}, err
	}
	if err := checkID("transaction_id", in.TransactionID, false); err != nil {
		return Refund{}, err
	}
	dedupe, err := dedupeKey("refund_id", in.RefundID, in.IdempotencyKey)
	if err != nil {
		return Refund{}, err
	}
	if dedupe != "" {
		prior, err := s.Q.GetRefundByDedupeKey(ctx, db.GetRefundByDedupeKeyParams{AppID: app.ID, DedupeKey: &dedupe})
		if err == nil {
			return s.priorRefund(ctx, prior, in.AmountCents)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Refund{}, fmt.Errorf("look up refund: %w", err)
		}
	}
	conv, err := s.findRefundable(ctx, app, row.RefCode.Code, in)
	if err == nil {
		var r conversion.Refunded
		if r, err = s.RefundPayment(ctx, conv, in.AmountCents, dedupe); err == nil {
			return refundView(r), nil
		}
	}
	// A resend that raced its first attempt (still in flight when the
	// dedupe key was looked up, applied by the time the amount was
	// checked) looks like an over-refund: it is the first refund's answer.
	if dedupe != "" && errors.Is(err, workflows.ErrOverRefund) {
		if prior, perr := s.Q.GetRefundByDedupeKey(ctx, db.GetRefundByDedupeKeyParams{AppID: app.ID, DedupeKey: &dedupe}); perr == nil {
			return s.priorRefund(ctx, prior, in.AmountCents)
		}
	}
	return Refund{}, err
}

// RefundPayment sends a refund to a found conversion's workflow. dedupe,
// when not empty, names the refund so that a repeat is answered, not
// applied.
func (s *Service) RefundPayment(ctx context.Context, conv db.Conversion, amount int64, dedupe string) (conversion.Refunded, error) {
	refundID := ids.New("rf")
	if dedupe != "" {
		refundID = ids.Derived("rf", conv.AppID, dedupe)
	}
	res, err := s.Workflows.RefundConversion(ctx, conversion.InputFromRow(conv), workflows.RefundRequest{
		RefundID: refundID, AmountCents: amount, DedupeKey: dedupe,
	})
	if errors.Is(err, workflows.ErrOverRefund) {
		return conversion.Refunded{}, overRefund("%v", strings.TrimPrefix(err.Error(), workflows.ErrOverRefund.Error()+": "))
	}
	return res, err
}

// overRefund refuses a refund of more than is left: a refund never
// reverses more than was credited.
func overRefund(format string, args ...any) error {
	return refusal.Invalid("over_refund", format, args...).Because(workflows.ErrOverRefund)
}

func (s *Service) findRefundable(ctx context.Context, app db.App, ref string, in RefundInput) (db.Conversion, error) {
	var conv db.Conversion
	var err error
	switch {
	case in.TransactionID != "":
		key := "txn:" + in.TransactionID
		conv, err = s.Q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: app.ID, DedupeKey: &key})
		if errors.Is(err, pgx.ErrNoRows) {
			return conv, refusal.NotFound("conversion_not_found", "no conversion of this app has transaction_id %q", in.TransactionID)
		}
		if err == nil && in.AmountCents > conv.AmountCents-conv.RefundedCents {
			return conv, overRefund("refund of %d cents exceeds the %d cents left to refund on conversion %s",
				in.AmountCents, conv.AmountCents-conv.RefundedCents, conv.ID)
		}
	case in.UserID != "":
		conv, err = s.Q.FindRefundableConversionByUser(ctx, db.FindRefundableConversionByUserParams{
			RefCode: ref, UserID: in.UserID, AmountCents: in.AmountCents,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return conv, s.noRefundable(ctx, ref, fmt.Sprintf("of ref %q and user %q", ref, in.UserID), in.AmountCents)
		}
	default:
		conv, err = s.Q.FindRefundableConversionByRef(ctx, db.FindRefundableConversionByRefParams{
			RefCode: ref, AmountCents: in.AmountCents,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return conv, s.noRefundable(ctx, ref, fmt.Sprintf("of ref %q", ref), in.AmountCents)
		}
	}
	if err != nil {
		return conv, fmt.Errorf("find conversion to refund: %w", err)
	}
	return conv, nil
}

// noRefundable says why no conversion could take a refund: none at all
// (404), or none with that much left (422, an over-refund).
func (s *Service) noRefundable(ctx context.Context, ref, which string, amount int64) error {
	n, err := s.Q.CountConversionsByRef(ctx, ref)
	if err != nil {
		return err
	}
	if n == 0 {
		return refusal.NotFound("conversion_not_found", "there is no conversion %s to refund", which)
	}
	return overRefund("no conversion %s has %d cents left to refund; a refund never reverses more than was credited", which, amount)
}

// priorRefund answers a repeat of a recorded refund.
func (s *Service) priorRefund(ctx context.Context, r db.Refund, amount int64) (Refund, error) {
	if r.AmountCents != amount {
		return Refund{}, refusal.Conflict("refund_reused",
			"this refund_id or Idempotency-Key was already used for refund %s of %d cents; a repeat must send the same amount_cents", r.ID, r.AmountCents)
	}
	conv, err := s.Q.GetConversion(ctx, r.ConversionID)
	if err != nil {
		return Refund{}, err
	}
	out := conversion.RefundedFromRow(r)
	out.Conversion.Status = conv.Status
	return refundView(out), nil
}

// GetConversion answers one conversion of the app.
func (s *Service) GetConversion(ctx context.Context, appID, id string) (Conversion, error) {
	if !isText(id) || len(id) > maxIDLen {
		return Conversion{}, refusal.NotFound("conversion_not_found", "this app has no conversion %.64q", id)
	}
	row, err := s.Q.GetConversion(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.AppID != appID) {
		return Conversion{}, refusal.NotFound("conversion_not_found", "this app has no conversion %q", id)
	}
	if err != nil {
		return Conversion{}, err
	}
	c, err := s.load(ctx, row)
	return c.View(), err
}

func (s *Service) load(ctx context.Context, row db.Conversion) (conversion.State, error) {
	refunded, err := s.Q.SumRefunds(ctx, row.ID)
	if err != nil {
		return conversion.State{}, err
	}
	return conversion.FromRow(row, commission.Breakdown(refunded)), nil
}
