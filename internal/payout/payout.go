// Package payout holds what the payout workflows, their activities and the
// service share about cashing out (PRODUCT.md, Cash out): the run's input
// and plan, the statuses, and the pure rules — who is paid, which
// conversions a payout carries, and how a schedule is written. No I/O.
package payout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agentlinks/agentlinks/internal/commission"
)

// Modes: AgentLinks pays through Stripe, or the app pays its creators itself.
const (
	ModeStripe = "stripe"
	ModeManual = "manual"
)

// What started a run.
const (
	TriggerSchedule = "schedule"
	TriggerOperator = "operator"
	TriggerOwner    = "owner"
	TriggerRequest  = "request" // a creator asked to cash out
)

// Run statuses.
const (
	RunAwaitingConfirmation = "awaiting_confirmation"
	RunCharging             = "charging"
	RunPaying               = "paying"
	RunAwaitingPayment      = "awaiting_payment" // manual: the owner pays
	RunCompleted            = "completed"
	RunFailed               = "failed"
	RunCanceled             = "canceled"
	RunEmpty                = "empty" // nobody was due
)

// Payout statuses.
const (
	StatusReserved        = "reserved"
	StatusProcessing      = "processing"
	StatusAwaitingPayment = "awaiting_payment"
	StatusPaid            = "paid"
	StatusFailed          = "failed"
	StatusReversed        = "reversed"
)

// Workflow names, updates and queries.
const (
	RunWorkflow    = "PayoutRun"
	PayoutWorkflow = "Payout"
	UpdateConfirm  = "confirm"
	UpdateCancel   = "cancel"
	// UpdateReserved answers once the run has reserved what it pays (its
	// status then): whoever started the run shows the reservation at once.
	UpdateReserved = "reserved"
	QueryStatus    = "status"
)

// Non-retryable application error types.
const (
	ErrTypeChargeDeclined = "ChargeDeclined" // the app's payment method was refused
	ErrTypeTransferFailed = "TransferFailed" // Stripe refused the transfer for good
	ErrTypeNotAwaiting    = "RunNotAwaiting" // confirm or cancel of a run already decided
)

// RunWorkflowID is a run's business id. A schedule appends its own time.
func RunWorkflowID(appID, suffix string) string { return "payout-run-" + appID + "-" + suffix }

// ScheduleID is the Temporal Schedule of an app's payout runs.
func ScheduleID(appID string) string { return "payout-schedule-" + appID }

// WorkflowID is the workflow that pays one payout; also its transfer's
// Idempotency-Key, fixed before the first try.
func WorkflowID(payoutID string) string { return "payout-" + payoutID }

// RunInput starts a run. RunID empty means the workflow's id (a
// scheduled run's id is the schedule's, with the time appended).
type RunInput struct {
	RunID     string
	AppID     string
	Trigger   string
	CreatorID string // a creator's cash-out request: that creator only
}

// Planned is one creator's reserved payout.
type Planned struct {
	PayoutID    string
	CreatorID   string
	AmountCents int64 // the creator's net
	FeeCents    int64
}

// Plan is what a run reserved.
type Plan struct {
	RunID       string
	AppID       string
	Mode        string
	AutoConfirm bool
	Currency    string
	Payouts     []Planned
	NetCents    int64
	FeeCents    int64
}

// Decision is the owner's answer to a run awaiting confirmation.
type Decision struct {
	By     string // the account that decided
	Reason string // why, for a cancel
}

// RunResult is how a run ended.
type RunResult struct {
	RunID  string
	Status string
	Paid   int
	Failed int
	Reason string
}

// Skipped is a creator a run left out, and why (kept on the run).
type Skipped struct {
	CreatorID string `json:"creator_id"`
	Email     string `json:"email"`
	Reason    string `json:"reason"`
}

// Candidate is a creator a run considers.
type Candidate struct {
	AvailableCents int64
	HasAccount     bool // a payout account that can receive transfers
}

// Skip says why a creator is not paid in a run, or "" when they are:
// a clawback debt is earned back first, the balance must reach the
// program's minimum, and Stripe mode needs a payout account that accepts
// transfers.
func Skip(c Candidate, minCents int64, mode string) string {
	switch {
	case c.AvailableCents < 0:
		return fmt.Sprintf("a clawback of %s is owed back first; later earnings repay it", commission.Decimal(-c.AvailableCents))
	case c.AvailableCents == 0:
		return "nothing is available"
	case c.AvailableCents < minCents:
		return fmt.Sprintf("available %s is below the program's minimum payout of %s", commission.Decimal(c.AvailableCents), commission.Decimal(minCents))
	case mode == ModeStripe && !c.HasAccount:
		return "no payout account that can receive transfers yet"
	}
	return ""
}

// Available is one conversion's available money for a payout.
type Available struct {
	ConversionID   string
	NetCents       int64 // the conversion's net commission as credited
	FeeCents       int64 // its platform fee as credited
	AvailableCents int64 // what of it is available now (negative after a clawback)
	CarriedCents   int64 // what live payouts already carry of it
}

// Allocation is the part of a conversion one payout carries.
type Allocation struct {
	ConversionID string
	AmountCents  int64
	FeeCents     int64
}

// Allocate spreads a payout of totalCents (the creator's whole available
// balance, negatives netted) over the conversions with money available,
// oldest first, and gives each part its share of the fee. It fails when
// the conversions hold less than the total, which the ledger forbids.
func Allocate(convs []Available, totalCents int64) ([]Allocation, error) {
	var out []Allocation
	left := totalCents
	for _, c := range convs {
		if left == 0 {
			break
		}
		if c.AvailableCents <= 0 {
			continue
		}
		take := min(left, c.AvailableCents)
		fee := commission.CarriedFee(commission.Breakdown{NetCommissionCents: c.NetCents, PlatformFeeCents: c.FeeCents},
			c.CarriedCents, take)
		out = append(out, Allocation{ConversionID: c.ConversionID, AmountCents: take, FeeCents: fee})
		left -= take
	}
	if left != 0 {
		return nil, fmt.Errorf("payout of %d cents: the conversions hold %d cents less", totalCents, left)
	}
	return out, nil
}

// Schedule is a program's payout schedule: monthly on a day, or every N days.
type Schedule struct {
	MonthDay  int // 1..28
	EveryDays int // 1..365
}

// ParseSchedule reads "monthly:D", "every:N" or "" (none).
func ParseSchedule(s string) (Schedule, error) {
	if s == "" || s == "off" {
		return Schedule{}, nil
	}
	kind, n, ok := strings.Cut(s, ":")
	v, err := strconv.Atoi(n)
	switch {
	case !ok || err != nil:
	case kind == "monthly" && v >= 1 && v <= 28:
		return Schedule{MonthDay: v}, nil
	case kind == "every" && v >= 1 && v <= 365:
		return Schedule{EveryDays: v}, nil
	}
	return Schedule{}, fmt.Errorf("payout schedule %q: want monthly:D (day 1 to 28), every:N (1 to 365 days) or off", s)
}

// String is the schedule as stored ("" for none).
func (s Schedule) String() string {
	switch {
	case s.MonthDay > 0:
		return fmt.Sprintf("monthly:%d", s.MonthDay)
	case s.EveryDays > 0:
		return fmt.Sprintf("every:%d", s.EveryDays)
	}
	return ""
}

// ScheduleHour is the UTC hour a monthly schedule runs at.
const ScheduleHour = 9

// Next is when the schedule runs next after now, as its Temporal Schedule
// computes it (zero for none): a monthly one on its day at ScheduleHour
// UTC, an every-N-days one at the multiples of N days since the Unix epoch
// (Temporal's intervals are aligned to it). The creator's dashboard shows
// it without asking Temporal on every view.
func (s Schedule) Next(now time.Time) time.Time {
	now = now.UTC()
	switch {
	case s.MonthDay > 0:
		t := time.Date(now.Year(), now.Month(), s.MonthDay, ScheduleHour, 0, 0, 0, time.UTC)
		if !t.After(now) {
			t = t.AddDate(0, 1, 0)
		}
		return t
	case s.EveryDays > 0:
		every := time.Duration(s.EveryDays) * 24 * time.Hour
		return time.Unix(0, 0).UTC().Add((now.Sub(time.Unix(0, 0))/every + 1) * every)
	}
	return time.Time{}
}

// Describe is the schedule in words.
func (s Schedule) Describe() string {
	switch {
	case s.MonthDay > 0:
		return fmt.Sprintf("monthly on day %d", s.MonthDay)
	case s.EveryDays == 1:
		return "every day"
	case s.EveryDays > 0:
		return fmt.Sprintf("every %d days", s.EveryDays)
	}
	return "no schedule: runs start when the owner or a creator asks"
}
