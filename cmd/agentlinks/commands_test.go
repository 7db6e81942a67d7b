package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/agentlinks/agentlinks/internal/stripeevent"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// Every operator command takes --json and then prints exactly one JSON
// object; without its required flags it is a usage error that names them.
func TestOperatorCommandsPrintOneJSONObject(t *testing.T) {
	d := testenv.DB(t)
	t.Setenv("DATABASE_URL", d.URL)
	ctx := context.Background()
	one := func(args ...string) map[string]any {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append(args, "--json"), &out, io.Discard); err != nil {
			t.Fatalf("agentlinks %s --json: %v", strings.Join(args, " "), err)
		}
		dec := json.NewDecoder(&out)
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("agentlinks %s --json printed no JSON object: %q", strings.Join(args, " "), out.String())
		}
		if dec.More() {
			t.Fatalf("agentlinks %s --json printed more than one JSON value: %q", strings.Join(args, " "), out.String())
		}
		return m
	}
	app := one("apps", "create", "--name", "Shop", "--commission-percent", "25")
	appID, _ := app["app_id"].(string)
	if !strings.HasPrefix(appID, "app_") || !strings.HasPrefix(app["secret_key"].(string), "sk_") {
		t.Fatalf("apps create: %v", app)
	}
	if m := one("apps", "update", "--app", appID, "--allowed-origin", "https://Shop.example.com/"); m["allowed_origins"].([]any)[0] != "https://shop.example.com" {
		t.Fatalf("apps update: %v", m)
	}
	if m := one("apps", "connect-stripe", "--app", appID, "--account", "acct_json"); m["stripe_account_id"] != "acct_json" || m["connected"] != true {
		t.Fatalf("apps connect-stripe: %v", m)
	}
	if m := one("creators", "create", "--app", appID, "--email", "c@example.com"); m["ref"] == "" || m["creator_id"] == "" {
		t.Fatalf("creators create: %v", m)
	}
	if m := one("verify-ledger"); m["ok"] != true || m["transfers"] != 0.0 {
		t.Fatalf("verify-ledger: %v", m)
	}
	if m := one("stripe-events", "--status", "processed"); m["status"] != "processed" || len(m["events"].([]any)) != 0 {
		t.Fatalf("stripe-events: %v", m)
	}

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"apps", "connect-stripe", "--app", appID}, "--account is required"},
		{[]string{"apps", "create", "--json"}, "--name and --commission-percent are required"},
		{[]string{"creators", "create", "--email", "x@example.com"}, "--app is required"},
		{[]string{"stripe-test-event", "--type", "invoice.paid"}, "--account is required"},
		{[]string{"apps", "frobnicate"}, "unknown subcommand"},
	} {
		err := run(ctx, c.args, io.Discard, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("agentlinks %s: want a usage error saying %q, got %v", strings.Join(c.args, " "), c.says, err)
		}
	}
	// A refused change is an error, not a half-done one.
	if err := run(ctx, []string{"apps", "connect-stripe", "--app", appID, "--account", "nope"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "acct_") {
		t.Fatalf("connect-stripe with a bad account id: %v", err)
	}
}

// stripe-test-event signs events as Stripe would, in the shape of the API
// version asked for: the webhook's own reader gets the same money from each.
func TestStripeTestEventRendersEachVersion(t *testing.T) {
	const secret = "whsec_cmd"
	var got []stripeevent.Reader
	var objects [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload, _ := io.ReadAll(r.Body)
		evt, err := webhook.ConstructEventWithOptions(payload, r.Header.Get("Stripe-Signature"), secret,
			webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, stripeevent.For(evt.APIVersion))
		objects = append(objects, evt.Data.Raw)
		fmt.Fprintf(w, `{"received":true,"id":%q}`, evt.ID)
	}))
	defer hook.Close()
	t.Setenv("STRIPE_WEBHOOK_SECRET", secret)
	ctx := context.Background()
	for _, v := range []string{"2023-10-16", "2025-09-30.clover"} {
		got, objects = nil, nil
		base := []string{"--api", hook.URL, "--account", "acct_cmd", "--invoice", "in_cmd", "--api-version", v, "--json"}
		var out bytes.Buffer
		for _, args := range [][]string{
			{"--type", "invoice.paid", "--ref", "abc123", "--amount", "12000", "--tax", "2000"},
			{"--type", "charge.refunded", "--amount", "12000", "--refunded", "6000"},
		} {
			out.Reset()
			if err := run(ctx, append(append([]string{"stripe-test-event"}, args...), base...), &out, io.Discard); err != nil {
				t.Fatalf("%s: %v", v, err)
			}
			var answer map[string]any
			if err := json.Unmarshal(out.Bytes(), &answer); err != nil || answer["status"] != 200.0 {
				t.Fatalf("%s: want one JSON object with status 200, got %q", v, out.String())
			}
		}
		inv, err := got[0].Invoice(objects[0])
		if err != nil || inv.PreTaxCents != 10000 || inv.Customer.Ref != "abc123" || got[0].Version != v {
			t.Fatalf("%s: invoice.paid read as %+v (%v)", v, inv, err)
		}
		ch, err := got[1].Charge(objects[1])
		if err != nil || ch.Refunded != 6000 || ch.PaymentIntent != "pi_cmd" || (ch.Invoice == "") != (got[1].Shape == stripeevent.Basil) {
			t.Fatalf("%s: charge.refunded read as %+v (%v)", v, ch, err)
		}
	}
}
