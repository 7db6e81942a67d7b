// Package botua tells crawlers and link previewers from browsers by their
// User-Agent, in about a microsecond and without a regular expression: the
// agent is lower-cased into a stack buffer and searched for a fixed list
// of tokens. It answers exactly as the regular expression it replaced
// (Pattern, kept for the tests and for agents that are not ASCII).
package botua

import (
	"bytes"
	"regexp"
)

// Pattern is the definition: a crawler or previewer is an agent this
// matches. Server-side callers (curl, node, Go) are not bots: the guide
// tells apps to call from their backends.
const Pattern = `(?i)bot\b|bot/|crawl|spider|slurp|bingpreview|facebookexternalhit|embedly|` +
	`preview|whatsapp|telegram|slack|discord|pinterest|vkshare|skypeuripreview|yandex|baidu|semrush|ahrefs|` +
	`lighthouse|pingdom|uptimerobot|python-requests/0`

var pattern = regexp.MustCompile(Pattern)

// tokens are Pattern's alternatives that match anywhere (bot\b and bot/
// are checked apart; bingpreview and skypeuripreview contain preview).
var tokens = [][]byte{[]byte("crawl"), []byte("spider"), []byte("slurp"), []byte("preview"), []byte("facebookexternalhit"),
	[]byte("embedly"), []byte("whatsapp"), []byte("telegram"), []byte("slack"), []byte("discord"), []byte("pinterest"),
	[]byte("vkshare"), []byte("yandex"), []byte("baidu"), []byte("semrush"), []byte("ahrefs"), []byte("lighthouse"),
	[]byte("pingdom"), []byte("uptimerobot"), []byte("python-requests/0")}

var bot = []byte("bot")

// Is says whether ua is a crawler's or a link previewer's.
func Is(ua string) bool {
	var buf [512]byte
	if len(ua) > len(buf) {
		return pattern.MatchString(ua)
	}
	b := buf[:len(ua)]
	for i := 0; i < len(ua); i++ {
		c := ua[i]
		if c >= 0x80 {
			// Case folding beyond ASCII (the Kelvin sign is a k to
			// (?i)): rare in agents, left to the pattern.
			return pattern.MatchString(ua)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	for _, t := range tokens {
		if bytes.Contains(b, t) {
			return true
		}
	}
	// bot\b (bot/ is one of its cases): "bot" not followed by a word
	// character.
	for rest := b; ; {
		i := bytes.Index(rest, bot)
		if i < 0 {
			return false
		}
		rest = rest[i+3:]
		if len(rest) == 0 || !word(rest[0]) {
			return true
		}
	}
}

func word(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z')
}
