package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/agentlinks/agentlinks/db"
)

// The README's five-minute story, as a new user follows it, on AgentLinks
// without Stripe (as make dev runs it), at desktop width and on a phone:
// an owner signs up and creates an app with a one-minute hold and a
// minimum payout of 5, allows the demo shop, a creator joins from the
// invite link, a customer follows the ref link, signs up on the shop and
// buys; the owner's Overview and the creator's dashboard show it, the hold
// ends, the creator cashes out, the owner confirms the run and marks the
// payout paid, and the creator sees it paid. Every page is screenshotted.
func TestREADMEStory(t *testing.T) {
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			t.Parallel()
			story(t, width)
		})
	}
}

func story(t *testing.T, width int64) {
	name := func(n string) string { return fmt.Sprintf("story-%d-%s", width, n) }
	view := chromedp.EmulateViewport(width, 900)
	if width < 500 {
		view = chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile)
	}

	// 1. The owner signs up and creates an app: 30%, a one-minute hold,
	// a minimum payout of 5.
	owner := tabFor(t, 4*time.Minute)
	email := fmt.Sprintf("story-%d-%d@example.com", width, time.Now().UnixNano())
	do(t, owner, view, chromedp.Navigate(plainURL+"/signup"))
	shot(t, owner, name("01-signup"))
	do(t, owner, chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, "owner password"),
		chromedp.Click(`main button[type=submit]`))
	at(t, owner, "/dashboard")
	do(t, owner, chromedp.Click(`a[href="/apps/new"]`))
	at(t, owner, "/apps/new")
	do(t, owner, chromedp.SendKeys(`input[name=name]`, "Demo"),
		chromedp.SetValue(`input[name=commission_percent]`, "30"),
		chromedp.SetValue(`input[name=hold_amount]`, "1"),
		chromedp.SetValue(`select[name=hold_unit]`, "minutes"),
		chromedp.SetValue(`input[name=min_payout]`, "5"))
	shot(t, owner, name("02-create-app"))
	do(t, owner, chromedp.Click(`main button[type=submit]`), chromedp.WaitVisible(`#new-key`))
	key, err := chromedp.Run(owner, chromedp.Value(`#new-key`))
	if err != nil || !strings.HasPrefix(key, "sk_") {
		t.Fatalf("the secret key shown once: %q %v", key, err)
	}
	apps, err := db.New(stack.DB.Pool).ListOwnedApps(context.Background(), ownerID(t, email))
	if err != nil || len(apps) != 1 || apps[0].HoldSeconds != 60 || apps[0].MinPayoutCents != 500 || apps[0].PayoutMode != "manual" {
		t.Fatalf("the app made by the story: %+v %v", apps, err)
	}
	appID := apps[0].ID
	shot(t, owner, name("03-app-created"))

	// 2-3. The demo shop runs with the app's id and key; its address is
	// the app's allowed origin.
	site := shopOn(t, plainURL, appID, fmt.Sprintf("www.story%d.agentlinks.test", width), key)
	do(t, owner, chromedp.SetValue(`textarea[name=allowed_origins]`, site), chromedp.Click(`#settings button[type=submit]`))
	eventually(t, "the allowed origin saved", func() bool { return strings.Contains(textNow(owner, `main`), "Settings saved") })
	shot(t, owner, name("04-setup-saved"))

	// 4. The creator opens the invite link, signs up and copies the link.
	join, err := chromedp.Run(owner, chromedp.Value(`#join-link`))
	if err != nil || join != plainURL+"/join/"+appID {
		t.Fatalf("the invite link: %q %v", join, err)
	}
	creator := tabFor(t, 4*time.Minute)
	// The creator reads times in their own zone.
	if _, err := chromedp.Run(creator, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
	}); err != nil {
		t.Fatal(err)
	}
	do(t, creator, view, chromedp.Navigate(join))
	shot(t, creator, name("05-join"))
	do(t, creator, chromedp.SendKeys(`input[name=email]`, "creator-"+email),
		chromedp.SendKeys(`input[name=password]`, "creator password"),
		chromedp.Click(`main button[type=submit]`))
	at(t, creator, "/dashboard")
	link, err := chromedp.Run(creator, chromedp.Value(`#program-`+appID+` input[readonly]`))
	if err != nil || !strings.HasPrefix(link, site+"/?ref=") {
		t.Fatalf("the creator's ref link: %q %v", link, err)
	}
	shot(t, creator, name("06-creator-joined"))

	// 5. The customer follows the link, signs up on the shop, buys.
	customer := tabFor(t, time.Minute)
	do(t, customer, view, chromedp.Navigate(link), loaded(customer))
	do(t, customer, chromedp.Navigate(site+"/signup"), loaded(customer),
		chromedp.SendKeys(`#email`, "customer@example.com"),
		chromedp.Click(`button[type=submit]`), chromedp.WaitVisible(`#result[data-done]`))
	if got := eval[string](t, customer, `document.getElementById("result").textContent`); !strings.HasPrefix(got, "referral ") {
		t.Fatalf("the shop's signup: %s", got)
	}
	// The shop says where to go next: Pricing, which buys as the user
	// who just signed up.
	if href := eval[string](t, customer, `document.querySelector('#next:not([hidden]) a').href`); href != site+"/pricing" {
		t.Fatalf("after signup the shop leads to %q", href)
	}
	do(t, customer, chromedp.Navigate(site+"/pricing"), loaded(customer), chromedp.WaitVisible(`#buy`))
	do(t, customer, chromedp.Click(`#buy`), chromedp.WaitVisible(`#result[data-done]`))
	if got := eval[string](t, customer, `document.getElementById("result").textContent`); !strings.Contains(got, `"net_commission_cents":712`) {
		t.Fatalf("the purchase: %s", got)
	}

	// 6. Within seconds the owner's Overview shows the click, the signup
	// and the conversion; the creator sees $7.12 pending, and when (in
	// their own zone) it becomes available.
	overviewShowsOneSale(t, owner, plainURL+"/apps/"+appID)
	// Where the $7.50 goes: the fee and the creator's net, and the rule
	// on a round sale.
	if fee, net := text(t, owner, `[data-total=fee]`), text(t, owner, `[data-total=net]`); fee != "$0.38" || net != "$7.12" {
		t.Fatalf("the Overview splits $7.50 into a fee of %s and %s to creators", fee, net)
	}
	if ex := text(t, owner, `[data-fee-example]`); !strings.Contains(ex, "On a $100.00 sale at 30%: $30.00 commission, $1.50 AgentLinks fee, $28.50 to the creator") {
		t.Fatalf("the Overview's fee line: %s", ex)
	}
	if fee, net := text(t, owner, `td[data-label=Fee]`), text(t, owner, `td[data-label="Creator gets"]`); fee != "$0.38" || net != "$7.12" {
		t.Fatalf("the conversion's row: fee %s, creator gets %s", fee, net)
	}
	shot(t, owner, name("07-overview"))
	eventually(t, "the creator sees $7.12 pending", func() bool {
		do(t, creator, chromedp.Navigate(plainURL+"/dashboard"))
		return textNow(creator, `#program-`+appID+` [data-balance=pending]`) == "$7.12"
	})
	var availableAt time.Time
	if err := stack.DB.Pool.QueryRow(context.Background(), "SELECT available_at FROM conversions WHERE app_id = $1", appID).Scan(&availableAt); err != nil {
		t.Fatalf("the story's conversion: %v", err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	shown := text(t, creator, `#program-`+appID+` time[data-local]`)
	if want := availableAt.In(tokyo).Format("03:04 PM"); !strings.Contains(shown, want) || !strings.Contains(shown, "GMT+9") {
		t.Fatalf("available on %q, want the time %s in the creator's zone (GMT+9)", shown, want)
	}
	shot(t, creator, name("08-creator-pending"))

	// 7. The hold ends: the creator cashes out, and the page shows it.
	deadline := time.Now().Add(2 * time.Minute)
	for textNow(creator, `#program-`+appID+` [data-balance=available]`) != "$7.12" {
		if time.Now().After(deadline) {
			t.Fatalf("the commission is not available after the one-minute hold:\n%s", textNow(creator, `main`))
		}
		time.Sleep(2 * time.Second)
		do(t, creator, chromedp.Navigate(plainURL+"/dashboard"))
	}
	shot(t, creator, name("09-creator-available"))
	do(t, creator, chromedp.Click(`form[action="/programs/`+appID+`/cash-out"] button`))
	eventually(t, "cash out requested", func() bool { return strings.Contains(textNow(creator, `main`), "Cash out requested") })
	if got := text(t, creator, `#program-`+appID+` [data-balance=in_payout]`); got != "$7.12" {
		t.Fatalf("after Cash out, in payout shows %s", got)
	}
	shot(t, creator, name("10-creator-cashed-out"))

	// 8. The owner confirms the run and pays the creator their way, then
	// marks the payout paid; the creator sees it paid.
	eventually(t, "the run awaits the owner", func() bool {
		do(t, owner, chromedp.Navigate(plainURL+"/apps/"+appID+"/payouts"))
		return has(owner, `[data-run-status=awaiting_confirmation]`)
	})
	shot(t, owner, name("11-run-awaiting"))
	do(t, owner, chromedp.Click(`form[action$="/confirm"] button`))
	eventually(t, "confirmed", func() bool { return strings.Contains(textNow(owner, `main`), "Confirmed") })
	eventually(t, "the payout awaits the owner's payment", func() bool {
		do(t, owner, chromedp.Navigate(plainURL+"/apps/"+appID+"/payouts"))
		return has(owner, `[data-payout-status=awaiting_payment]`) && has(owner, `form[action$="/paid"]`)
	})
	shot(t, owner, name("12-awaiting-payment"))
	do(t, owner, chromedp.SendKeys(`form[action$="/paid"] input[name=reference]`, "bank transfer 42"),
		chromedp.Click(`form[action$="/paid"] button`))
	eventually(t, "the owner sees the payout paid", func() bool { return has(owner, `[data-payout-status=paid]`) })
	shot(t, owner, name("13-paid"))
	do(t, creator, chromedp.Navigate(plainURL+"/dashboard"))
	if st, paid := text(t, creator, `#program-`+appID+` [data-payout-status]`), text(t, creator, `#program-`+appID+` [data-balance=paid]`); st != "Paid" || paid != "$7.12" {
		t.Fatalf("the creator's payout is %q, paid %s", st, paid)
	}
	shot(t, creator, name("14-creator-paid"))
}
