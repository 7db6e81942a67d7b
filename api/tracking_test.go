package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/agentlinks/agentlinks/api"
)

func TestClickCountsEveryClickAndUniqueVisitorsOnce(t *testing.T) {
	p := newProgram(t)
	for range 3 {
		expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref, "visitor_id": "v1"}), 202, "")
	}
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref, "visitor_id": "v2", "app_id": p.appID}), 202, "")
	// A crawler's hit is kept raw but counted nowhere.
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref}, "User-Agent", "Googlebot/2.1 (+http://www.google.com/bot.html)"), 202, "")
	// The ref is case-insensitive, as people retype links.
	expect(t, call(t, "POST", "/api/track/click", "", map[string]any{"ref": strings.ToUpper(p.ref), "visitor_id": "v1"}), 202, "")

	st := p.stats(t)
	if st.num("clicks") != 5 || st.num("unique_clicks") != 2 {
		t.Fatalf("want 5 clicks, 2 unique; got %s", st.raw)
	}
	var raw, bots int
	if err := database.Pool.QueryRow(context.Background(),
		"SELECT count(*), count(*) FILTER (WHERE is_bot) FROM clicks WHERE ref_code = $1", p.ref).Scan(&raw, &bots); err != nil {
		t.Fatal(err)
	}
	if raw != 6 || bots != 1 {
		t.Fatalf("want 6 raw clicks of which 1 bot, got %d and %d", raw, bots)
	}
}

// TestConcurrentClicksCountEachVisitorOnce sends the same visitors' clicks
// at once, twice, so that batches hold several clicks of one visitor and the
// writer's reused buffers carry from batch to batch: each visitor is unique
// exactly once, in the counters and in the answers.
func TestConcurrentClicksCountEachVisitorOnce(t *testing.T) {
	p := newProgram(t)
	const visitors, perVisitor = 6, 5
	uniques := 0
	for round := range 2 {
		answers := make(chan answer, visitors*perVisitor)
		var wg sync.WaitGroup
		for i := range visitors * perVisitor {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers <- call(t, "POST", "/api/track/click", "", map[string]any{"ref": p.ref, "visitor_id": fmt.Sprintf("v%d", i%visitors)})
			}()
		}
		wg.Wait()
		close(answers)
		for a := range answers {
			expect(t, a, 202, "")
			if a.body["unique"] == true {
				uniques++
			}
		}
		if uniques != visitors {
			t.Fatalf("after round %d: %d answers said unique, want %d", round+1, uniques, visitors)
		}
	}
	st := p.stats(t)
	if st.num("clicks") != 2*visitors*perVisitor || st.num("unique_clicks") != visitors {
		t.Fatalf("want %d clicks, %d unique; got %s", 2*visitors*perVisitor, visitors, st.raw)
	}
}

func TestClickErrors(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown ref", map[string]any{"ref": "zzzzzz"}, 404, "unknown_ref"},
		{"missing ref", map[string]any{"url": "https://x"}, 422, "missing_ref"},
		{"ref of another app", map[string]any{"ref": p.ref, "app_id": other.appID}, 422, "ref_app_mismatch"},
		{"not JSON", "ref=abc", 400, "invalid_json"},
		{"empty body", "", 400, "invalid_json"},
		{"wrong type", `{"ref": 12}`, 400, "invalid_json"},
		{"array", `[{"ref":"x"}]`, 400, "invalid_json"},
		{"oversized", `{"ref":"` + p.ref + `","url":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, call(t, "POST", "/api/track/click", "", c.body), c.status, c.code)
		})
	}
	// A body without Content-Length is cut off at the limit too.
	req, _ := http.NewRequest("POST", srv.URL+"/api/track/click", io.MultiReader(
		strings.NewReader(`{"ref":"`+p.ref+`","url":"`), strings.NewReader(strings.Repeat("a", 2*api.MaxBodyBytes)), strings.NewReader(`"}`)))
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked oversized body: want 413, got %d", res.StatusCode)
	}
	if st := p.stats(t); st.num("clicks") != 0 {
		t.Fatalf("refused clicks were counted: %s", st.raw)
	}
	expect(t, call(t, "GET", "/api/nothing", "", nil), 404, "not_found")
}

func TestSignupIsFirstTouch(t *testing.T) {
	p := newProgram(t)
	other := newProgram(t)
	first := call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_abc123", "email": "user@example.com"})
	expect(t, first, 201, "")
	if first.str("referral_id") == "" || first.str("ref") != p.ref || first.body["self_referral"] != false {
		t.Fatalf("bad referral: %s", first.raw)
	}
	again := call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_abc123"})
	expect(t, again, 200, "")
	if again.str("referral_id") != first.str("referral_id") {
		t.Fatalf("second signup made a new referral: %s vs %s", again.raw, first.raw)
	}
	// Another program's ref does not steal the user; it is another app's user.
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": other.ref, "user_id": "usr_abc123"}), 201, "")

	self := call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "usr_self", "email": strings.ToUpper(p.creatorEmail)})
	expect(t, self, 201, "")
	if self.body["self_referral"] != true {
		t.Fatalf("creator's own signup not flagged: %s", self.raw)
	}
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref}), 422, "missing_user_id")
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": p.ref, "user_id": "u", "email": "nope"}), 422, "invalid_email")
	expect(t, call(t, "POST", "/api/track/signup", "", map[string]any{"ref": "nope99", "user_id": "u"}), 404, "unknown_ref")
	if st := p.stats(t); st.num("signups") != 2 {
		t.Fatalf("want 2 signups, got %s", st.raw)
	}
}
