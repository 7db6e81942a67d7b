package password

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"
)

// Length is the main rule (MinLen). On top of it, as NIST SP 800-63B
// (5.1.1.2) and OWASP ASVS 4.0 (V2.1.7) ask, a password is refused when it
// is one that attackers try first:
//
//   - one of the 30,000 passwords seen most often in breached password
//     corpora: the "passwords" list of Dropbox's zxcvbn 4.4.2 (drawn from
//     Mark Burnett's ten million leaked passwords), shipped in the binary
//     through github.com/trustelem/zxcvbn's frequency package (MIT licence,
//     Copyright (c) 2018 Vincent Vanackere and Trustelem; the list itself
//     is MIT-licensed with zxcvbn, Copyright (c) 2012-2016 Dan Wheeler and
//     Dropbox, Inc.);
//   - one character repeated;
//   - words of the context (the account's email, or its part before the
//     @) or the product's name.
//
// Compared case-insensitively.

var common = sync.OnceValue(func() map[string]bool {
	list := frequency.FrequencyLists["passwords"]
	m := make(map[string]bool, len(list))
	for _, p := range list {
		m[p] = true
	}
	return m
})

// Weak says why pw is too easy to guess, or "" when it is not. context are
// words of the account the password is for (its email).
func Weak(pw string, context ...string) string {
	lower := strings.ToLower(pw)
	if common()[lower] {
		return "this password is one of the most common ones, which attackers try first"
	}
	if r, _ := utf8.DecodeRuneInString(lower); strings.Count(lower, string(r)) == utf8.RuneCountInString(lower) {
		return "a password of one character repeated is guessed at once"
	}
	words := []string{"agentlinks"}
	for _, c := range context {
		c = strings.ToLower(strings.TrimSpace(c))
		words = append(words, c)
		if name, _, ok := strings.Cut(c, "@"); ok {
			words = append(words, name)
		}
	}
	for _, w := range words {
		if w != "" && (lower == w || strings.TrimRight(lower, "0123456789!.") == w) {
			return "a password made of your email or the site's name is guessed at once"
		}
	}
	return ""
}
