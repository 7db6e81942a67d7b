package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ledger"
)

// Cashing out, as new users would: an owner saves a card on the payouts
// tab (Stripe Checkout, played by the bank double); a creator with an
// available balance sets up a payout account (Express onboarding) and
// cashes out; the owner confirms the run; the creator sees the payout
// paid and the balance at zero, and the books balance. Then the owner
// switches to manual payouts and marks one paid with a reference.
func TestDashboardCashOut(t *testing.T) {
	ctx := context.Background()
	owner := tabFor(t, 3*time.Minute)
	stamp := time.Now().UnixNano()
	ownerEmail := fmt.Sprintf("payouts-owner-%d@example.com", stamp)
	key, appID := newOwnerApp(t, owner, ownerEmail, "Payout Shop", "30", chromedp.SetValue(`input[name=hold_amount]`, "0"))
	q := db.New(stack.DB.Pool)

	// The payouts tab: no card yet.
	do(t, owner, chromedp.Click(`a[href="/apps/`+appID+`/payouts"]`))
	at(t, owner, "/apps/"+appID+"/payouts")
	if m := text(t, owner, "#payment-method"); !strings.Contains(m, "Save a card") {
		t.Fatalf("payment method card: %s", m)
	}
	shot(t, owner, "p01-payouts-empty")
	do(t, owner, chromedp.Click(`#payment-method button`))
	at(t, owner, "/apps/"+appID+"/payouts")
	eventually(t, "the saved card shows", func() bool {
		if strings.Contains(textNow(owner, "main"), "visa •••• 4242") {
			return true
		}
		loc, _ := chromedp.Run(owner, chromedp.Location())
		requests.mu.Lock()
		t.Logf("at %s: requests %v", loc, requests.seen[max(0, len(requests.seen)-6):])
		requests.mu.Unlock()
		return false
	})
	shot(t, owner, "p02-card-saved")
	// Creators cash out from 10.00 on.
	do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/setup"), chromedp.SetValue(`input[name=min_payout]`, "10"),
		chromedp.Click(`#settings button[type=submit]`))
	eventually(t, "the minimum payout saved", func() bool { return strings.Contains(textNow(owner, `main`), "Settings saved") })

	// A creator joins and earns 28.50, available at once (no hold).
	creator := tabFor(t, 3*time.Minute)
	creatorEmail := fmt.Sprintf("payouts-creator-%d@example.com", stamp)
	ref := joinProgram(t, creator, appID, creatorEmail)
	report(t, key, ref, 10000)
	eventually(t, "the commission is available", func() bool {
		do(t, creator, chromedp.Navigate(apiURL+"/dashboard"))
		return textNow(creator, `#program-`+appID+` [data-balance=available]`) == "$28.50"
	})
	// Without a payout account the creator is told why they cannot cash out.
	if why := text(t, creator, `#program-`+appID+` [data-cash-out]`); !strings.Contains(why, "payout account") {
		t.Fatalf("cash out without an account: %q", why)
	}
	shot(t, creator, "p03-creator-no-account")
	do(t, creator, chromedp.Click(`#payout-account button`))
	at(t, creator, "/dashboard")
	eventually(t, "the payout account is ready", func() bool {
		return textNow(creator, `[data-payout-account]`) == "Ready for payouts"
	})
	shot(t, creator, "p04-creator-account-ready")
	do(t, creator, chromedp.Click(`form[action="/programs/`+appID+`/cash-out"] button`))
	eventually(t, "cash out requested", func() bool { return strings.Contains(textNow(creator, "main"), "Cash out requested") })
	// The page the creator lands on already shows the reservation, with
	// no reload: nothing available, the amount in payout, no button.
	if in, avail := text(t, creator, `#program-`+appID+` [data-balance=in_payout]`), text(t, creator, `#program-`+appID+` [data-balance=available]`); in != "$28.50" || avail != "$0.00" {
		t.Fatalf("the page after Cash out shows %s available and %s in payout", avail, in)
	}
	if has(creator, `form[action="/programs/`+appID+`/cash-out"]`) {
		t.Fatal("the page after Cash out still offers Cash out")
	}
	if st := text(t, creator, `#program-`+appID+` [data-payout-status]`); st != "Reserved" {
		t.Fatalf("the creator's payout: %q", st)
	}
	shot(t, creator, "p05-creator-cash-out-requested")

	// The owner sees the run awaiting confirmation, with what the card is charged.
	eventually(t, "the run awaits the owner", func() bool {
		do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/payouts"))
		return has(owner, `[data-run-status=awaiting_confirmation]`)
	})
	if c := text(t, owner, `[data-charge]`); c != "$30.00" {
		t.Fatalf("the charge shown before confirming: %q (28.50 net + 1.50 fee)", c)
	}
	shot(t, owner, "p06-run-awaiting")
	do(t, owner, chromedp.Click(`form[action$="/confirm"] button`))
	eventually(t, "confirmed", func() bool { return strings.Contains(textNow(owner, "main"), "Confirmed") })
	eventually(t, "the run completes", func() bool {
		do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/payouts"))
		return has(owner, `[data-run-status=completed]`)
	})
	shot(t, owner, "p07-run-completed")
	eventually(t, "the creator sees the payout paid", func() bool {
		do(t, creator, chromedp.Navigate(apiURL+"/dashboard"))
		return textNow(creator, `#program-`+appID+` [data-payout-status]`) == "Paid" &&
			textNow(creator, `#program-`+appID+` [data-balance=paid]`) == "$28.50" &&
			textNow(creator, `#program-`+appID+` [data-balance=available]`) == "$0.00" &&
			textNow(creator, `#program-`+appID+` [data-balance=in_payout]`) == "$0.00"
	})
	shot(t, creator, "p08-creator-paid")
	do(t, creator, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(apiURL+"/dashboard"))
	shot(t, creator, "p09-creator-paid-phone")
	// The finished account opens its Express dashboard.
	do(t, creator, chromedp.Click(`form[action="/payout-account/dashboard"] button`))
	eventually(t, "the Express dashboard opens", func() bool { return strings.Contains(textNow(creator, "h1"), "Express dashboard of acct_") })

	// Manual payouts: the owner pays the next earnings themselves.
	do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/payouts"),
		chromedp.Click(`input[name=mode][value=manual]`),
		chromedp.Click(`#payout-settings button[type=submit]`))
	eventually(t, "manual mode saved", func() bool { return strings.Contains(textNow(owner, "main"), "Payout settings saved") })
	if _, err := stack.DB.Pool.Exec(ctx, "UPDATE apps SET min_payout_cents = 100 WHERE id = $1", appID); err != nil {
		t.Fatal(err)
	}
	report(t, key, ref, 2000)
	eventually(t, "the second commission is available", func() bool {
		b, err := q.GetCreatorBalance(ctx, db.GetCreatorBalanceParams{AppID: appID, CreatorID: creatorOf(t, appID)})
		return err == nil && b.AvailableCents == 570
	})
	do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/payouts"), chromedp.Click(`form[action$="/payouts/run"] button`))
	eventually(t, "run started", func() bool { return strings.Contains(textNow(owner, "main"), "A payout run started") })
	eventually(t, "the manual run awaits the owner", func() bool {
		do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/payouts"))
		return has(owner, `[data-run-status=awaiting_confirmation]`)
	})
	do(t, owner, chromedp.Click(`form[action$="/confirm"] button`))
	eventually(t, "manual run confirmed", func() bool { return strings.Contains(textNow(owner, "main"), "Confirmed") })
	// The run moves on to awaiting payment after the confirmation is
	// accepted; the page shows it once reloaded.
	eventually(t, "the payout awaits the owner's payment", func() bool {
		do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/payouts"))
		return has(owner, `[data-run-status=awaiting_payment]`)
	})
	csv := eval[string](t, owner, `(async () => { const a = document.querySelector('a[href$="/export.csv"]'); const r = await fetch(a.href); return r.status + "\n" + await r.text(); })()`)
	if !strings.HasPrefix(csv, "200\npayout_id,creator_id,email,amount,currency,status") || !strings.Contains(csv, creatorEmail+",5.70,USD,awaiting_payment") {
		t.Fatalf("the CSV for payment:\n%s", csv)
	}
	shot(t, owner, "p10-manual-awaiting-payment")
	do(t, owner, chromedp.SendKeys(`input[name=reference]`, "PayPal 9F2"), chromedp.Click(`form[action$="/paid"] button`))
	eventually(t, "the manual payout is paid", func() bool {
		return strings.Contains(textNow(owner, "main"), "The payout is marked") && has(owner, `[data-run-status=completed]`)
	})
	shot(t, owner, "p11-manual-paid")
	eventually(t, "the creator sees the manual payout", func() bool {
		do(t, creator, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(apiURL+"/dashboard"))
		return textNow(creator, `#program-`+appID+` [data-balance=paid]`) == "$34.20" && strings.Contains(textNow(creator, `#program-`+appID), "ref PayPal 9F2")
	})
	bad, err := ledger.Check(ctx, q)
	if err != nil || len(bad) > 0 {
		t.Fatalf("the books: %v %v", err, bad)
	}
}

// has says whether the page has an element now, without waiting for one.
func has(ctx context.Context, sel string) bool {
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("!!document.querySelector(%q)", sel)))
	return err == nil && ok
}

func ownerID(t *testing.T, email string) *string {
	t.Helper()
	u, err := db.New(stack.DB.Pool).GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return &u.ID
}

func creatorOf(t *testing.T, appID string) string {
	t.Helper()
	ref, err := db.New(stack.DB.Pool).FirstRefCode(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	row, err := db.New(stack.DB.Pool).GetRefCode(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return row.RefCode.CreatorID
}

// report is the app's backend reporting a purchase with its secret key.
func report(t *testing.T, key, ref string, amount int64) {
	t.Helper()
	status, body := post(t, "/api/track/conversion", key, fmt.Sprintf(`{"ref":%q,"user_id":"u%d","amount_cents":%d}`, ref, time.Now().UnixNano(), amount))
	if status != 201 {
		t.Fatalf("conversion: %d %s", status, body)
	}
}

func post(t *testing.T, path, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", apiURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// newOwnerApp signs a new owner up in tab and creates an app with the
// name and commission percent, and more of the form's fields when given;
// it returns the app's secret key (shown once) and its id.
func newOwnerApp(t *testing.T, tab context.Context, email, name, percent string, more ...chromedp.Action[chromedp.Void]) (key, appID string) {
	t.Helper()
	do(t, tab, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(apiURL+"/signup"),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, "owner password"),
		chromedp.Click(`main button[type=submit]`))
	at(t, tab, "/dashboard")
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(apiURL + "/apps/new"),
		chromedp.SendKeys(`input[name=name]`, name), chromedp.SetValue(`input[name=commission_percent]`, percent)}
	steps = append(append(steps, more...), chromedp.Click(`main button[type=submit]`), chromedp.WaitVisible(`#new-key`))
	do(t, tab, steps...)
	key, err := chromedp.Run(tab, chromedp.Value(`#new-key`))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := db.New(stack.DB.Pool).ListOwnedApps(context.Background(), ownerID(t, email))
	if err != nil || len(apps) != 1 {
		t.Fatalf("the owner's app: %v %v", apps, err)
	}
	return key, apps[0].ID
}

// joinProgram signs a new creator up in tab from the app's join page and
// joins its program; it returns the creator's ref code.
func joinProgram(t *testing.T, tab context.Context, appID, email string) string {
	t.Helper()
	do(t, tab, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(apiURL+"/join/"+appID),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, "creator password"),
		chromedp.Click(`main button[type=submit]`))
	at(t, tab, "/dashboard")
	ref, err := db.New(stack.DB.Pool).FirstRefCode(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
