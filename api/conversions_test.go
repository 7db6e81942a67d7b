package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/internal/programs"
)

func TestConversionGuideExample(t *testing.T) {
	p := newProgram(t)
	before := time.Now()
	a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_abc123", "amount_cents": 10000})
	expect(t, a, 201, "")
	if a.num("commission", "amount_cents") != 10000 || a.num("commission", "commission_cents") != 3000 ||
		a.num("commission", "platform_fee_cents") != 150 || a.num("commission", "net_commission_cents") != 2850 {
		t.Fatalf("guide example: want 3000/150/2850, got %s", a.raw)
	}
	if a.str("status") != "pending" || !strings.HasPrefix(a.str("conversion_id"), "cv_") {
		t.Fatalf("want a pending cv_ conversion, got %s", a.raw)
	}
	at, err := time.Parse(time.RFC3339Nano, a.str("available_at"))
	if err != nil {
		t.Fatal(err)
	}
	if hold := at.Sub(before); hold < 14*24*time.Hour-time.Minute || hold > 14*24*time.Hour+time.Minute {
		t.Fatalf("available_at %s is not 14 days out", at)
	}
	if pending, available := p.balance(t); pending != 2850 || available != 0 {
		t.Fatalf("want 2850 pending, 0 available; got %d, %d", pending, available)
	}
	got := call(t, "GET", "/api/conversions/"+a.str("conversion_id"), p.key, nil)
	expect(t, got, 200, "")
	if got.str("status") != "pending" || got.num("commission", "net_commission_cents") != 2850 || got.num("refunded", "amount_cents") != 0 {
		t.Fatalf("GET conversion: %s", got.raw)
	}
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "u", "amount_cents": 100, "currency": "eur"}), 422, "currency_mismatch")
	checkLedger(t)
}

func TestConversionNeedsTheSecretKey(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	body := map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 2500}
	a := call(t, "POST", "/api/track/conversion", "", body)
	expect(t, a, 401, "missing_api_key")
	if msg := a.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "Authorization: Bearer sk_") {
		t.Fatalf("the 401 should say how to authenticate: %q", msg)
	}
	expect(t, call(t, "POST", "/api/track/conversion", "sk_wrong", body), 401, "invalid_api_key")
	expect(t, call(t, "POST", "/api/track/conversion", other.key, body), 401, "invalid_api_key")
	expect(t, call(t, "POST", "/api/track/refund", "", map[string]any{"ref": p.ref, "amount_cents": 1}), 401, "missing_api_key")
	if n := ledgerCount(t, p.appID); n != 0 {
		t.Fatalf("refused requests moved money: %d transfers", n)
	}

	// Reads need the key of the ref's own app.
	expect(t, call(t, "GET", "/api/creators/"+p.ref+"/balance", "", nil), 401, "missing_api_key")
	expect(t, call(t, "GET", "/api/creators/"+p.ref+"/stats", other.key, nil), 404, "unknown_ref")
	expect(t, call(t, "GET", "/api/conversions/cv_nope", p.key, nil), 404, "conversion_not_found")

	// Keyless mode is the guide's public mode, switched on by the owner.
	open := newProgram(t, keyless)
	expect(t, call(t, "POST", "/api/track/conversion", "", map[string]any{"ref": open.ref, "user_id": "usr_1", "amount_cents": 2500}), 201, "")
	expect(t, call(t, "POST", "/api/track/conversion", "sk_wrong", map[string]any{"ref": open.ref, "user_id": "usr_1", "amount_cents": 2500}), 401, "invalid_api_key")
	checkLedger(t)
}

func TestConversionRefusesBadAmounts(t *testing.T) {
	p := newProgram(t)
	for _, c := range []struct {
		amount string
		status int
		code   string
	}{
		{`0`, 422, "invalid_amount"},
		{`-5`, 422, "invalid_amount"},
		{`25.5`, 422, "invalid_amount"},
		{`1e3`, 422, "invalid_amount"},
		{`1000000000001`, 422, "invalid_amount"},
		{`99999999999999999999`, 422, "invalid_amount"},
		{`"abc"`, 400, "invalid_json"},
		{`"100"`, 400, "invalid_json"}, // a JSON string is not an integer, even when it reads as one
		{`true`, 400, "invalid_json"},
		{`{"cents":100}`, 400, "invalid_json"},
		{`[100]`, 400, "invalid_json"},
		{`null`, 422, "invalid_amount"},
	} {
		t.Run(c.amount, func(t *testing.T) {
			body := `{"ref":"` + p.ref + `","user_id":"usr_1","amount_cents":` + c.amount + `}`
			expect(t, call(t, "POST", "/api/track/conversion", p.key, body), c.status, c.code)
		})
	}
	// The refusal names the field and what it must be, for conversions and refunds alike.
	for _, path := range []string{"/api/track/conversion", "/api/track/refund"} {
		a := call(t, "POST", path, p.key, `{"ref":"`+p.ref+`","user_id":"usr_1","amount_cents":"100"}`)
		expect(t, a, 400, "invalid_json")
		if msg := a.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, `"amount_cents"`) || !strings.Contains(msg, "whole number of cents") || !strings.Contains(msg, "string") {
			t.Fatalf("%s: the 400 should name amount_cents and say it must be a whole number of cents, not a string: %q", path, msg)
		}
	}
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1"}), 422, "invalid_amount")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "amount_cents": 5}), 422, "missing_user_id")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": "zzzzzz", "user_id": "u", "amount_cents": 5}), 404, "unknown_ref")
	if st := p.stats(t); st.num("conversions") != 0 || ledgerCount(t, p.appID) != 0 {
		t.Fatalf("refused conversions were recorded: %s", st.raw)
	}
	// The largest allowed amount works and its math is exact.
	max := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 1_000_000_000_000})
	expect(t, max, 201, "")
	if max.num("commission", "commission_cents") != 300_000_000_000 || max.num("commission", "platform_fee_cents") != 15_000_000_000 {
		t.Fatalf("10^12 cents: %s", max.raw)
	}
	checkLedger(t)
}

func TestDuplicateTransactionCreditsOnce(t *testing.T) {
	p := newProgram(t)
	body := map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 2500, "transaction_id": "ch_1"}
	first := call(t, "POST", "/api/track/conversion", p.key, body)
	expect(t, first, 201, "")
	again := call(t, "POST", "/api/track/conversion", p.key, body)
	expect(t, again, 200, "")
	if again.str("conversion_id") != first.str("conversion_id") {
		t.Fatalf("repeat answered another conversion: %s vs %s", again.raw, first.raw)
	}
	body["amount_cents"] = 2600
	expect(t, call(t, "POST", "/api/track/conversion", p.key, body), 409, "transaction_reused")

	// The same transaction sent by many clients at once: one 201, one credit.
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	ids := make(chan string, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_2", "amount_cents": 999, "transaction_id": "ch_race"})
			statuses <- a.status
			ids <- a.str("conversion_id")
		}()
	}
	wg.Wait()
	close(statuses)
	close(ids)
	created := 0
	for s := range statuses {
		switch s {
		case 201:
			created++
		case 200:
		default:
			t.Fatalf("concurrent repeat answered %d", s)
		}
	}
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if created != 1 || len(seen) != 1 {
		t.Fatalf("want one 201 and one conversion id, got %d created and ids %v", created, seen)
	}

	// Idempotency-Key works the same way for callers without a transaction id.
	k1 := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_3", "amount_cents": 100}, "Idempotency-Key", "key-1")
	k2 := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_3", "amount_cents": 100}, "Idempotency-Key", "key-1")
	expect(t, k1, 201, "")
	expect(t, k2, 200, "")
	if st := p.stats(t); st.num("conversions") != 3 {
		t.Fatalf("want 3 conversions, got %s", st.raw)
	}
	// 2500 + 999 + 100 at 30%, net of 5%: 712 + 285 + 28.
	if pending, _ := p.balance(t); pending != 712+285+28 {
		t.Fatalf("want %d pending, got %d", 712+285+28, pending)
	}
	checkLedger(t)
}

func TestConversionGoesToTheReferralsCreator(t *testing.T) {
	p := newProgram(t)
	ctx := context.Background()
	second, err := programs.Enroll(ctx, database.Pool, p.appID, "second-"+p.appID+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_1"}), 201, "")
	a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": second.RefCode, "user_id": "usr_1", "amount_cents": 1000})
	expect(t, a, 201, "")
	if a.str("ref") != p.ref {
		t.Fatalf("attribution is locked at signup: want ref %s, got %s", p.ref, a.raw)
	}
	if pending, _ := p.balance(t); pending != 285 {
		t.Fatalf("first creator: want 285 pending, got %d", pending)
	}
}

func TestRefundReversesProportionally(t *testing.T) {
	p := newProgram(t)
	conv := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 10000, "transaction_id": "in_1"})
	expect(t, conv, 201, "")

	half := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_1", "refund_id": "re_1"})
	expect(t, half, 200, "")
	if half.str("conversion_id") != conv.str("conversion_id") || half.num("reversed", "amount_cents") != 5000 ||
		half.num("reversed", "commission_cents") != 1500 || half.num("reversed", "platform_fee_cents") != 75 ||
		half.num("reversed", "net_commission_cents") != 1425 {
		t.Fatalf("half refund: want 5000/1500/75/1425, got %s", half.raw)
	}
	transfers := ledgerCount(t, p.appID)
	// A resend of the same refund is answered, not applied again.
	again := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_1", "refund_id": "re_1"})
	expect(t, again, 200, "")
	if again.str("refund_id") != half.str("refund_id") || ledgerCount(t, p.appID) != transfers {
		t.Fatalf("resent refund moved money again: %s", again.raw)
	}
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 4000, "refund_id": "re_1"}), 409, "refund_reused")

	// More than is left: refused, nothing moved.
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5001, "transaction_id": "in_1"}), 422, "over_refund")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5001}), 422, "over_refund")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "transaction_id": "in_nope"}), 404, "conversion_not_found")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 0}), 422, "invalid_amount")
	if ledgerCount(t, p.appID) != transfers {
		t.Fatal("refused refunds moved money")
	}
	if pending, _ := p.balance(t); pending != 1425 {
		t.Fatalf("want 1425 pending after half refund, got %d", pending)
	}

	// The rest, found by (ref, user_id): the whole commission is reversed,
	// to the cent, and the conversion is refunded.
	rest := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 5000, "user_id": "usr_1"})
	expect(t, rest, 200, "")
	if rest.str("conversion_status") != "refunded" || rest.num("reversed", "net_commission_cents") != 1425 {
		t.Fatalf("second half: %s", rest.raw)
	}
	got := call(t, "GET", "/api/conversions/"+conv.str("conversion_id"), p.key, nil)
	if got.str("status") != "refunded" || got.num("refunded", "commission_cents") != 3000 || got.num("refunded", "platform_fee_cents") != 150 {
		t.Fatalf("fully refunded conversion: %s", got.raw)
	}
	if pending, available := p.balance(t); pending != 0 || available != 0 {
		t.Fatalf("want nothing left, got %d pending and %d available", pending, available)
	}
	fresh := newProgram(t)
	expect(t, call(t, "POST", "/api/track/refund", fresh.key, map[string]any{"ref": fresh.ref, "amount_cents": 100}), 404, "conversion_not_found")
	checkLedger(t)
}

func TestTwoRefundsRacingCannotOverRefund(t *testing.T) {
	p := newProgram(t)
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_1", "amount_cents": 1000, "transaction_id": "t"}), 201, "")
	var wg sync.WaitGroup
	results := make(chan int, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 400, "transaction_id": "t", "refund_id": fmt.Sprint("r", i)})
			results <- a.status
		}()
	}
	wg.Wait()
	close(results)
	ok, refused := 0, 0
	for s := range results {
		switch s {
		case 200:
			ok++
		case 422:
			refused++
		default:
			t.Fatalf("racing refund answered %d", s)
		}
	}
	if ok != 2 || refused != 3 {
		t.Fatalf("1000 cents take two refunds of 400: want 2 accepted and 3 refused, got %d and %d", ok, refused)
	}
	checkLedger(t)
}

// TestRefundRacingTheRelease sends refunds at the moment each conversion's
// hold ends: whichever wins, the money ends exactly right.
func TestRefundRacingTheRelease(t *testing.T) {
	p := newProgram(t, func(a *programs.NewApp) { a.Hold = time.Second })
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txn := fmt.Sprint("race_", i)
			a := call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "u", "amount_cents": 10000, "transaction_id": txn})
			if a.status != 201 {
				t.Errorf("conversion: %s", a.raw)
				return
			}
			at, _ := time.Parse(time.RFC3339Nano, a.str("available_at"))
			time.Sleep(time.Until(at) + time.Duration(i-6)*15*time.Millisecond)
			if r := call(t, "POST", "/api/track/refund", p.key, map[string]any{"ref": p.ref, "amount_cents": 4000, "transaction_id": txn}); r.status != 200 {
				t.Errorf("refund: %s", r.raw)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if pending, available := p.balance(t); pending == 0 {
			// 12 × (2850 − 1140): each kept 60% of its net, clawed back or not.
			if available != 12*(2850-1140) {
				t.Fatalf("want %d available, got %d", 12*(2850-1140), available)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("conversions still pending 15s after their hold")
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkLedger(t)
}

// What the contract says of the tracking calls is what they do: ref is
// required for a conversion and a refund (an app id or a transaction id
// does not replace it), user_id for a conversion, the currency is honoured,
// every error code is snake_case, and the program's stats are oldest first.
func TestTrackingAnswersAsItsContract(t *testing.T) {
	p := newProgram(t)
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"app_id": p.appID, "user_id": "usr_c", "amount_cents": 1000}), 422, "missing_ref")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "amount_cents": 1000}), 422, "missing_user_id")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_c", "amount_cents": 1000, "currency": "EUR"}), 422, "currency_mismatch")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_c", "amount_cents": 1000, "currency": "USD", "transaction_id": "t_c"}), 201, "")
	expect(t, call(t, "POST", "/api/track/refund", p.key, map[string]any{"amount_cents": 500, "transaction_id": "t_c"}), 422, "missing_ref")
	expect(t, call(t, "POST", "/api/track/conversion", p.key, map[string]any{"ref": p.ref, "user_id": "usr_c", "amount_cents": 1000},
		"Idempotency-Key", strings.Repeat("k", 300)), 422, "invalid_idempotency_key")
	st := call(t, "GET", "/api/stats?days=3", p.key, nil)
	days, _ := st.body["days"].([]any)
	if st.status != 200 || len(days) != 3 {
		t.Fatalf("stats: %d %s", st.status, st.raw)
	}
	first, _ := days[0].(map[string]any)["day"].(string)
	last, _ := days[2].(map[string]any)["day"].(string)
	if !(first < last) {
		t.Fatalf("the days are not oldest first: %s then %s", first, last)
	}
}
