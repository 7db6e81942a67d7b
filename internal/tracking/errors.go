package tracking

import "fmt"

// Kind says what went wrong, in terms a caller can act on; the API maps
// each kind to one HTTP status.
type Kind int

const (
	KindInvalid      Kind = iota + 1 // the request is well formed but wrong (422)
	KindNotFound                     // what it names does not exist (404)
	KindUnauthorized                 // no or wrong secret key (401)
	KindConflict                     // a repeat that differs from the first (409)
)

// Error is a refusal the caller can fix. Code is stable and machine
// readable; Message says what to do.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(code, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(code, format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

func unauthorized(code, format string, args ...any) *Error {
	return &Error{Kind: KindUnauthorized, Code: code, Message: fmt.Sprintf(format, args...)}
}

func conflict(code, format string, args ...any) *Error {
	return &Error{Kind: KindConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}
