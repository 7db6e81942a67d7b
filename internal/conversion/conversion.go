// Package conversion holds what the service, the workflows and the
// activities say to each other about one conversion: the workflow's input,
// the recorded state, the results of a record and a refund, and the names
// that histories carry. It does no I/O. Field names are part of recorded
// workflow histories (payloads are JSON): rename none.
package conversion

import (
	"strings"
	"time"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
)

// Statuses of a conversion, as stored and as answered.
const (
	StatusPending   = "pending"
	StatusAvailable = "available"
	StatusRefunded  = "refunded"
)

// Temporal error types that no retry can fix.
const (
	ErrTypeInvalidConversion = "InvalidConversion"
	ErrTypeOverRefund        = "OverRefund"
	ErrTypeConversionMissing = "ConversionMissing"
)

// WorkflowID is the business id of a conversion's workflow.
func WorkflowID(conversionID string) string { return "conversion-" + conversionID }

// Input is everything needed to record a conversion. The caller snapshots
// the app's rate and hold so that later changes to the app never change
// this conversion.
type Input struct {
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

// InputFromRow rebuilds a recorded conversion's workflow input, for a
// refund that must start a new run after the first one ended.
func InputFromRow(c db.Conversion) Input {
	in := Input{
		ConversionID: c.ID, AppID: c.AppID, RefCode: c.RefCode, CreatorID: c.CreatorID, UserID: c.UserID,
		AmountCents: c.AmountCents, Currency: c.Currency, CommissionBPS: c.CommissionBps,
		Hold: c.AvailableAt.Sub(c.CreatedAt), CreatedAt: c.CreatedAt,
	}
	if c.ReferralID != nil {
		in.ReferralID = *c.ReferralID
	}
	if c.DedupeKey != nil {
		in.DedupeKey = *c.DedupeKey
	}
	return in
}

// State is a recorded conversion as the workflow and callers see it.
type State struct {
	ID          string
	AppID       string
	RefCode     string
	CreatorID   string
	UserID      string
	Status      string
	Currency    string
	Commission  commission.Breakdown
	Refunded    commission.Breakdown
	CreatedAt   time.Time
	AvailableAt time.Time
	WorkflowID  string
}

// Remaining is the amount still refundable.
func (c State) Remaining() int64 { return c.Commission.AmountCents - c.Refunded.AmountCents }

// FromRow builds the state of a conversion from its row and refund totals.
func FromRow(row db.Conversion, refunded commission.Breakdown) State {
	return State{
		ID:          row.ID,
		AppID:       row.AppID,
		RefCode:     row.RefCode,
		CreatorID:   row.CreatorID,
		UserID:      row.UserID,
		Status:      row.Status,
		Currency:    row.Currency,
		Commission:  Breakdown(row),
		Refunded:    refunded,
		CreatedAt:   row.CreatedAt,
		AvailableAt: row.AvailableAt,
		WorkflowID:  row.WorkflowID,
	}
}

// Breakdown is the commission a conversion row recorded.
func Breakdown(row db.Conversion) commission.Breakdown {
	return commission.Breakdown{
		AmountCents:        row.AmountCents,
		CommissionCents:    row.CommissionCents,
		PlatformFeeCents:   row.PlatformFeeCents,
		NetCommissionCents: row.NetCommissionCents,
	}
}

// Recorded says what the record activity found or inserted.
type Recorded struct {
	Conversion State
	Inserted   bool // this call inserted it
}

// RefundInput asks to reverse part of a conversion.
type RefundInput struct {
	RefundID     string
	ConversionID string
	AmountCents  int64
	DedupeKey    string // the caller's refund id or idempotency key; empty for none
}

// Refunded is one recorded refund.
type Refunded struct {
	RefundID     string
	ConversionID string
	Reversed     commission.Breakdown
	Clawback     bool
	Conversion   State // the conversion after the refund
}

// RefundedFromRow is a recorded refund as the workflow answers it, without
// the conversion's state.
func RefundedFromRow(r db.Refund) Refunded {
	return Refunded{
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

// Payment is a referred customer's payment that an integration the
// platform trusts reports for an app (a verified Stripe event): no key is
// needed, and the transaction id makes a repeat credit nothing.
type Payment struct {
	Ref, UserID, TransactionID, Currency string
	AmountCents                          int64
}

// StripeDisputeKey names the refund a Stripe dispute makes (dispute ids
// begin dp_), so that a redelivered dispute reverses nothing twice.
func StripeDisputeKey(disputeID string) string { return "stripe:" + disputeID }

// RefundReason says why a refund took a commission back, for people: a
// Stripe dispute, a refund after the release (a clawback), or a refund.
func RefundReason(dedupeKey string, clawback bool) string {
	switch {
	case strings.HasPrefix(dedupeKey, StripeDisputeKey("dp_")):
		return "dispute"
	case clawback:
		return "refund after release (clawback)"
	}
	return "refund"
}

// View is a conversion as the API answers it and webhooks send it.
type View struct {
	ConversionID string               `json:"conversion_id"`
	Status       string               `json:"status"`
	Currency     string               `json:"currency"`
	AvailableAt  time.Time            `json:"available_at"`
	Commission   commission.Breakdown `json:"commission"`
	Refunded     commission.Breakdown `json:"refunded"`
	Ref          string               `json:"ref"`
	UserID       string               `json:"user_id"`
	CreatedAt    time.Time            `json:"created_at"`
	WorkflowID   string               `json:"workflow_id"`
}

// View is the conversion's public view.
func (c State) View() View {
	return View{
		ConversionID: c.ID, Status: c.Status, Currency: c.Currency, AvailableAt: c.AvailableAt.UTC(),
		Commission: c.Commission, Refunded: c.Refunded, Ref: c.RefCode, UserID: c.UserID,
		CreatedAt: c.CreatedAt.UTC(), WorkflowID: c.WorkflowID,
	}
}

// RefundView is a refund as the conversion.refunded webhook sends it.
type RefundView struct {
	RefundID   string               `json:"refund_id"`
	Reversed   commission.Breakdown `json:"reversed"`
	Clawback   bool                 `json:"clawback"`
	Conversion View                 `json:"conversion"`
}

// View is the refund's public view, with the conversion after it.
func (r Refunded) View() RefundView {
	return RefundView{RefundID: r.RefundID, Reversed: r.Reversed, Clawback: r.Clawback, Conversion: r.Conversion.View()}
}
