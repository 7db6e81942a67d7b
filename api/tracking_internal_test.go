package api

import (
	"encoding/json"
	"testing"
)

var clickBodies = []string{
	`{"ref":"ALICE","url":"https://shop.example.com/products/item-7?ref=ALICE","referrer":"https://www.instagram.com/"}`,
	`{"ref":"ALICE","url":"https://shop.example.com/","visitor_id":"v42"}`,
	` { "ref" : "A" , "app_id":"app_1",` + "\n\t" + `"unknown":"x" } `,
	`{}`, `{ }`, `{"ref":""}`,
	`{"ref":"a","ref":"b"}`,                // the last one wins
	`{"REF":"a"}`, `{"ref":"a","Ref":"b"}`, // keys match in any case
	`{"ſef":"k"}`, `{"app_ıd":"k"}`, // and non-ASCII ones fold
	`{"ref":"caf\u00e9"}`, `{"ref":"a\"b"}`, `{"ref":"a\u0000"}`, // escapes
	`{"url":"https://shop.example.com/é"}`, "{\"ref\":\"\xff\"}", "{\"ref\":\"a\x01\"}",
	`{"ref":null}`, `{"ref":1}`, `{"ref":true}`, `{"ref":["A"]}`, `{"x":{"y":[1,2]}}`, `{"x":1}`,
	`{"ref":"A"} x`, `{"ref":"A"}}`, `{"ref":"A",}`, `{"ref" "A"}`, `{"ref":"A"`, `{"ref`, `{`, `[]`, `null`, `"ref"`,
	"\ufeff{}", `{} {}`,
}

// TestDecodeClickAgreesWithEncodingJSON: the click's fast path decodes
// what encoding/json decodes, and a body it does not take answers with
// encoding/json's own result or error.
func TestDecodeClickAgreesWithEncodingJSON(t *testing.T) {
	fast := 0
	for _, body := range clickBodies {
		agree(t, []byte(body))
		var r clickRequest
		if scanClick([]byte(body), &r) {
			fast++
		}
	}
	if fast < 7 {
		t.Errorf("the fast path took %d of the bodies, want the 7 plain ones at least", fast)
	}
	var r clickRequest
	if !scanClick([]byte(clickBodies[0]), &r) || r.Ref != "ALICE" || r.URL != "https://shop.example.com/products/item-7?ref=ALICE" || r.Referrer != "https://www.instagram.com/" {
		t.Errorf("agentlinks.js's body: %v %+v", scanClick([]byte(clickBodies[0]), &r), r)
	}
}

func FuzzClickBody(f *testing.F) {
	for _, body := range clickBodies {
		f.Add([]byte(body))
	}
	f.Fuzz(agree)
}

func agree(t *testing.T, body []byte) {
	var want, got clickRequest
	wantErr := json.Unmarshal(body, &want)
	gotErr := decodeClick(body, &got)
	if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() || got != want {
		t.Fatalf("%q: encoding/json %+v, %v; decodeClick %+v, %v", body, want, wantErr, got, gotErr)
	}
	var fast clickRequest
	if scanClick(body, &fast) && (wantErr != nil || fast != want) {
		t.Fatalf("%q: the fast path read %+v; encoding/json %+v, %v", body, fast, want, wantErr)
	}
}

func BenchmarkDecodeClick(b *testing.B) {
	body := []byte(clickBodies[0])
	b.Run("fast path", func(b *testing.B) {
		for b.Loop() {
			var r clickRequest
			if err := decodeClick(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var r clickRequest
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
