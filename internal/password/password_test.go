package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashThenCheck(t *testing.T) {
	h, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("not a PHC argon2id string at OWASP's parameters: %s", h)
	}
	if err := Check(h, "correct horse battery"); err != nil {
		t.Fatalf("the right password: %v", err)
	}
	if err := Check(h, "correct horse batterY"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a wrong password: %v", err)
	}
	if h2, _ := Hash("correct horse battery"); h2 == h {
		t.Fatal("two hashes of one password share a salt")
	}
}

func TestCheckReadsItsParametersFromTheHash(t *testing.T) {
	// A hash made with other parameters (here cheaper ones) still verifies.
	const old = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
	for _, bad := range []string{"", "$bcrypt$x", old, "$argon2id$v=18$m=1,t=1,p=1$AA$AA"} {
		if err := Check(bad, "x"); err == nil {
			t.Errorf("Check(%q) accepted a malformed hash", bad)
		}
	}
	if err := Check(Dummy, ""); !errors.Is(err, ErrMismatch) {
		t.Fatalf("the dummy hash must match nothing typed: %v", err)
	}
}

func TestWeakPasswordsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		pw      string
		context []string
		weak    bool
	}{
		{"password", nil, true},
		{"Password", nil, true},
		{"12345678", nil, true},
		{"iloveyou", nil, true},
		{"trustno1", nil, true},
		{"baseball", nil, true},
		{"aaaaaaaaaa", nil, true},
		{"agentlinks", nil, true},
		{"AgentLinks2024!", nil, true}, // the name with a year and a mark
		{"agentlinks1", nil, true},
		{"jane.doe@example.com", []string{"jane.doe@example.com"}, true},
		{"jane.doe", []string{"Jane.Doe@example.com"}, true},
		{"jane.doe99", []string{"jane.doe@example.com"}, true},
		{"correct horse battery", []string{"jane@example.com"}, false},
		{"owner password", nil, false},
		{"kX9#mQ2!vL", nil, false},
	} {
		if got := Weak(tc.pw, tc.context...); (got != "") != tc.weak {
			t.Errorf("Weak(%q, %q) = %q, want weak %v", tc.pw, tc.context, got, tc.weak)
		}
	}
	if n := len(common()); n < 29000 {
		t.Fatalf("the shipped list has %d passwords", n)
	}
}
