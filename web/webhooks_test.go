package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agentlinks/agentlinks/db"
)

// An owner adds a webhook endpoint on the Webhooks tab, copies its secret,
// sees the deliveries of a conversion (two refused attempts, then
// delivered), resends one and rotates the secret; a bad URL is refused
// with the reason and loses nothing typed. The API reference reads well.
func TestDashboardWebhooks(t *testing.T) {
	owner := tabFor(t, 3*time.Minute)
	stamp := time.Now().UnixNano()
	email := fmt.Sprintf("hooks-owner-%d@example.com", stamp)
	key, appID := newOwnerApp(t, owner, email, "Hook Shop", "20")

	// The receiver: refuses each event's first two tries, verifies the
	// signature with the secret the page shows.
	var mu sync.Mutex
	var secret string
	tries, verified := map[string]int{}, 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		tries[id]++
		if tries[id] <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if wh, err := standardwebhooks.NewWebhook(secret); err == nil && wh.Verify(body, r.Header) == nil {
			verified++
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()

	do(t, owner, chromedp.Click(`a[href="/apps/`+appID+`/webhooks"]`))
	at(t, owner, "/apps/"+appID+"/webhooks")
	if e := text(t, owner, "#endpoints"); !strings.Contains(e, "No endpoints yet") {
		t.Fatalf("empty endpoints: %s", e)
	}
	shot(t, owner, "w01-webhooks-empty")

	// A URL that is not one is refused with the reason; the form keeps it.
	do(t, owner, chromedp.SetValue(`#add-webhook input[name=url]`, "ftp://files.example.com/hooks"),
		chromedp.Click(`#add-webhook input[value="conversion.created"]`),
		chromedp.Click(`#add-webhook button[type=submit]`))
	eventually(t, "the bad URL refused", func() bool {
		return has(owner, `[role=alert]`) && strings.Contains(textNow(owner, `[role=alert]`), "https://")
	})
	if v, _ := chromedp.Run(owner, chromedp.Value(`#add-webhook input[name=url]`)); v != "ftp://files.example.com/hooks" {
		t.Fatalf("the refused form lost the URL: %q", v)
	}
	if !has(owner, `#add-webhook input[value="conversion.created"]:checked`) {
		t.Fatal("the refused form lost the ticked event")
	}
	shot(t, owner, "w02-webhook-refused")

	do(t, owner, chromedp.SetValue(`#add-webhook input[name=url]`, recv.URL+"/agentlinks"),
		chromedp.Click(`#add-webhook button[type=submit]`))
	eventually(t, "endpoint added", func() bool { return strings.Contains(textNow(owner, "main"), "Endpoint added") })
	do(t, owner, chromedp.Click(`[data-webhook] details summary`))
	s := text(t, owner, `[data-webhook-secret]`)
	if !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("secret shown: %q", s)
	}
	mu.Lock()
	secret = s
	mu.Unlock()
	if u := text(t, owner, `[data-webhook-url]`); u != recv.URL+"/agentlinks" {
		t.Fatalf("endpoint url: %q", u)
	}
	shot(t, owner, "w03-webhook-added")

	// A sale: its conversion.created is refused twice, then delivered.
	ref := joinProgram(t, tabFor(t, time.Minute), appID, fmt.Sprintf("hooks-creator-%d@example.com", stamp))
	report(t, key, ref, 5000)
	defer func() {
		if t.Failed() {
			ds, err := db.New(stack.DB.Pool).ListWebhookDeliveries(t.Context(), db.ListWebhookDeliveriesParams{AppID: appID, Limit: 10})
			t.Logf("deliveries: %+v %v; receiver tries %v", ds, err, tries)
			shot(t, owner, "w-failed")
		}
	}()
	eventually(t, "the delivery shows delivered after 3 attempts", func() bool {
		do(t, owner, chromedp.Navigate(apiURL+"/apps/"+appID+"/webhooks"))
		return has(owner, `[data-delivery-status]`) && // textNow waits for a missing one
			textNow(owner, `[data-delivery-status]`) == "delivered" && textNow(owner, `[data-delivery-attempts]`) == "3"
	})
	do(t, owner, chromedp.Click(`[data-delivery] details summary`))
	if log := text(t, owner, `[data-delivery] ol`); strings.Count(log, ": 503") != 2 || strings.Count(log, ": 200") != 1 {
		t.Fatalf("attempts shown: %q", log)
	}
	shot(t, owner, "w04-delivered-after-retries")
	mu.Lock()
	if verified != 1 {
		t.Errorf("verified deliveries: %d", verified)
	}
	mu.Unlock()

	// Resend: the same event again.
	do(t, owner, chromedp.Click(`[data-delivery] form button`))
	eventually(t, "resent", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return verified == 2
	})
	// Rotate: a new secret shows; the old one still signs for a day.
	do(t, owner, chromedp.Click(`form[action$="/rotate"] button`))
	eventually(t, "rotated", func() bool { return strings.Contains(textNow(owner, "main"), "New secret made") })
	do(t, owner, chromedp.Click(`[data-webhook] details summary`))
	if now := text(t, owner, `[data-webhook-secret]`); now == s || !strings.HasPrefix(now, "whsec_") {
		t.Fatalf("secret after rotation: %q (was %q)", now, s)
	}
	do(t, owner, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(apiURL+"/apps/"+appID+"/webhooks"))
	shot(t, owner, "w05-webhooks-phone")

	// The API reference, as a developer opens it.
	docs := tabFor(t, time.Minute)
	do(t, docs, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(apiURL+"/api/docs"))
	if h := text(t, docs, "h1"); !strings.Contains(h, "AgentLinks API") {
		t.Fatalf("docs heading: %q", h)
	}
	if !has(docs, `[data-op="POST /api/webhooks"]`) || !has(docs, `[data-op="POST /api/track/conversion"]`) {
		t.Fatal("the docs page lacks operations")
	}
	// The reference is long (8000px): its first screen is what reads.
	png, err := chromedp.Run(docs, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	saveShot(t, "w06-api-docs", png)
}
