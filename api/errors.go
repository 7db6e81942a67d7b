package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/refusal"
)

// statusOf is the one table from a service refusal to an HTTP status.
var statusOf = map[refusal.Kind]int{
	refusal.KindInvalid:      http.StatusUnprocessableEntity,
	refusal.KindNotFound:     http.StatusNotFound,
	refusal.KindUnauthorized: http.StatusUnauthorized,
	refusal.KindConflict:     http.StatusConflict,
}

// httpError is a refusal of the transport's own: a body that is not JSON,
// too large, no such route, Stripe not configured or failing.
type httpError struct {
	status        int
	code, message string
}

func (e *httpError) Error() string { return e.code + ": " + e.message }

func transportError(status int, code, message string) error {
	return &httpError{status: status, code: code, message: message}
}

func badRequest(code, message string) error {
	return transportError(http.StatusBadRequest, code, message)
}

// fail answers an error. A refusal the caller can fix keeps its code; an
// outage is a 503 the caller may retry, and anything else a logged 500
// whose message leaks nothing.
func fail(c *gin.Context, err error) {
	var re *refusal.Error
	var he *httpError
	switch {
	case errors.As(err, &he):
		c.AbortWithStatusJSON(he.status, errorBody(he.code, he.message))
	case errors.As(err, &re):
		c.AbortWithStatusJSON(statusOf[re.Kind], errorBody(re.Code, re.Message))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(c.Request.Context().Err(), context.DeadlineExceeded):
		c.Header("Retry-After", "1")
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, errorBody("timeout",
			"the request took too long; it is safe to retry with the same transaction_id or refund_id"))
		_ = c.Error(err)
	default:
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody("internal",
			"something went wrong on our side; it is safe to retry with the same transaction_id or refund_id"))
		_ = c.Error(err)
	}
}

func tooLarge(n int64) error {
	return transportError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is larger than %d bytes", n))
}

func errorBody(code, msg string) gin.H {
	return gin.H{"error": gin.H{"code": code, "message": msg}}
}

// respond answers v with status, or the error.
func respond[T any](c *gin.Context, status int, v T, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, v)
}

func status(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// readBody reads the whole body within the route's limit.
func readBody(c *gin.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge(tooBig.Limit)
	}
	if err != nil {
		return nil, badRequest("invalid_body", "could not read the request body")
	}
	return body, nil
}

// bind decodes a JSON body; unknown fields are ignored (PRODUCT.md). A body
// that is not JSON, or a field of the wrong type, is a 400 that says which.
func bind(c *gin.Context, v any) bool {
	return bindWith(c, func(body []byte) error { return json.Unmarshal(body, v) })
}

// bindWith is bind with the body decoded by decode, which answers as
// encoding/json does (decodeClick).
func bindWith(c *gin.Context, decode func([]byte) error) bool {
	body, err := readBody(c)
	if err != nil {
		fail(c, err)
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		fail(c, badRequest("invalid_json", "the request body must be a JSON object"))
		return false
	}
	if err := decode(body); err != nil {
		msg := "the request body is not valid JSON"
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			// The request bodies are flat objects; the path of a field
			// of an embedded struct names the struct too.
			field := typeErr.Field[strings.LastIndex(typeErr.Field, ".")+1:]
			msg = fmt.Sprintf("field %q must be a %s, not a JSON %s", field, typeName(typeErr.Type), typeErr.Value)
			if typeErr.Field == "" {
				msg = "the request body must be a JSON object, not a JSON " + typeErr.Value
			}
		}
		fail(c, badRequest("invalid_json", msg))
		return false
	}
	return true
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeFor[cents]() {
		return "whole number of cents"
	}
	return t.Kind().String()
}
