package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Signing up or logging in from a program's join page joins the program
// in the same step; a refusal keeps the program, what was typed and the
// right form: an email that has an account is asked to log in there.
func TestJoinInOneStep(t *testing.T) {
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			owner := tabFor(t, time.Minute)
			ownerEmail := fmt.Sprintf("join-owner-%d-%d@example.com", width, time.Now().UnixNano())
			_, appID := newOwnerApp(t, owner, ownerEmail, "Join shop", "20")
			email := "join-" + ownerEmail

			// A new creator: one form, and they are in.
			first := tabFor(t, time.Minute)
			do(t, first, chromedp.EmulateViewport(width, 900), chromedp.Navigate(apiURL+"/join/"+appID))
			shot(t, first, fmt.Sprintf("join-signup-%d", width))
			do(t, first, chromedp.SendKeys(`input[name=email]`, email),
				chromedp.SendKeys(`input[name=password]`, "creator password"),
				chromedp.Click(`main button[type=submit]`))
			at(t, first, "/dashboard")
			if !has(first, `#program-`+appID) || !strings.Contains(text(t, first, `main`), "You joined the program") {
				t.Fatalf("signed up from the join page, the creator is not in the program:\n%s", text(t, first, `main`))
			}

			// The same email again, in another browser: the join page asks
			// them to log in, with the email kept; a wrong password keeps
			// the program too; the right one joins (already a member: the
			// same link).
			again := tabFor(t, time.Minute)
			do(t, again, chromedp.EmulateViewport(width, 900), chromedp.Navigate(apiURL+"/join/"+appID),
				chromedp.SendKeys(`input[name=email]`, email),
				chromedp.SendKeys(`input[name=password]`, "another password"),
				chromedp.Click(`main button[type=submit]`),
				chromedp.WaitVisible(`form[action="/login"] button`))
			if m := text(t, again, `main`); !strings.Contains(m, "Join Join shop") || !strings.Contains(m, "already have an account") ||
				eval[string](t, again, `document.querySelector('input[name=email]').value`) != email {
				t.Fatalf("an email with an account, from the join page:\n%s", m)
			}
			shot(t, again, fmt.Sprintf("join-email-taken-%d", width))
			do(t, again, chromedp.SendKeys(`input[name=password]`, "wrong password"), chromedp.Click(`main button[type=submit]`))
			eventually(t, "a wrong password said on the join page", func() bool {
				m := textNow(again, `main`)
				return strings.Contains(m, "Join Join shop") && strings.Contains(m, "not right")
			})
			do(t, again, chromedp.SendKeys(`input[name=password]`, "creator password"), chromedp.Click(`main button[type=submit]`))
			at(t, again, "/dashboard")
			if !has(again, `#program-`+appID) {
				t.Fatalf("logged in from the join page, the creator sees no program:\n%s", text(t, again, `main`))
			}
			shot(t, again, fmt.Sprintf("join-logged-in-%d", width))
		})
	}
}
