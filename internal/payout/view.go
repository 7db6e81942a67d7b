package payout

import (
	"time"

	"github.com/agentlinks/agentlinks/db"
)

// View is one payout as owners, creators, the API and webhooks see it.
type View struct {
	ID            string     `json:"id"`
	RunID         string     `json:"run_id"`
	CreatorID     string     `json:"creator_id"`
	Email         string     `json:"email,omitempty"`
	AmountCents   int64      `json:"amount_cents"`
	FeeCents      int64      `json:"fee_cents"`
	Currency      string     `json:"currency"`
	Status        string     `json:"status"`
	TransferID    string     `json:"transfer_id,omitempty"`
	Reference     string     `json:"reference,omitempty"`
	FailureReason string     `json:"failure_reason,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	PaidAt        *time.Time `json:"paid_at,omitempty"`
	FailedAt      *time.Time `json:"failed_at,omitempty"`
	ReversedAt    *time.Time `json:"reversed_at,omitempty"`
}

// ViewOf is the view of a payout row; email is the creator's, or "" to leave it out.
func ViewOf(p db.Payout, email string) View {
	out := View{ID: p.ID, RunID: p.RunID, CreatorID: p.CreatorID, Email: email, AmountCents: p.AmountCents, FeeCents: p.FeeCents,
		Currency: p.Currency, Status: p.Status, Reference: p.Reference, FailureReason: p.FailureReason, CreatedAt: p.CreatedAt.UTC(),
		PaidAt: p.PaidAt, FailedAt: p.FailedAt, ReversedAt: p.ReversedAt}
	if p.TransferID != nil {
		out.TransferID = *p.TransferID
	}
	return out
}
