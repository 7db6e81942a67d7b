package api

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeClick decodes a click's body. The click is the API's busiest
// request, and its body is a flat object of short strings, as agentlinks.js
// and every integration guide example send it: such a body is read by
// scanClick in one pass without reflection. Anything else (escapes, keys
// in another case, values that are not strings, nesting, bad JSON) goes to
// encoding/json, whose answer, and error, is the API's. FuzzClickBody holds
// the two to the same result.
func decodeClick(body []byte, req *clickRequest) error {
	if scanClick(body, req) {
		return nil
	}
	*req = clickRequest{}
	return json.Unmarshal(body, req)
}

// scanClick reads body into req when it is a flat JSON object whose keys
// and values are strings without escapes, in valid UTF-8, and says whether
// it did. Keys are matched exactly; a repeated key keeps its last value, and
// unknown keys are ignored, as encoding/json does.
func scanClick(body []byte, req *clickRequest) bool {
	var r clickRequest
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			key, j, ok := plainString(body, i)
			if !ok {
				return false
			}
			i = skipSpace(body, j)
			if i == len(body) || body[i] != ':' {
				return false
			}
			value, j, ok := plainString(body, skipSpace(body, i+1))
			if !ok {
				return false
			}
			switch string(key) { // no allocation: the compiler compares in place
			case "ref":
				r.Ref = string(value)
			case "app_id":
				r.AppID = string(value)
			case "url":
				r.URL = string(value)
			case "referrer":
				r.Referrer = string(value)
			case "visitor_id":
				r.VisitorID = string(value)
			default:
				if !plainKey(key) {
					return false // encoding/json matches keys without regard to case
				}
			}
			i = skipSpace(body, j)
			if i == len(body) {
				return false
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return false
			}
			i = skipSpace(body, i+1)
		}
	}
	if skipSpace(body, i) != len(body) {
		return false
	}
	*req = r
	return true
}

// plainString reads the JSON string at body[i:] when it has no escape and
// no control character, and is valid UTF-8; it returns its contents and the
// index after its closing quote.
func plainString(body []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(body) || body[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(body); j++ {
		switch c := body[j]; {
		case c == '"':
			s = body[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false // encoding/json replaces bad bytes with U+FFFD
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// plainKey says whether an unknown key cannot match one of the click's
// fields in encoding/json's case-insensitive matching: a key of ASCII
// letters, digits and underscores that differs from every field's name
// other than by case. (Non-ASCII keys may fold to ASCII, as "ſ" to "s" and
// "K" to "k", and go to encoding/json.)
func plainKey(key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, name := range [...]string{"ref", "app_id", "url", "referrer", "visitor_id"} {
		if equalFoldASCII(key, name) {
			return false
		}
	}
	return true
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
