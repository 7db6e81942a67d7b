package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "1.1.1.1": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "::": false, "fc00::1": false, "fe80::1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "64:ff9b::7f00:1": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := publicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

// After a rotation the header carries a signature under each secret, and
// a receiver holding either verifies it.
func TestSignatureVerifiesUnderEachSecret(t *testing.T) {
	old, cur := NewSecret(), NewSecret()
	body := []byte(`{"type":"conversion.created","timestamp":"2026-12-02T00:00:00Z","data":{}}`)
	at := time.Now()
	sig, err := Signature([]string{cur, old}, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("want two signatures, got %q", sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", sig)
	for _, s := range []string{old, cur} {
		wh, _ := standardwebhooks.NewWebhook(s)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("verify under %s…: %v", s[:10], err)
		}
	}
	wh, _ := standardwebhooks.NewWebhook(NewSecret())
	if err := wh.Verify(body, h); err == nil {
		t.Error("a third secret verified the signature")
	}
	if err := wh.Verify(append(body, ' '), h); err == nil {
		t.Error("a changed body verified")
	}
}

func TestParseEvents(t *testing.T) {
	all, err := ParseEvents(nil)
	if err != nil || len(all) != len(Types) {
		t.Fatalf("no events means all: %v %v", all, err)
	}
	got, err := ParseEvents([]string{"payout.paid", " payout.paid", "conversion.created"})
	if err != nil || strings.Join(got, ",") != "payout.paid,conversion.created" {
		t.Fatalf("repeats: %v %v", got, err)
	}
	if _, err := ParseEvents([]string{"payout.exploded"}); err == nil {
		t.Fatal("an unknown event was taken")
	}
}

// Outside dev the delivery client refuses a private address when it
// connects, whatever the name resolved to when it was registered.
func TestClientRefusesPrivateAddressesAtConnect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	_, err := Client(2*time.Second, false).Post(srv.URL, "application/json", nil)
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("want ErrPrivateAddress, got %v", err)
	}
	res, err := Client(2*time.Second, true).Post(srv.URL, "application/json", nil)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("dev client: %v %v", res, err)
	}
	res.Body.Close()
	if _, err := CheckURL(context.Background(), srv.URL, false); err == nil {
		t.Fatal("CheckURL took a loopback http URL outside dev")
	}
	if _, err := CheckURL(context.Background(), srv.URL, true); err != nil {
		t.Fatalf("CheckURL in dev: %v", err)
	}
}
