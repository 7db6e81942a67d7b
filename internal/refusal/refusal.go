// Package refusal is how the service says no to a caller who can fix the
// request: a Kind the transport maps to one status, a stable machine
// readable Code and a Message that says what to do. Anything that is not a
// refusal is an outage or a bug.
package refusal

import "fmt"

// Kind says what went wrong, in terms a caller can act on.
type Kind int

const (
	KindInvalid      Kind = iota + 1 // the request is well formed but wrong (422)
	KindNotFound                     // what it names does not exist (404)
	KindUnauthorized                 // no or wrong credentials (401)
	KindConflict                     // a repeat that differs from the first (409)
)

// Error is a refusal the caller can fix. Err, when set, is a sentinel the
// refusal stands for (errors.Is finds it), so that code below the
// transport can tell refusals apart without comparing codes.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the sentinel the refusal stands for, if any.
func (e *Error) Unwrap() error { return e.Err }

func newf(kind Kind, code, format string, args []any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid refuses a well-formed request that is wrong.
func Invalid(code, format string, args ...any) *Error {
	return newf(KindInvalid, code, format, args)
}

// NotFound refuses a request naming what does not exist.
func NotFound(code, format string, args ...any) *Error {
	return newf(KindNotFound, code, format, args)
}

// Unauthorized refuses a request without the right credentials.
func Unauthorized(code, format string, args ...any) *Error {
	return newf(KindUnauthorized, code, format, args)
}

// Conflict refuses a repeat that differs from the first.
func Conflict(code, format string, args ...any) *Error {
	return newf(KindConflict, code, format, args)
}

// Because sets the sentinel the refusal stands for and returns it.
func (e *Error) Because(sentinel error) *Error {
	e.Err = sentinel
	return e
}
