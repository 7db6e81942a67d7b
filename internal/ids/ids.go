// Package ids makes the identifiers AgentLinks hands out: prefixed random ids
// (app_…, cv_…), secret keys and short ref codes.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// lower-case base32 without padding: URL-safe and readable.
var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New returns prefix_ followed by 80 random bits (16 characters).
func New(prefix string) string {
	return prefix + "_" + random(10)
}

// Derived returns prefix_ followed by a digest of parts: the same business
// key always yields the same id, so a retried request names the same thing.
func Derived(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + "_" + enc.EncodeToString(h.Sum(nil)[:15])
}

// SecretKey returns a new app secret key (sk_ and 256 random bits).
func SecretKey() string {
	return "sk_" + random(32)
}

// HashKey is how a secret key is stored and looked up.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// refAlphabet leaves out characters that are easy to misread (0/o, 1/l/i).
const refAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// RefCode returns a short code like the guide's "bf7k2x" (31^6 ≈ 887
// million codes); the caller retries on the rare collision.
func RefCode() string {
	b := make([]byte, 6)
	var sb strings.Builder
	for {
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		sb.Reset()
		for _, c := range b {
			if int(c) >= 256/len(refAlphabet)*len(refAlphabet) {
				break // rejection sampling keeps every character equally likely
			}
			sb.WriteByte(refAlphabet[int(c)%len(refAlphabet)])
		}
		if sb.Len() == len(b) {
			return sb.String()
		}
	}
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return enc.EncodeToString(b)
}

// FormToken returns a one-time token for a dashboard form (128 random
// bits, 26 characters).
func FormToken() string {
	return random(16)
}
