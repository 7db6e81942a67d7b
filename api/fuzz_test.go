package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v76/webhook"
)

var fuzzProgram struct {
	once sync.Once
	p    program
}

// FuzzTrackEndpoints sends arbitrary bodies to every tracking endpoint,
// with and without the key: no panic, never a 5xx, and a refused request
// moves no money. "REF" in a body is replaced by a real ref code, so that
// the fuzzer gets past the ref lookup.
func FuzzTrackEndpoints(f *testing.F) {
	for _, seed := range []string{
		`{"ref":"REF"}`,
		`{"ref":"REF","user_id":"u1","email":"a@b.c"}`,
		`{"ref":"REF","user_id":"u1","amount_cents":2500}`,
		`{"ref":"REF","user_id":"u1","amount_cents":2500,"transaction_id":"t1"}`,
		`{"ref":"REF","amount_cents":100,"transaction_id":"t1","refund_id":"r1"}`,
		`{"ref":"REF","amount_cents":1e3}`,
		`{"ref":"REF","amount_cents":-1}`,
		`{"ref":"REF","amount_cents":"12"}`,
		`{"ref":["REF"]}`,
		`{"ref":"REF","user_id":"u\u0000","email":"a\u0000@b"}`,
		`{"ref":"RE\u0000F","url":"\u0000"}`,
		`{"ref":"REF","user_id":"u","amount_cents":100,"transaction_id":"\u0000","currency":"\u0000"}`,
		"{\"ref\":\"REF\",\"user_id\":\"\xff\"}",
		`[]`, `null`, `{`, ``,
	} {
		for ep := range 4 {
			f.Add(uint8(ep), seed, true)
		}
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, body string, withKey bool) {
		fuzzProgram.once.Do(func() { fuzzProgram.p = newProgram(t) })
		p := fuzzProgram.p
		path := []string{"click", "signup", "conversion", "refund"}[int(endpoint)%4]
		key := ""
		if withKey {
			key = p.key
		}
		before := ledgerCount(t, p.appID)
		req, _ := http.NewRequest("POST", srv.URL+"/api/track/"+path, strings.NewReader(strings.ReplaceAll(body, "REF", p.ref)))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("POST /api/track/%s %q answered %d", path, body, res.StatusCode)
		}
		if res.StatusCode >= 400 && ledgerCount(t, p.appID) != before {
			t.Fatalf("refused POST /api/track/%s %q (%d) moved money", path, body, res.StatusCode)
		}
	})
}

// FuzzStripeWebhook sends arbitrary payloads to the webhook, signed or not:
// no panic, never a 5xx; a bad signature stores nothing.
func FuzzStripeWebhook(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"invoice.paid","account":"acct_x","data":{"object":{"id":"in_1","object":"invoice","amount_paid":100}}}`), true)
	f.Add([]byte(`{"id":"evt_2","type":"charge.refunded","data":{"object":{"id":"ch_1","amount":-5,"amount_refunded":9e99}}}`), true)
	f.Add([]byte(`{"id":"","type":""}`), true)
	f.Add([]byte(`{"id":"evt_3","type":"invoice.paid","data":null}`), true)
	f.Add([]byte(`not json`), true)
	f.Add([]byte(`{"id":"evt_4"}`), false)
	f.Fuzz(func(t *testing.T, payload []byte, sign bool) {
		header := "t=1,v1=00"
		if sign {
			header = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret}).Header
		}
		req, _ := http.NewRequest("POST", srv.URL+"/api/stripe/webhook", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", header)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("webhook %q (signed %v) answered %d", payload, sign, res.StatusCode)
		}
		if !sign && res.StatusCode != 400 {
			t.Fatalf("unsigned webhook answered %d", res.StatusCode)
		}
	})
}
