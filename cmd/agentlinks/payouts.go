package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/service"
)

// The operator's payout commands: runs now, their payouts, manual
// payouts marked, and the accounts money moves through.

// payoutFlags are the payout settings apps create and update take.
type payoutFlags struct {
	mode, schedule, autoConfirm *string
	min                         *int64
}

func addPayoutFlags(c *command) payoutFlags {
	return payoutFlags{
		mode:        c.fs.String("payout-mode", "", "stripe (AgentLinks charges the app and pays creators) or manual (the app pays them)"),
		schedule:    c.fs.String("payout-schedule", "", "monthly:D, every:N (days) or off"),
		autoConfirm: c.fs.String("auto-confirm", "", "true: runs need no owner confirmation"),
		min:         c.fs.Int64("min-payout-cents", -1, "a creator is paid from this balance on"),
	}
}

func (p payoutFlags) set() bool {
	return *p.mode != "" || *p.schedule != "" || *p.autoConfirm != "" || *p.min >= 0
}

// apply sets what the flags name on the app, keeping the rest.
func (p payoutFlags) apply(ctx context.Context, svc *service.Service, appID string) (map[string]any, error) {
	app, err := svc.Q.GetApp(ctx, appID)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", appID, err)
	}
	in := service.PayoutSettings{Mode: app.PayoutMode, AutoConfirm: app.PayoutAutoConfirm, Schedule: app.PayoutSchedule, MinPayoutCents: app.MinPayoutCents}
	if *p.mode != "" {
		in.Mode = *p.mode
	}
	if *p.schedule != "" {
		in.Schedule = strings.TrimSpace(*p.schedule)
		if in.Schedule == "off" {
			in.Schedule = ""
		}
	}
	switch *p.autoConfirm {
	case "":
	case "true", "false":
		in.AutoConfirm = *p.autoConfirm == "true"
	default:
		return nil, usageError{"--auto-confirm is true or false"}
	}
	if *p.min >= 0 {
		in.MinPayoutCents = *p.min
	}
	app, err = svc.SetPayoutSettings(ctx, appID, in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"payout_mode": app.PayoutMode, "payout_schedule": app.PayoutSchedule,
		"payout_auto_confirm": app.PayoutAutoConfirm, "min_payout_cents": app.MinPayoutCents}, nil
}

// payoutsRun starts a run now, waits for its reservation, and with
// --confirm confirms it and waits for it to end.
func payoutsRun(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("payouts run", stdout)
	app := c.fs.String("app", "", "the app id (required)")
	confirm := c.fs.Bool("confirm", false, "confirm the run (as the owner would) and wait for it to end")
	wait := c.fs.Duration("wait", 2*time.Minute, "how long to wait for the run")
	if err := c.parse(args, "app"); err != nil {
		return err
	}
	return withService(ctx, cfg, func(svc *service.Service) error {
		ctx, cancel := context.WithTimeout(ctx, *wait)
		defer cancel()
		id, err := svc.StartPayoutRun(ctx, *app, payout.TriggerOperator)
		if err != nil {
			return err
		}
		run, err := reserved(ctx, svc, *app, id)
		if err != nil {
			return err
		}
		if *confirm && run.Status == payout.RunAwaitingConfirmation {
			if err := svc.DecidePayoutRun(ctx, *app, id, true, payout.Decision{By: "operator"}); err != nil {
				return err
			}
		}
		if *confirm || run.Status == payout.RunEmpty {
			if run, err = svc.WaitPayoutRun(ctx, *app, id); err != nil {
				return err
			}
		}
		return c.print(runObject(run), runText(run))
	})
}

// reserved waits until the run's reservation is in the database.
func reserved(ctx context.Context, svc *service.Service, appID, id string) (service.Run, error) {
	for {
		run, err := svc.PayoutRun(ctx, appID, id)
		if err == nil {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, fmt.Errorf("run %s did not reserve in time (is a worker running?): %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func payoutsList(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("payouts list", stdout)
	app := c.fs.String("app", "", "the app id (required)")
	limit := c.fs.Int("limit", 20, "how many runs, newest first")
	if err := c.parse(args, "app"); err != nil {
		return err
	}
	return withPoolService(ctx, cfg, func(svc *service.Service) error {
		runs, err := svc.PayoutRuns(ctx, *app, int32(*limit))
		if err != nil {
			return err
		}
		objs := make([]any, len(runs))
		var text strings.Builder
		for i, r := range runs {
			objs[i] = runObject(r)
			text.WriteString(runText(r))
		}
		if len(runs) == 0 {
			text.WriteString("no payout runs\n")
		}
		return c.print(map[string]any{"app_id": *app, "runs": objs}, text.String())
	})
}

// payoutsMark records a manual payout paid (with the reference) or failed
// (with the reason).
func payoutsMark(paid bool) func(context.Context, config.Config, []string, io.Writer) error {
	name, noteFlag := "payouts mark-paid", "reference"
	if !paid {
		name, noteFlag = "payouts mark-failed", "reason"
	}
	return func(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
		c := newCommand(name, stdout)
		id := c.fs.String("payout", "", "the payout id, po_… (required)")
		note := c.fs.String(noteFlag, "", "the payment reference, or why it failed (required)")
		if err := c.parse(args, "payout", noteFlag); err != nil {
			return err
		}
		return withPoolService(ctx, cfg, func(svc *service.Service) error {
			p, err := svc.Q.GetPayout(ctx, *id)
			if err != nil {
				return fmt.Errorf("%s: no payout %s", name, *id)
			}
			done, err := svc.MarkPayout(ctx, p.AppID, p.ID, paid, *note)
			if err != nil {
				return err
			}
			return c.print(map[string]any{"payout_id": done.ID, "status": done.Status, "reference": done.Reference,
				"failure_reason": done.FailureReason, "amount_cents": done.AmountCents},
				fmt.Sprintf("payout %s is %s\n", done.ID, done.Status))
		})
	}
}

// creatorsPayoutAccount links a creator to an Express account made
// elsewhere and reads its state from Stripe.
func creatorsPayoutAccount(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("creators payout-account", stdout)
	creator := c.fs.String("creator", "", "the creator id, cr_… (required)")
	acct := c.fs.String("account", "", "the Express account id, acct_… (required)")
	if err := c.parse(args, "creator", "account"); err != nil {
		return err
	}
	return withPoolService(ctx, cfg, func(svc *service.Service) error {
		if err := svc.SetCreatorPayoutAccount(ctx, *creator, *acct); err != nil {
			return err
		}
		cr, err := svc.Q.GetCreator(ctx, *creator)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"creator_id": cr.ID, "payout_account_id": acct, "transfers_active": cr.TransfersActive,
			"payouts_enabled": cr.PayoutsEnabled, "requirements_due": cr.RequirementsDue},
			fmt.Sprintf("creator %s is paid to %s (transfers active: %t)\n", cr.ID, *acct, cr.TransfersActive))
	})
}

// appsPaymentMethod sets the card a Stripe program's runs charge, saved
// at Stripe another way than the dashboard.
func appsPaymentMethod(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("apps payment-method", stdout)
	app := c.fs.String("app", "", "the app id (required)")
	customer := c.fs.String("customer", "", "the platform's Stripe customer for the app, cus_… (required)")
	pm := c.fs.String("payment-method", "", "the saved payment method, pm_… (required)")
	label := c.fs.String("label", "card", "how the dashboard names it")
	if err := c.parse(args, "app", "customer", "payment-method"); err != nil {
		return err
	}
	return withPoolService(ctx, cfg, func(svc *service.Service) error {
		a, err := svc.SetPaymentMethod(ctx, *app, *customer, *pm, *label)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"app_id": a.ID, "stripe_customer_id": customer, "payment_method_id": pm},
			fmt.Sprintf("app %s charges %s of %s\n", a.ID, *pm, *customer))
	})
}

// runObject is a run as the commands print it: the API's view, with its
// id also as run_id.
func runObject(r service.Run) any {
	return struct {
		RunID string `json:"run_id"`
		service.RunView
	}{r.ID, r.View()}
}

func runText(r service.Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: %s (%s), net %s + fee %s", r.ID, r.Status, r.Mode, commission.Decimal(r.NetCents), commission.Decimal(r.FeeCents))
	if r.FailureReason != "" {
		fmt.Fprintf(&b, ": %s", r.FailureReason)
	}
	b.WriteString("\n")
	for _, p := range r.Payouts {
		fmt.Fprintf(&b, "  %s  %-32s %12s %s  %s%s\n", p.ID, p.Email, commission.Decimal(p.AmountCents), p.Currency, p.Status, orBlank(" "+p.FailureReason))
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "  skipped %-32s %s\n", s.Email, s.Reason)
	}
	return b.String()
}

func orBlank(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s
}
