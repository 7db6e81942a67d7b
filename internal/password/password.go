// Package password hashes and checks account passwords with argon2id
// (golang.org/x/crypto/argon2) at OWASP's recommended parameters (Password
// Storage Cheat Sheet: m=19 MiB, t=2, p=1), stored as a PHC string
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash) so that a hash made with older
// parameters still verifies after they change.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// Bounds on what a person may choose: NIST SP 800-63B asks for at least 8
// characters and no composition rules; the upper bound keeps one login
// from costing more than its hash.
const (
	MinLen = 8
	MaxLen = 256
)

// ErrMismatch is a password that does not match the hash.
var ErrMismatch = errors.New("password does not match")

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of a new argon2id hash of pw.
func Hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, passes, memoryKiB, lanes, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check reports whether pw matches the PHC string hash (nil), in time that
// does not depend on where they differ.
func Check(hash, pw string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("argon2 version %q is not supported", parts[2])
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return fmt.Errorf("argon2id parameters %q: %w", parts[3], err)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return err
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return err
	}
	// argon2 panics on a zero-length key, and these come from storage:
	// refuse what no Hash made rather than trust them.
	if len(want) < 16 || len(salt) < 8 || t < 1 || p < 1 || m < 8*uint32(p) || m > 1<<20 {
		return fmt.Errorf("argon2id hash with parameters %q and a %d-byte key is not one this code makes", parts[3], len(want))
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// Dummy is a hash of nothing anyone can type, checked when an account does
// not exist so that a login takes as long whether the email is known or
// not.
var Dummy = func() string {
	h, err := Hash("\x00no account\x00")
	if err != nil {
		panic(err)
	}
	return h
}()
