package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/payout"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/service"
)

func appsCreate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("apps create", stdout)
	name := c.fs.String("name", "", "the app's name (required)")
	percent := c.fs.String("commission-percent", "", "commission percent, e.g. 30 or 12.5 (required)")
	hold := c.fs.Duration("hold-period", programs.DefaultHold, "refund window before commissions become available")
	keyless := c.fs.Bool("keyless-conversions", false, "accept conversions and refunds without the secret key (the guide's public mode)")
	currency := c.fs.String("currency", "usd", "the program's currency")
	cookieDays := c.fs.Int("cookie-days", 60, "how long the ref cookie lasts")
	owner := c.fs.String("owner", "", "the email of the account that owns the app on the dashboard")
	pay := addPayoutFlags(c)
	if err := c.parse(args, "name", "commission-percent"); err != nil {
		return err
	}
	bps, err := commission.ParsePercent(*percent)
	if err != nil {
		return usageError{"apps create: --commission-percent: " + err.Error()}
	}
	return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
		var ownerID string
		if *owner != "" {
			u, err := db.New(pool).GetUserByEmail(ctx, *owner)
			if err != nil {
				return fmt.Errorf("apps create: --owner %s: no account has this email (agentlinks users create makes one)", *owner)
			}
			ownerID = u.ID
		}
		// Without Stripe a program pays its creators itself (the flag may
		// still choose, and is checked when applied below).
		mode := ""
		if !cfg.Stripe.PayoutsOn() {
			mode = payout.ModeManual
		}
		created, err := programs.CreateApp(ctx, pool, programs.NewApp{
			Name: *name, CommissionBPS: bps, Hold: *hold, Currency: *currency,
			CookieDays: int32(*cookieDays), KeylessConversions: *keyless, OwnerID: ownerID, PayoutMode: mode,
		})
		if err != nil {
			return err
		}
		out := map[string]any{
			"app_id": created.App.ID, "secret_key": created.SecretKey,
			"commission_percent": *percent, "hold_period": (time.Duration(created.App.HoldSeconds) * time.Second).String(),
			"keyless_conversions": created.App.KeylessConversions, "owner_id": created.App.OwnerID,
			"payout_mode": created.App.PayoutMode, "min_payout_cents": created.App.MinPayoutCents,
		}
		if pay.set() {
			settings, err := applyPayouts(ctx, cfg, *pay.schedule != "", func(svc *service.Service) (map[string]any, error) {
				return pay.apply(ctx, svc, created.App.ID)
			})
			if err != nil {
				return fmt.Errorf("app %s is created, but its payout settings are not: %w", created.App.ID, err)
			}
			maps.Copy(out, settings)
		}
		return c.print(out, fmt.Sprintf("app_id:     %s\nsecret_key: %s   (shown once: store it now)\n", created.App.ID, created.SecretKey))
	})
}

func appsUpdate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("apps update", stdout)
	app := c.fs.String("app", "", "the app id (required)")
	var origins stringsFlag
	c.fs.Var(&origins, "allowed-origin", "a site whose pages may call the tracking API (repeatable; replaces the list)")
	clear := c.fs.Bool("clear-allowed-origins", false, "allow no site")
	pay := addPayoutFlags(c)
	if err := c.parse(args, "app"); err != nil {
		return err
	}
	if len(origins) == 0 && !*clear && !pay.set() {
		return usageError{"apps update: say what changes: --allowed-origin (or --clear-allowed-origins), or a payout flag"}
	}
	out := map[string]any{"app_id": *app}
	var text strings.Builder
	fmt.Fprintf(&text, "app_id:          %s\n", *app)
	if len(origins) > 0 || *clear {
		err := withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
			updated, err := programs.SetAllowedOrigins(ctx, pool, *app, origins)
			if err != nil {
				return err
			}
			out["allowed_origins"] = updated.AllowedOrigins
			fmt.Fprintf(&text, "allowed_origins: %v\n", updated.AllowedOrigins)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if pay.set() {
		settings, err := applyPayouts(ctx, cfg, *pay.schedule != "", func(svc *service.Service) (map[string]any, error) {
			return pay.apply(ctx, svc, *app)
		})
		if err != nil {
			return err
		}
		maps.Copy(out, settings)
		fmt.Fprintf(&text, "payouts:         %s, minimum %d cents, schedule %q, auto-confirm %t\n",
			settings["payout_mode"], settings["min_payout_cents"], settings["payout_schedule"], settings["payout_auto_confirm"])
	}
	return c.print(out, text.String())
}

// applyPayouts sets payout settings through a service that reaches
// Temporal when a schedule changes, and the database alone otherwise.
func applyPayouts(ctx context.Context, cfg config.Config, schedule bool, f func(*service.Service) (map[string]any, error)) (map[string]any, error) {
	var out map[string]any
	with := withPoolService
	if schedule {
		with = withService
	}
	err := with(ctx, cfg, func(svc *service.Service) error {
		var err error
		out, err = f(svc)
		return err
	})
	return out, err
}

func appsConnectStripe(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("apps connect-stripe", stdout)
	app := c.fs.String("app", "", "the app id (required)")
	account := c.fs.String("account", "", "the Stripe account id, acct_… (required)")
	if err := c.parse(args, "app", "account"); err != nil {
		return err
	}
	return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
		if err := programs.ConnectStripe(ctx, pool, *app, *account); err != nil {
			return err
		}
		return c.print(map[string]any{"app_id": *app, "stripe_account_id": *account, "connected": true},
			fmt.Sprintf("app %s is connected to Stripe account %s\n", *app, *account))
	})
}

func creatorsCreate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("creators create", stdout)
	app := c.fs.String("app", "", "the app id (required)")
	email := c.fs.String("email", "", "the creator's email (required)")
	if err := c.parse(args, "app", "email"); err != nil {
		return err
	}
	return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
		e, err := programs.Enroll(ctx, pool, *app, *email)
		if err != nil {
			return err
		}
		return c.print(map[string]string{"creator_id": e.CreatorID, "ref": e.RefCode},
			fmt.Sprintf("creator_id: %s\nref:        %s\n", e.CreatorID, e.RefCode))
	})
}
