package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/service"
)

type clickRequest struct {
	Ref       string `json:"ref"`
	AppID     string `json:"app_id"`
	URL       string `json:"url"`
	Referrer  string `json:"referrer"`
	VisitorID string `json:"visitor_id"`
}

func (s *server) trackClick(c *gin.Context) {
	var req clickRequest
	if !bindWith(c, func(body []byte) error { return decodeClick(body, &req) }) || !s.limitRef(c, req.Ref) {
		return
	}
	res, err := s.svc.Click(c.Request.Context(), service.ClickInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), URL: req.URL, Referrer: req.Referrer,
		VisitorID: req.VisitorID, ClientIP: c.ClientIP(), UserAgent: c.Request.UserAgent(),
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", clickAnswer(res.Unique, res.CookieDays))
}

// clickAnswer is the 202's body, {"accepted":true,"unique":…,"cookie_days":…},
// written without the JSON encoder: the busiest answer of the API.
func clickAnswer(unique bool, cookieDays int32) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"accepted":true,"unique":`...)
	b = strconv.AppendBool(b, unique)
	b = append(b, `,"cookie_days":`...)
	b = strconv.AppendInt(b, int64(cookieDays), 10)
	return append(b, '}')
}

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
// fields in encoding/json's case-insensitive matching: an ASCII key that
// differs from every field's name other than by case. (Non-ASCII keys may fold to ASCII, as "ſ" to "s" and
// "K" to "k", and go to encoding/json.)
func plainKey(key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, name := range [...]string{"ref", "app_id", "url", "referrer", "visitor_id"} {
		if bytes.EqualFold(key, []byte(name)) { // ASCII here: folds as encoding/json does
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

type signupRequest struct {
	Ref    string `json:"ref"`
	AppID  string `json:"app_id"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

func (s *server) trackSignup(c *gin.Context) {
	var req signupRequest
	if !bind(c, &req) || !s.limitRef(c, req.Ref) {
		return
	}
	ref, created, err := s.svc.Signup(c.Request.Context(), service.SignupInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, Email: req.Email,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status(created), ref)
}

// appID is the app a request names: in its body, else in the query string,
// where the tracking script puts it so that a CORS preflight carries it too.
func appID(c *gin.Context, body string) string {
	if body != "" {
		return body
	}
	return c.Query("app_id")
}
