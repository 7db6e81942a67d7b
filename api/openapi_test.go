package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/agentlinks/agentlinks/api"
)

// contract checks the API's traffic against api/openapi.yaml: every
// request the API accepted (2xx) must be one the spec allows, and every
// answer must be one the spec declares, field for field. A test that sends
// bad input on purpose gets a 4xx, whose body must still be the spec's
// error. Violations are collected and fail the package (TestMain).
type contract struct {
	router routers.Router
	mu     sync.Mutex
	bad    []string
	seen   map[string]bool // operations exercised
}

func newContract() (*contract, error) {
	doc, err := api.OpenAPI()
	if err != nil {
		return nil, err
	}
	// Route by path alone (the servers entry is /).
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &contract{router: r, seen: map[string]bool{}}, nil
}

// inSpec says whether the spec must describe a path: the JSON API and the
// health checks; the dashboard's pages, the script and /metrics are not
// part of it.
func inSpec(path string) bool {
	return (strings.HasPrefix(path, "/api/") && path != "/api/docs") || path == "/healthz" || path == "/readyz"
}

func (k *contract) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !inSpec(r.URL.Path) || r.Method == http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		k.check(r, body, rec)
	})
}

func (k *contract) fail(format string, args ...any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.bad) < 50 {
		k.bad = append(k.bad, fmt.Sprintf(format, args...))
	}
}

func (k *contract) check(r *http.Request, body []byte, rec *httptest.ResponseRecorder) {
	what := r.Method + " " + r.URL.Path
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(body))
	// The router matches the request's URL against the server's; an
	// httptest server's host is not in the spec.
	req.URL.Scheme, req.URL.Host, req.Host = "", "", ""
	// The API reads a body as JSON whatever its content type; a caller
	// that sends none (curl -d, some SDKs) is read as application/json.
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header = req.Header.Clone()
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := k.router.FindRoute(req)
	if err != nil {
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			k.fail("%s answered %d but is not in the spec: %v", what, rec.Code, err)
		}
		return
	}
	k.mu.Lock()
	k.seen[route.Method+" "+route.Path] = true
	k.mu.Unlock()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true}}
	if rec.Code >= 200 && rec.Code < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			k.fail("%s was accepted (%d) but its request is not the spec's: %v\nbody: %.300s", what, rec.Code, err, body)
		}
	}
	// The other way round: a request the spec calls valid is never
	// refused for a field it lacks. A client generated from the spec would
	// send it, and find out only at run time.
	if code := errorCode(rec.Body.Bytes()); (rec.Code == http.StatusBadRequest || rec.Code == http.StatusUnprocessableEntity) &&
		strings.HasPrefix(code, "missing_") {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err == nil {
			k.fail("%s was refused %d %s, but the spec calls the request valid (mark the field required)\nbody: %.300s", what, rec.Code, code, body)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		k.fail("%s answered %d, not as the spec says: %v\nbody: %.300s", what, rec.Code, err, rec.Body.String())
	}
}

// bearerPresent is the spec's secretKey scheme as a validator sees it: the
// header is there (the API decides whether the key is good).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return nil
	}
	return fmt.Errorf("no bearer key")
}

// unexercised are the spec's operations no test called.
func (k *contract) unexercised() []string {
	doc, _ := api.OpenAPI()
	var out []string
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			if !k.seen[method+" "+path] {
				out = append(out, method+" "+path)
			}
		}
	}
	return out
}

// The contract is served as JSON an OpenAPI 3.1 tool loads, and as a page;
// the health checks answer as it says.
func TestOpenAPIIsServed(t *testing.T) {
	res, err := http.Get(srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("served spec: 3.1 %v, %v", doc.IsOpenAPI31OrLater(), err)
	}
	for _, p := range []string{"/api/track/conversion", "/api/webhooks", "/api/payouts/runs/{id}", "/api/creators/{ref}/balance"} {
		if doc.Paths.Value(p) == nil {
			t.Errorf("served spec lacks %s", p)
		}
	}
	if len(doc.Webhooks) != 5 {
		t.Errorf("served spec has %d webhooks, want the 5 events", len(doc.Webhooks))
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if a := call(t, "GET", p, "", nil); a.status != 200 {
			t.Errorf("%s: %d %s", p, a.status, a.raw)
		}
	}
	res, err = http.Get(srv.URL + "/api/docs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	html, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(html), "/api/track/conversion") || !strings.Contains(string(html), "/api/openapi.json") {
		t.Fatalf("docs page: %d %.300s", res.StatusCode, html)
	}
}

// The contract check fails on drift: an answer with a field of the wrong
// type, a field the spec does not have, or a status it does not declare.
func TestContractCatchesDrift(t *testing.T) {
	k, err := newContract()
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(method, path, body string, status int, answer string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk_x")
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(status)
		rec.WriteString(answer)
		k.check(req, []byte(body), rec)
	}
	good := `{"pending_cents":1,"available_cents":2,"paid_cents":3,"in_payout_cents":0}`
	exchange("GET", "/api/creators/abc/balance", "", 200, good)
	if len(k.bad) != 0 {
		t.Fatalf("a good answer was refused: %v", k.bad)
	}
	exchange("GET", "/api/creators/abc/balance", "", 200, `{"pending_cents":"1","available_cents":2,"paid_cents":3,"in_payout_cents":0}`)
	exchange("GET", "/api/creators/abc/balance", "", 200, `{"pending_cents":1,"available_cents":2,"paid_cents":3,"in_payout_cents":0,"bonus_cents":5}`)
	exchange("GET", "/api/creators/abc/balance", "", 200, `{"pending_cents":1}`)
	// An accepted request the spec refuses, answered with an empty object:
	// two violations.
	exchange("POST", "/api/track/conversion", `{"ref":"x","amount_cents":"100"}`, 201, `{}`)
	exchange("GET", "/api/nothing/here", "", 200, `{}`)
	if len(k.bad) != 6 {
		t.Fatalf("want 6 violations, got %d: %v", len(k.bad), k.bad)
	}
}

// errorCode is the code of an error answer, {"error":{"code":…}}, or "".
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}
