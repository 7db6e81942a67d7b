package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"go.temporal.io/sdk/temporal"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/stripeapi"
)

// DefaultBalanceRetry is how long a transfer waits after Stripe said the
// platform's balance cannot cover it yet (the run's charge still settling).
const DefaultBalanceRetry = 30 * time.Minute

// ReservePayouts opens a run and, in one transaction, reserves the whole
// available balance of every creator due (available → in payout, split
// over their conversions). Each creator's balance row is locked first, in
// creator order, so a concurrent run or cash-out waits and then finds the
// money gone: every cent is reserved once. A run already opened returns
// what it reserved.
func (a *Activities) ReservePayouts(ctx context.Context, in payout.RunInput) (payout.Plan, error) {
	var plan payout.Plan
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		app, err := q.GetApp(ctx, in.AppID)
		if errors.Is(err, pgx.ErrNoRows) {
			return temporal.NewNonRetryableApplicationError("app "+in.AppID+" does not exist", "AppMissing", err)
		}
		if err != nil {
			return err
		}
		plan = payout.Plan{RunID: in.RunID, AppID: app.ID, Mode: app.PayoutMode, AutoConfirm: app.PayoutAutoConfirm, Currency: app.Currency}
		if _, err := q.InsertPayoutRun(ctx, db.InsertPayoutRunParams{
			ID: in.RunID, AppID: app.ID, Trigger: in.Trigger, Mode: app.PayoutMode, Currency: app.Currency,
		}); errors.Is(err, pgx.ErrNoRows) {
			return a.loadPlan(ctx, q, &plan) // opened before this try
		} else if err != nil {
			return fmt.Errorf("open payout run: %w", err)
		}
		cands, err := q.PayoutCandidates(ctx, db.PayoutCandidatesParams{AppID: app.ID, CreatorID: db.OptionalText(in.CreatorID)})
		if err != nil {
			return err
		}
		skips := []payout.Skipped{}
		for _, c := range cands {
			bal, err := q.LockCreatorBalance(ctx, db.LockCreatorBalanceParams{AppID: app.ID, CreatorID: c.CreatorID})
			if err != nil {
				return err
			}
			// What another run left after we waited for its lock.
			cand := payout.Candidate{AvailableCents: bal.AvailableCents, HasAccount: c.PayoutAccountID != nil && c.TransfersActive}
			if why := payout.Skip(cand, app.MinPayoutCents, app.PayoutMode); why != "" {
				skips = append(skips, payout.Skipped{CreatorID: c.CreatorID, Email: c.Email, Reason: why})
				continue
			}
			rows, err := q.AvailableByConversion(ctx, db.AvailableByConversionParams{AppID: app.ID, CreatorID: c.CreatorID})
			if err != nil {
				return err
			}
			convs := make([]payout.Available, len(rows))
			for i, r := range rows {
				convs[i] = payout.Available{ConversionID: r.ID, NetCents: r.NetCommissionCents, FeeCents: r.PlatformFeeCents,
					AvailableCents: r.AvailableCents, CarriedCents: r.CarriedCents}
			}
			allocs, err := payout.Allocate(convs, bal.AvailableCents)
			if err != nil {
				return fmt.Errorf("creator %s: %w", c.CreatorID, err)
			}
			var fee int64
			for _, al := range allocs {
				fee += al.FeeCents
			}
			var dest *string
			if app.PayoutMode == payout.ModeStripe {
				dest = c.PayoutAccountID
			}
			p, err := q.InsertPayout(ctx, db.InsertPayoutParams{
				ID: ids.New("po"), RunID: in.RunID, AppID: app.ID, CreatorID: c.CreatorID,
				AmountCents: bal.AvailableCents, FeeCents: fee, Currency: app.Currency, Destination: dest,
			})
			if err != nil {
				return fmt.Errorf("insert payout: %w", err)
			}
			if err := ledger.Reserve(ctx, q, p, allocs); err != nil {
				return err
			}
			plan.Payouts = append(plan.Payouts, payout.Planned{PayoutID: p.ID, CreatorID: p.CreatorID, AmountCents: p.AmountCents, FeeCents: p.FeeCents})
			plan.NetCents += p.AmountCents
			plan.FeeCents += p.FeeCents
		}
		status := payout.RunAwaitingConfirmation
		if len(plan.Payouts) == 0 {
			status = payout.RunEmpty
		}
		js, err := json.Marshal(skips)
		if err != nil {
			return err
		}
		return q.SetPayoutRunTotals(ctx, db.SetPayoutRunTotalsParams{ID: in.RunID, NetCents: plan.NetCents, FeeCents: plan.FeeCents, Skipped: js, Status: status})
	})
	return plan, err
}

func (a *Activities) loadPlan(ctx context.Context, q *db.Queries, plan *payout.Plan) error {
	run, err := q.GetPayoutRun(ctx, plan.RunID)
	if err != nil {
		return err
	}
	plan.Mode, plan.Currency, plan.NetCents, plan.FeeCents = run.Mode, run.Currency, run.NetCents, run.FeeCents
	ps, err := q.RunPayouts(ctx, run.ID)
	if err != nil {
		return err
	}
	for _, row := range ps {
		p := row.Payout
		plan.Payouts = append(plan.Payouts, payout.Planned{PayoutID: p.ID, CreatorID: p.CreatorID, AmountCents: p.AmountCents, FeeCents: p.FeeCents})
	}
	return nil
}

// ConfirmRun records the owner's confirmation (or the program's own): a
// Stripe run goes on to charging, a manual run's payouts await the
// owner's payment.
func (a *Activities) ConfirmRun(ctx context.Context, runID string, d payout.Decision) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		run, err := q.GetPayoutRunForUpdate(ctx, runID)
		if err != nil {
			return err
		}
		if run.Status != payout.RunAwaitingConfirmation {
			return nil // confirmed before this try
		}
		next := payout.RunCharging
		if run.Mode == payout.ModeManual {
			next = payout.RunAwaitingPayment
			if err := advanceRun(ctx, q, runID, payout.StatusAwaitingPayment, ""); err != nil {
				return err
			}
		}
		return q.SetPayoutRunStatus(ctx, db.SetPayoutRunStatusParams{ID: runID, Status: next, ConfirmedBy: db.OptionalText(d.By)})
	})
}

// ChargeRun collects the run's money from the app: the creators' net plus
// the platform fee, less what the app paid before that AgentLinks still
// holds. The amount and the idempotency key (the run id) are fixed before
// the first try, so a retry charges once. A decline is a non-retryable
// ChargeDeclined error; on success the collection is in the ledger and
// the payouts are processing.
func (a *Activities) ChargeRun(ctx context.Context, runID string) error {
	run, app, err := a.fixCharge(ctx, runID)
	if err != nil || run.Status != payout.RunCharging {
		return err
	}
	pi := ""
	if run.ChargeCents > 0 {
		if !a.Stripe.Configured() {
			return temporal.NewNonRetryableApplicationError("Stripe is not configured on this AgentLinks: switch the program to manual payouts",
				payout.ErrTypeChargeDeclined, nil)
		}
		if app.PaymentMethodID == nil || app.StripeCustomerID == nil {
			return temporal.NewNonRetryableApplicationError("the app has no saved payment method to charge; add one in the dashboard",
				payout.ErrTypeChargeDeclined, nil)
		}
		pi, err = a.Stripe.ChargeApp(ctx, stripeapi.ChargeParams{
			Customer: *app.StripeCustomerID, PaymentMethod: *app.PaymentMethodID, Currency: run.Currency,
			AmountCents: run.ChargeCents, IdempotencyKey: "charge-" + run.ID, RunID: run.ID,
			Description: fmt.Sprintf("AgentLinks creator payouts %s (%s net + %s fee)", run.ID, commission.Decimal(run.NetCents), commission.Decimal(run.FeeCents)),
		})
		var declined *stripeapi.DeclinedError
		if errors.As(err, &declined) {
			return temporal.NewNonRetryableApplicationError(declined.Reason, payout.ErrTypeChargeDeclined, err)
		}
		if err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		run, err := q.GetPayoutRunForUpdate(ctx, runID)
		if err != nil || run.Status != payout.RunCharging {
			return err
		}
		if pi != "" {
			if err := q.SetPayoutRunPaymentIntent(ctx, db.SetPayoutRunPaymentIntentParams{ID: runID, PaymentIntentID: &pi}); err != nil {
				return err
			}
		}
		if err := ledger.Collect(ctx, q, run.AppID, run.ID, run.ChargeCents); err != nil {
			return err
		}
		if err := advanceRun(ctx, q, runID, payout.StatusProcessing, ""); err != nil {
			return err
		}
		return q.SetPayoutRunStatus(ctx, db.SetPayoutRunStatusParams{ID: runID, Status: payout.RunPaying})
	})
}

// fixCharge fixes the run's charge once: net + fee − the app's credit.
func (a *Activities) fixCharge(ctx context.Context, runID string) (db.PayoutRun, db.App, error) {
	var run db.PayoutRun
	var app db.App
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		var err error
		if run, err = q.GetPayoutRunForUpdate(ctx, runID); err != nil {
			return err
		}
		if app, err = q.GetApp(ctx, run.AppID); err != nil {
			return err
		}
		if run.Status != payout.RunCharging || run.ChargeCents > 0 || run.CreditCents > 0 {
			return nil
		}
		// Serialise the credit of one app's runs: two runs charging at
		// once must not both spend the same credit.
		if _, err := q.LockApp(ctx, run.AppID); err != nil {
			return err
		}
		credit, err := q.AppCredit(ctx, run.AppID)
		if err != nil {
			return err
		}
		owed := run.NetCents + run.FeeCents
		use := max(0, min(credit, owed))
		charge := owed - use
		if err := q.SetPayoutRunCharge(ctx, db.SetPayoutRunChargeParams{ID: runID, CreditCents: use, ChargeCents: charge}); err != nil {
			return err
		}
		run.CreditCents, run.ChargeCents = use, charge
		return nil
	})
	return run, app, err
}

// ReturnRun ends a run that will not be paid — the charge was declined or
// the owner canceled it — returning every reservation to available with
// the reason.
func (a *Activities) ReturnRun(ctx context.Context, runID, status, reason string) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		run, err := q.GetPayoutRunForUpdate(ctx, runID)
		if err != nil {
			return err
		}
		if err := advanceRun(ctx, q, runID, payout.StatusFailed, reason); err != nil {
			return err
		}
		slog.Warn("payout run returned", "run_id", runID, "app_id", run.AppID, "status", status, "reason", reason)
		return q.SetPayoutRunStatus(ctx, db.SetPayoutRunStatusParams{ID: runID, Status: status, FailureReason: reason})
	})
}

// advanceRun moves every payout of a run that is still open (reserved,
// processing or awaiting payment) to status; one that ended stays.
func advanceRun(ctx context.Context, q *db.Queries, runID, status, reason string) error {
	ps, err := q.RunPayouts(ctx, runID)
	if err != nil {
		return err
	}
	for _, row := range ps {
		switch row.Payout.Status {
		case payout.StatusPaid, payout.StatusFailed, payout.StatusReversed:
			continue
		}
		if _, err := ledger.Advance(ctx, q, ledger.Step{PayoutID: row.Payout.ID, Status: status, Reason: reason}); err != nil {
			return err
		}
	}
	return nil
}

// SendTransfer pays one payout's net to the creator's Express account,
// under the Idempotency-Key payout-<id>: a retry after a crash gets the
// same transfer back (after a balance_insufficient answer, which Stripe
// keeps under its key, the key gains the attempt number). Stripe's
// balance_insufficient is retried after BalanceRetry, doubling each time
// (the run's charge still settling); a refusal is a non-retryable
// TransferFailed error.
func (a *Activities) SendTransfer(ctx context.Context, payoutID string) (string, error) {
	p, err := a.Q.GetPayout(ctx, payoutID)
	if err != nil {
		return "", err
	}
	if p.TransferID != nil {
		return *p.TransferID, nil
	}
	if p.Status != payout.StatusProcessing {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("payout %s is %s, not processing", p.ID, p.Status), payout.ErrTypeTransferFailed, nil)
	}
	if p.Destination == nil {
		return "", temporal.NewNonRetryableApplicationError("the creator has no payout account", payout.ErrTypeTransferFailed, nil)
	}
	if !a.Stripe.Configured() {
		return "", temporal.NewNonRetryableApplicationError("Stripe is not configured on this AgentLinks", payout.ErrTypeTransferFailed, nil)
	}
	key := payout.WorkflowID(p.ID)
	if p.TransferAttempt > 0 {
		key = fmt.Sprintf("%s-%d", key, p.TransferAttempt)
	}
	tr, err := a.Stripe.Transfer(ctx, stripeapi.TransferParams{
		Destination: *p.Destination, Currency: p.Currency, AmountCents: p.AmountCents,
		Group: p.RunID, IdempotencyKey: key, PayoutID: p.ID,
	})
	var refused *stripeapi.RefusedError
	switch {
	case errors.Is(err, stripeapi.ErrBalanceInsufficient):
		if err := a.Q.NextTransferAttempt(ctx, db.NextTransferAttemptParams{ID: p.ID, Attempt: p.TransferAttempt}); err != nil {
			return "", err
		}
		// Backoff: the wait doubles with each short answer, up to a day.
		wait := a.BalanceRetry
		if wait <= 0 {
			wait = DefaultBalanceRetry
		}
		wait = min(wait<<min(p.TransferAttempt, 6), 24*time.Hour)
		return "", temporal.NewApplicationErrorWithOptions(err.Error(), "BalanceInsufficient", temporal.ApplicationErrorOptions{NextRetryDelay: wait})
	case errors.As(err, &refused):
		return "", temporal.NewNonRetryableApplicationError(refused.Reason, payout.ErrTypeTransferFailed, err)
	}
	return tr, err
}

// MarkPayoutPaid records a transfer that went out: in payout → paid.
func (a *Activities) MarkPayoutPaid(ctx context.Context, payoutID, transferID string) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		_, err := ledger.Advance(ctx, a.Q.WithTx(tx), ledger.Step{PayoutID: payoutID, Status: payout.StatusPaid, TransferID: transferID})
		return err
	})
}

// FailPayout returns a payout Stripe refused to available, with the reason.
func (a *Activities) FailPayout(ctx context.Context, payoutID, reason string) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		_, err := ledger.Advance(ctx, a.Q.WithTx(tx), ledger.Step{PayoutID: payoutID, Status: payout.StatusFailed, Reason: reason})
		return err
	})
}

// FinishRun closes a run whose payouts all ended and counts them.
func (a *Activities) FinishRun(ctx context.Context, runID string) (payout.RunResult, error) {
	res := payout.RunResult{RunID: runID, Status: payout.RunCompleted}
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Q.WithTx(tx)
		ps, err := q.RunPayouts(ctx, runID)
		if err != nil {
			return err
		}
		for _, row := range ps {
			p := row.Payout
			switch p.Status {
			case payout.StatusPaid, payout.StatusReversed:
				res.Paid++
			case payout.StatusFailed:
				res.Failed++
			}
		}
		return q.SetPayoutRunStatus(ctx, db.SetPayoutRunStatusParams{ID: runID, Status: payout.RunCompleted})
	})
	return res, err
}

// payoutAccountUpdated keeps a creator's Express account state as
// account.updated tells it (an event older than the last one applied
// changes nothing). An account that is no creator's returns "" so the
// event goes on to the apps' handling.
func (a *Activities) payoutAccountUpdated(ctx context.Context, account string, raw []byte, at time.Time) (string, string, error) {
	var acct stripe.Account
	if err := json.Unmarshal(raw, &acct); err != nil {
		return statusIgnored, "account.updated whose object is not an account", nil
	}
	if account == "" {
		account = acct.ID
	}
	st := stripeapi.AccountState(&acct)
	n, err := a.Q.UpdatePayoutAccountState(ctx, db.UpdatePayoutAccountStateParams{
		PayoutAccountID: &account, PayoutsEnabled: st.PayoutsEnabled, TransfersActive: st.TransfersActive,
		DetailsSubmitted: st.DetailsSubmitted, RequirementsDue: st.CurrentlyDue, At: &at,
	})
	if err != nil || n == 0 {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("payout account %s: payouts enabled %t, transfers active %t, %d requirements due",
		account, st.PayoutsEnabled, st.TransfersActive, len(st.CurrentlyDue)), nil
}

// transferReversed moves a reversed payout back from paid to available.
// A partial reversal is parked for an operator: which part of the
// creator's earnings it takes back is a decision, not arithmetic.
func (a *Activities) transferReversed(ctx context.Context, raw []byte) (string, string, error) {
	var tr struct {
		ID             string `json:"id"`
		Amount         int64  `json:"amount"`
		AmountReversed int64  `json:"amount_reversed"`
		Reversed       bool   `json:"reversed"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil || tr.ID == "" {
		return statusIgnored, "transfer.reversed whose object is not a transfer", nil
	}
	p, err := a.Q.GetPayoutByTransfer(ctx, &tr.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return statusIgnored, "transfer " + tr.ID + " paid no payout", nil
	}
	if err != nil {
		return "", "", err
	}
	if !tr.Reversed && tr.AmountReversed < p.AmountCents {
		return statusParked, fmt.Sprintf("transfer %s of payout %s was partly reversed (%s of %s): an operator decides what it takes back",
			tr.ID, p.ID, commission.Decimal(tr.AmountReversed), commission.Decimal(p.AmountCents)), nil
	}
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		_, err := ledger.Advance(ctx, a.Q.WithTx(tx), ledger.Step{PayoutID: p.ID, Status: payout.StatusReversed,
			Reason: "Stripe reversed transfer " + tr.ID})
		return err
	})
	if errors.Is(err, ledger.ErrPayoutState) {
		return statusIgnored, err.Error(), nil
	}
	if err != nil {
		return "", "", err
	}
	return statusProcessed, fmt.Sprintf("payout %s reversed: %s back to the creator's available balance", p.ID, commission.Decimal(p.AmountCents)), nil
}
