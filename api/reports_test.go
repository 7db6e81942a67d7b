package api_test

import (
	"testing"
	"time"
)

// TestProgramStats follows a program's day through the stats endpoint:
// clicks (bots left out), a signup, a conversion and a half refund land on
// today's entry and in the totals, every day of the period is listed, and
// another program's key sees none of it.
func TestProgramStats(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	for _, v := range []string{"v1", "v1", "v2"} {
		expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref, "visitor_id": v}), 202, "")
	}
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref}, "User-Agent", "Googlebot/2.1"), 202, "")
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_1"}), 201, "")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 10000, "transaction_id": "in_1"}), 201, "")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_1"}), 200, "")
	today := time.Now().UTC().Format(time.DateOnly)

	st := call(t, "GET", "/api/stats?days=90", p.key, nil)
	expect(t, st, 200, "")
	days, _ := st.body["days"].([]any)
	if len(days) != 90 || st.str("app_id") != p.appID || st.str("currency") != "usd" {
		t.Fatalf("want 90 days of %s in usd, got %d days: %s", p.appID, len(days), st.raw)
	}
	last := answer{body: days[89].(map[string]any)}
	first := answer{body: days[0].(map[string]any)}
	if st.str("to") != today || last.str("day") != today || first.str("day") != st.str("from") {
		t.Fatalf("days run from %s to %s, want the last to be today %s: %s", first.str("day"), last.str("day"), today, st.raw)
	}
	want := map[string]int64{
		"clicks": 3, "unique_clicks": 2, "signups": 1, "conversions": 1, "amount_cents": 10000,
		"commission_cents": 3000, "platform_fee_cents": 150, "net_commission_cents": 2850, "refunds": 1,
		"refunded_cents": 5000, "reversed_commission_cents": 1500, "reversed_platform_fee_cents": 75,
		"reversed_net_commission_cents": 1425,
	}
	for k, v := range want {
		if got := st.num("totals", k); got != v {
			t.Errorf("totals.%s = %d, want %d", k, got, v)
		}
		if got := last.num(k); got != v {
			t.Errorf("today's %s = %d, want %d", k, got, v)
		}
		if got := first.num(k); got != 0 {
			t.Errorf("89 days ago %s = %d, want 0", k, got)
		}
	}

	// The default period is 30 days; another program's key sees its own zeros.
	def := call(t, "GET", "/api/stats", other.key, nil)
	expect(t, def, 200, "")
	if d, _ := def.body["days"].([]any); len(d) != 30 || def.num("totals", "clicks") != 0 || def.num("totals", "conversions") != 0 {
		t.Fatalf("other program: want 30 empty days, got %s", def.raw)
	}

	expect(t, call(t, "GET", "/api/stats?days=90", "", nil), 401, "missing_api_key")
	expect(t, call(t, "GET", "/api/stats?days=90", "sk_nope", nil), 401, "invalid_api_key")
	for _, bad := range []string{"0", "367", "-1", "ninety", "1e2", ""} {
		expect(t, call(t, "GET", "/api/stats?days="+bad, p.key, nil), 422, "invalid_days")
	}
	checkLedger(t)
}
