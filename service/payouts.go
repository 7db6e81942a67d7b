package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/ledger"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/workflows"
)

// Cashing out (PRODUCT.md, Cash out): a program's payout settings and
// schedule, runs started now or by a creator's request, the owner's
// confirmation, manual payouts marked paid, and what everyone sees.

// PayoutSettings are how an app pays its creators.
type PayoutSettings struct {
	Mode           string // stripe or manual
	AutoConfirm    bool
	Schedule       string // monthly:D, every:N or "" (none)
	MinPayoutCents int64
}

func (p *PayoutSettings) check() (payout.Schedule, error) {
	if p.Mode != payout.ModeStripe && p.Mode != payout.ModeManual {
		return payout.Schedule{}, refusal.Invalid("invalid_payout_mode", "payout mode %q: want stripe or manual", p.Mode)
	}
	if p.MinPayoutCents < 0 || p.MinPayoutCents > 100_000_000 {
		return payout.Schedule{}, refusal.Invalid("invalid_min_payout", "the minimum payout must be between 0 and 1000000.00")
	}
	s, err := payout.ParseSchedule(strings.TrimSpace(p.Schedule))
	if err != nil {
		return s, refusal.Invalid("invalid_payout_schedule", "%s", err.Error())
	}
	p.Schedule = s.String()
	return s, nil
}

// SetPayoutSettings stores an app's payout settings and makes its Temporal
// Schedule match. The schedule is set first: a schedule Temporal refused
// leaves the settings as they were.
func (s *Service) SetPayoutSettings(ctx context.Context, appID string, in PayoutSettings) (db.App, error) {
	sched, err := in.check()
	if err != nil {
		return db.App{}, err
	}
	cur, err := s.Q.GetApp(ctx, appID)
	if errors.Is(err, pgx.ErrNoRows) {
		return cur, appNotFound(appID)
	}
	if err != nil {
		return cur, err
	}
	if in.Mode == payout.ModeStripe && cur.PayoutMode != payout.ModeStripe {
		if err := s.StripePayoutsEnabled(); err != nil {
			return db.App{}, refusal.Invalid("stripe_not_configured", "Paying creators through Stripe needs Stripe, which this AgentLinks is not configured for (its operator sets STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET): pay them yourself until then.")
		}
	}
	// Temporal holds the schedule: asked only when it changes (the worker
	// puts every stored schedule back at start, EnsurePayoutSchedules).
	if cur.PayoutSchedule != in.Schedule {
		if err := s.Workflows.SetPayoutSchedule(ctx, appID, sched); err != nil {
			return db.App{}, fmt.Errorf("set the payout schedule: %w", err)
		}
	}
	app, err := s.Q.SetAppPayouts(ctx, db.SetAppPayoutsParams{ID: appID, PayoutMode: in.Mode, PayoutAutoConfirm: in.AutoConfirm,
		PayoutSchedule: in.Schedule, MinPayoutCents: in.MinPayoutCents})
	if errors.Is(err, pgx.ErrNoRows) {
		return app, appNotFound(appID)
	}
	return app, err
}

// StartPayoutRun starts a run of the app's program now and returns its id.
func (s *Service) StartPayoutRun(ctx context.Context, appID, trigger string) (string, error) {
	return s.startRun(ctx, appID, trigger, false)
}

// StartPayoutRunNow is StartPayoutRun for an owner at the dashboard: it
// returns once the run has reserved, so that the page shows the run.
func (s *Service) StartPayoutRunNow(ctx context.Context, appID string) (string, error) {
	return s.startRun(ctx, appID, payout.TriggerOwner, true)
}

func (s *Service) startRun(ctx context.Context, appID, trigger string, waitReserved bool) (string, error) {
	if _, err := s.Q.GetApp(ctx, appID); errors.Is(err, pgx.ErrNoRows) {
		return "", appNotFound(appID)
	} else if err != nil {
		return "", err
	}
	in := payout.RunInput{RunID: newRunID(appID, ""), AppID: appID, Trigger: trigger}
	if waitReserved {
		return in.RunID, s.startReservedRun(ctx, in)
	}
	return in.RunID, s.Workflows.StartPayoutRun(ctx, in)
}

// newRunID is a new run's id: a run is a business event of its own, so
// each gets a fresh one (the reservation, not the id, makes a second run
// harmless).
func newRunID(appID, kind string) string {
	return payout.RunWorkflowID(appID, kind+strings.TrimPrefix(ids.New("r"), "r_"))
}

// RequestCashOut is a creator asking to be paid what is available in a
// program now. It is refused with the reason when nothing could be paid
// (below the minimum, a clawback debt, no payout account); otherwise a run
// of this creator alone starts and waits for the owner like any other.
// Racing a scheduled run, one of the two reserves the money; the other
// finds nothing left.
func (s *Service) RequestCashOut(ctx context.Context, accountID, appID string) (string, error) {
	cr, err := s.Q.GetCreatorByUser(ctx, &accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", appNotFound(appID)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.Q.GetRefCodeForCreator(ctx, db.GetRefCodeForCreatorParams{AppID: appID, CreatorID: cr.ID}); errors.Is(err, pgx.ErrNoRows) {
		return "", appNotFound(appID)
	} else if err != nil {
		return "", err
	}
	app, err := s.Q.GetApp(ctx, appID)
	if err != nil {
		return "", err
	}
	b, err := s.Q.GetCreatorBalance(ctx, db.GetCreatorBalanceParams{AppID: appID, CreatorID: cr.ID})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	cand := payout.Candidate{AvailableCents: b.AvailableCents, HasAccount: payoutAccountOf(cr).Ready()}
	if why := payout.Skip(cand, app.MinPayoutCents, app.PayoutMode); why != "" {
		return "", refusal.Conflict("cannot_cash_out", "%s", why)
	}
	in := payout.RunInput{RunID: newRunID(appID, "request-"),
		AppID: appID, Trigger: payout.TriggerRequest, CreatorID: cr.ID}
	// A run that finds nothing (a scheduled run reserved it first) is no
	// refusal: the creator's money is on its way in that run, and the page
	// they land on shows it.
	return in.RunID, s.startReservedRun(ctx, in)
}

// reserveWait bounds how long a person's request waits for its run's
// reservation; a run slower than this goes on, and the page catches up.
const reserveWait = 10 * time.Second

// startReservedRun starts a run and waits for its reservation, so that the
// page a person lands on shows it.
func (s *Service) startReservedRun(ctx context.Context, in payout.RunInput) error {
	wctx, cancel := context.WithTimeout(ctx, reserveWait)
	defer cancel()
	_, err := s.Workflows.StartReservedPayoutRun(wctx, in)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// Started, or being started, and slow to reserve: the run goes on
		// and the page catches up.
		return nil
	}
	return err
}

// DecidePayoutRun is the owner confirming or canceling a run of their app.
func (s *Service) DecidePayoutRun(ctx context.Context, appID, runID string, confirm bool, d payout.Decision) error {
	run, err := s.Q.GetPayoutRun(ctx, runID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && run.AppID != appID) {
		return refusal.NotFound("payout_run_not_found", "there is no payout run %.80q in this app", runID)
	}
	if err != nil {
		return err
	}
	if run.Status != payout.RunAwaitingConfirmation {
		return refusal.Conflict("payout_run_decided", "run %s is %s, not awaiting confirmation", runID, run.Status)
	}
	err = s.Workflows.DecideRun(ctx, runID, confirm, d)
	if errors.Is(err, workflows.ErrRunNotAwaiting) {
		return refusal.Conflict("payout_run_decided", "run %s is %s: %s", runID, run.Status, err.Error())
	}
	return err
}

// MarkPayout is the owner of a manual program recording a payout they
// made (paid, with their reference) or could not make (failed, with the
// reason: the amount returns to the creator's available balance).
func (s *Service) MarkPayout(ctx context.Context, appID, payoutID string, paid bool, note string) (db.Payout, error) {
	note = strings.TrimSpace(note)
	if len(note) > 200 || !isText(note) {
		return db.Payout{}, refusal.Invalid("invalid_reference", "a reference or reason is at most 200 characters of text")
	}
	if !paid && note == "" {
		return db.Payout{}, refusal.Invalid("reason_required", "say why the payout failed; the creator sees it")
	}
	var out db.Payout
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := s.Q.WithTx(tx)
		p, err := q.GetPayout(ctx, payoutID)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && p.AppID != appID) {
			return refusal.NotFound("payout_not_found", "there is no payout %.80q in this app", payoutID)
		}
		if err != nil {
			return err
		}
		run, err := q.GetPayoutRunForUpdate(ctx, p.RunID)
		if err != nil {
			return err
		}
		if run.Mode != payout.ModeManual {
			return refusal.Conflict("not_manual", "payout %s is paid through Stripe; it cannot be marked by hand", p.ID)
		}
		step := ledger.Step{PayoutID: p.ID, Status: payout.StatusPaid, Reference: note}
		if !paid {
			step = ledger.Step{PayoutID: p.ID, Status: payout.StatusFailed, Reason: note}
		}
		if out, err = ledger.Advance(ctx, q, step); errors.Is(err, ledger.ErrPayoutState) {
			return refusal.Conflict("payout_state", "%s", strings.TrimPrefix(err.Error(), ledger.ErrPayoutState.Error()+": "))
		} else if err != nil {
			return err
		}
		ps, err := q.RunPayouts(ctx, run.ID)
		if err != nil {
			return err
		}
		for _, row := range ps {
			p := row.Payout
			if p.Status == payout.StatusAwaitingPayment || p.Status == payout.StatusReserved {
				return nil
			}
		}
		return q.SetPayoutRunStatus(ctx, db.SetPayoutRunStatusParams{ID: run.ID, Status: payout.RunCompleted})
	})
	return out, err
}

// Payout is a payout as the API answers it (and webhooks send it).
type Payout = payout.View

// PayoutsOf lists a ref's creator's payouts in the app, newest first (the
// API's GET /api/payouts?ref=).
func (s *Service) PayoutsOf(ctx context.Context, appID, ref string) ([]Payout, error) {
	row, err := s.appRef(ctx, appID, ref)
	if err != nil {
		return nil, err
	}
	return s.creatorPayouts(ctx, appID, row.RefCode.CreatorID)
}

func (s *Service) creatorPayouts(ctx context.Context, appID, creatorID string) ([]Payout, error) {
	rows, err := s.Q.CreatorPayouts(ctx, db.CreatorPayoutsParams{AppID: appID, CreatorID: creatorID, Limit: 100})
	if err != nil {
		return nil, err
	}
	out := make([]Payout, len(rows))
	for i, r := range rows {
		out[i] = payout.ViewOf(r, "")
	}
	return out, nil
}

// Skipped is a creator a run left out, and why.
type Skipped = payout.Skipped

// Run is a payout run with its payouts.
type Run struct {
	db.PayoutRun
	Payouts []Payout
	Skipped []Skipped
}

// PayoutRuns lists an app's recent runs with their payouts, newest first.
func (s *Service) PayoutRuns(ctx context.Context, appID string, limit int32) ([]Run, error) {
	runs, err := s.Q.ListPayoutRuns(ctx, db.ListPayoutRunsParams{AppID: appID, Limit: limit})
	if err != nil {
		return nil, err
	}
	return s.runs(ctx, runs)
}

// PayoutRun is one run of the app.
func (s *Service) PayoutRun(ctx context.Context, appID, runID string) (Run, error) {
	r, err := s.Q.GetPayoutRun(ctx, runID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && r.AppID != appID) {
		return Run{}, refusal.NotFound("payout_run_not_found", "there is no payout run %.80q in this app", runID)
	}
	if err != nil {
		return Run{}, err
	}
	runs, err := s.runs(ctx, []db.PayoutRun{r})
	if err != nil {
		return Run{}, err
	}
	return runs[0], nil
}

// runs gives runs their payouts (one read for all of them) and skips.
func (s *Service) runs(ctx context.Context, rows []db.PayoutRun) ([]Run, error) {
	out := make([]Run, len(rows))
	byID := make(map[string]*Run, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		out[i] = Run{PayoutRun: r, Payouts: []Payout{}, Skipped: []Skipped{}}
		byID[r.ID], ids[i] = &out[i], r.ID
		if len(r.Skipped) > 0 {
			if err := json.Unmarshal(r.Skipped, &out[i].Skipped); err != nil {
				return nil, fmt.Errorf("run %s skipped: %w", r.ID, err)
			}
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	ps, err := s.Q.PayoutsOfRuns(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, row := range ps {
		run := byID[row.Payout.RunID]
		run.Payouts = append(run.Payouts, payout.ViewOf(row.Payout, row.Email))
	}
	return out, nil
}

// RunView is a run as the API and the operator commands print it.
type RunView struct {
	ID              string     `json:"id"`
	AppID           string     `json:"app_id"`
	Status          string     `json:"status"`
	Mode            string     `json:"mode"`
	Trigger         string     `json:"trigger"`
	Currency        string     `json:"currency"`
	NetCents        int64      `json:"net_cents"`
	FeeCents        int64      `json:"fee_cents"`
	CreditCents     int64      `json:"credit_cents"`
	ChargeCents     int64      `json:"charge_cents"`
	PaymentIntentID *string    `json:"payment_intent_id"`
	FailureReason   string     `json:"failure_reason,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	ConfirmedAt     *time.Time `json:"confirmed_at"`
	FundedAt        *time.Time `json:"funded_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	Payouts         []Payout   `json:"payouts"`
	Skipped         []Skipped  `json:"skipped"`
}

// View is the run as RunView.
func (r Run) View() RunView {
	return RunView{ID: r.ID, AppID: r.AppID, Status: r.Status, Mode: r.Mode, Trigger: r.Trigger, Currency: r.Currency,
		NetCents: r.NetCents, FeeCents: r.FeeCents, CreditCents: r.CreditCents, ChargeCents: r.ChargeCents,
		PaymentIntentID: r.PaymentIntentID, FailureReason: r.FailureReason, CreatedAt: r.CreatedAt.UTC(),
		ConfirmedAt: r.ConfirmedAt, FundedAt: r.FundedAt, FinishedAt: r.FinishedAt, Payouts: r.Payouts, Skipped: r.Skipped}
}

// WaitPayoutRun waits until the run's workflow ends (a run awaiting the
// owner does not end until they decide) and returns the run.
func (s *Service) WaitPayoutRun(ctx context.Context, appID, runID string) (Run, error) {
	if _, err := s.Workflows.WaitRun(ctx, runID); err != nil {
		return Run{}, err
	}
	return s.PayoutRun(ctx, appID, runID)
}

// NextPayouts is when the app's schedule starts its next runs.
func (s *Service) NextPayouts(ctx context.Context, appID string) ([]time.Time, error) {
	return s.Workflows.PayoutSchedule(ctx, appID)
}

// PayoutsPage is what an owner's payouts tab shows.
type PayoutsPage struct {
	App      db.App
	Schedule payout.Schedule
	Next     []time.Time // the schedule's next runs
	Credit   int64       // paid in for payouts that failed or were reversed, held for the next run
	Runs     []Run
}

// OwnerPayouts answers the owner's payouts tab of their app.
func (s *Service) OwnerPayouts(ctx context.Context, accountID, appID string) (PayoutsPage, error) {
	app, err := s.OwnedApp(ctx, accountID, appID)
	if err != nil {
		return PayoutsPage{}, err
	}
	pg := PayoutsPage{App: app}
	if pg.Schedule, err = payout.ParseSchedule(app.PayoutSchedule); err != nil {
		return pg, err
	}
	if app.PayoutSchedule != "" {
		// The schedule lives in Temporal; the page still shows without it.
		pg.Next, _ = s.NextPayouts(ctx, app.ID)
	}
	if pg.Credit, err = s.Q.AppCredit(ctx, app.ID); err != nil {
		return pg, err
	}
	pg.Runs, err = s.PayoutRuns(ctx, app.ID, 20)
	return pg, err
}

// AppPayouts lists the program's newest payouts.
func (s *Service) AppPayouts(ctx context.Context, appID string) ([]Payout, error) {
	rows, err := s.Q.AppPayouts(ctx, db.AppPayoutsParams{AppID: appID, Limit: 100})
	if err != nil {
		return nil, err
	}
	out := make([]Payout, len(rows))
	for i, r := range rows {
		out[i] = payout.ViewOf(r.Payout, r.Email)
	}
	return out, nil
}

// EnsurePayoutSchedules makes Temporal hold every program's stored
// schedule (a new Temporal cluster, or a schedule deleted by hand): the
// database says what the schedules are.
func (s *Service) EnsurePayoutSchedules(ctx context.Context) error {
	apps, err := s.Q.ScheduledApps(ctx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		sched, err := payout.ParseSchedule(a.PayoutSchedule)
		if err != nil {
			return fmt.Errorf("app %s: %w", a.ID, err)
		}
		if err := s.Workflows.SetPayoutSchedule(ctx, a.ID, sched); err != nil {
			return fmt.Errorf("app %s: payout schedule: %w", a.ID, err)
		}
	}
	return nil
}
