package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/payout"
)

// Without Stripe keys (AgentLinks as make dev runs it) a new program pays
// its creators itself, the Stripe-only controls are shown disabled with
// one line on how to turn Stripe on, and no page ends in an error: not
// even a Connect Stripe posted by hand.
func TestDashboardWithoutStripe(t *testing.T) {
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			owner := tabFor(t, 2*time.Minute)
			email := fmt.Sprintf("plain-owner-%d-%d@example.com", width, time.Now().UnixNano())
			do(t, owner, chromedp.EmulateViewport(width, 900), chromedp.Navigate(plainURL+"/signup"),
				chromedp.SendKeys(`input[name=email]`, email),
				chromedp.SendKeys(`input[name=password]`, "owner password"),
				chromedp.Click(`main button[type=submit]`))
			at(t, owner, "/dashboard")
			do(t, owner, chromedp.Navigate(plainURL+"/apps/new"),
				chromedp.SendKeys(`input[name=name]`, "Plain shop"),
				chromedp.Click(`main button[type=submit]`), chromedp.WaitVisible(`#new-key`))
			apps, err := db.New(stack.DB.Pool).ListOwnedApps(context.Background(), ownerID(t, email))
			if err != nil || len(apps) != 1 {
				t.Fatalf("the owner's app: %v %v", apps, err)
			}
			app := apps[0]
			if app.PayoutMode != payout.ModeManual {
				t.Fatalf("a new program without Stripe pays through %q", app.PayoutMode)
			}

			// Setup: Connect Stripe is shown disabled, with the line.
			if !eval[bool](t, owner, `document.querySelector('#stripe button').disabled`) || !has(owner, `#stripe [data-stripe-off]`) ||
				has(owner, `form[action$="/stripe/connect"]`) {
				t.Fatalf("the setup page's Stripe card:\n%s", text(t, owner, `#stripe`))
			}
			shot(t, owner, fmt.Sprintf("stripe-off-setup-%d", width))
			// Posted by hand anyway, it is said on the setup page.
			eval[bool](t, owner, `(() => { const f = document.createElement('form'); f.method = 'post';
				f.action = location.pathname.replace(/setup$/, 'stripe/connect'); document.body.appendChild(f); f.submit(); return true; })()`)
			eventually(t, "the refused connect shown on the setup page", func() bool {
				return strings.Contains(textNow(owner, `main`), "Stripe cannot be connected yet") && has(owner, `#settings`)
			})

			// Payouts: manual is chosen; paying through AgentLinks is
			// disabled, with the line; no card to add.
			do(t, owner, chromedp.Navigate(plainURL+"/apps/"+app.ID+"/payouts"), chromedp.WaitVisible(`#payout-settings`))
			if !eval[bool](t, owner, `document.querySelector('input[name=mode][value=manual]').checked`) ||
				!eval[bool](t, owner, `document.querySelector('input[name=mode][value=stripe]').disabled`) ||
				!has(owner, `#payout-settings [data-stripe-off]`) || has(owner, `#payment-method`) {
				t.Fatalf("the payouts tab without Stripe:\n%s", text(t, owner, `#payout-settings`))
			}
			shot(t, owner, fmt.Sprintf("stripe-off-payouts-%d", width))
			// Saving the settings keeps manual payouts.
			do(t, owner, chromedp.Click(`#payout-settings button[type=submit]`))
			eventually(t, "payout settings saved", func() bool { return strings.Contains(textNow(owner, `main`), "Payout settings saved") })
			if got, _ := db.New(stack.DB.Pool).GetApp(context.Background(), app.ID); got.PayoutMode != payout.ModeManual {
				t.Fatalf("saved as %q", got.PayoutMode)
			}

			// A creator who joins sees no Set up payouts.
			creator := tabFor(t, time.Minute)
			do(t, creator, chromedp.EmulateViewport(width, 900), chromedp.Navigate(plainURL+"/join/"+app.ID),
				chromedp.SendKeys(`input[name=email]`, "creator-"+email),
				chromedp.SendKeys(`input[name=password]`, "creator password"),
				chromedp.Click(`main button[type=submit]`))
			at(t, creator, "/dashboard")
			if has(creator, `#payout-account`) || has(creator, `form[action="/payout-account/onboard"]`) {
				t.Fatalf("the creator is asked to set up Stripe payouts:\n%s", text(t, creator, `main`))
			}
			shot(t, creator, fmt.Sprintf("stripe-off-creator-%d", width))
		})
	}
}
