package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
)

// The API's contract: OpenAPI 3.1, written in openapi.yaml, served as
// JSON at /api/openapi.json and as a page at /api/docs. The api tests
// validate every request the API accepts and every answer it gives
// against it, so that it cannot drift from the code.

//go:embed openapi.yaml
var openapiYAML []byte

var spec struct {
	once sync.Once
	doc  *openapi3.T
	json []byte
	err  error
}

// OpenAPI is the parsed and validated contract.
func OpenAPI() (*openapi3.T, error) {
	spec.once.Do(func() {
		loader := openapi3.NewLoader()
		spec.doc, spec.err = loader.LoadFromData(openapiYAML)
		if spec.err == nil {
			spec.err = spec.doc.Validate(context.Background())
		}
		if spec.err == nil {
			spec.json, spec.err = json.Marshal(spec.doc)
		}
		if spec.err != nil {
			spec.err = fmt.Errorf("api/openapi.yaml: %w", spec.err)
		}
	})
	return spec.doc, spec.err
}

func (s *server) openapiJSON(c *gin.Context) {
	if _, err := OpenAPI(); err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", spec.json)
}

// apiOp is one operation as the docs page lists it.
type apiOp struct {
	Method, Path, Summary, Description, Auth, Tag string
	Params                                        []apiParam
	Body                                          string // example of the request body's fields
	Responses                                     []apiResponse
}

type apiParam struct{ Name, In, Type, Description string }

type apiResponse struct{ Status, Description, Fields string }

// apiDocs is the contract as a page a developer reads.
func (s *server) apiDocs(c *gin.Context) {
	data, err := docsData()
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, http.StatusOK, "api_docs", page{Title: "API reference", Data: data})
}

var docs struct {
	once sync.Once
	data map[string]any
	err  error
}

// docsData is what the docs page shows, read from the contract once.
func docsData() (map[string]any, error) {
	docs.once.Do(func() {
		doc, err := OpenAPI()
		if err != nil {
			docs.err = err
			return
		}
		docs.data = docsOf(doc)
	})
	return docs.data, docs.err
}

func docsOf(doc *openapi3.T) map[string]any {
	var ops []apiOp
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			o := apiOp{Method: method, Path: path, Summary: op.Summary, Description: strings.ReplaceAll(op.Description, "`", ""), Auth: authOf(doc, op)}
			if len(op.Tags) > 0 {
				o.Tag = op.Tags[0]
			}
			for _, p := range op.Parameters {
				o.Params = append(o.Params, apiParam{Name: p.Value.Name, In: p.Value.In, Type: typeOf(p.Value.Schema), Description: p.Value.Description})
			}
			if op.RequestBody != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
					o.Body = fieldsOf(mt.Schema)
				}
			}
			codes := make([]string, 0, op.Responses.Len())
			for code := range op.Responses.Map() {
				codes = append(codes, code)
			}
			sort.Strings(codes)
			for _, code := range codes {
				r := op.Responses.Value(code).Value
				desc := ""
				if r.Description != nil {
					desc = *r.Description
				}
				fields := ""
				if mt := r.Content.Get("application/json"); mt != nil {
					fields = fieldsOf(mt.Schema)
				}
				o.Responses = append(o.Responses, apiResponse{Status: code, Description: desc, Fields: fields})
			}
			ops = append(ops, o)
		}
	}
	order := map[string]int{}
	for i, t := range doc.Tags {
		order[t.Name] = i
	}
	sort.SliceStable(ops, func(i, j int) bool {
		if order[ops[i].Tag] != order[ops[j].Tag] {
			return order[ops[i].Tag] < order[ops[j].Tag]
		}
		// As written in openapi.yaml.
		pi, pj := bytes.Index(openapiYAML, []byte("\n  "+ops[i].Path+":")), bytes.Index(openapiYAML, []byte("\n  "+ops[j].Path+":"))
		if pi != pj {
			return pi < pj
		}
		return ops[i].Method < ops[j].Method
	})
	var events []string
	for name := range doc.Webhooks {
		events = append(events, name)
	}
	sort.Strings(events)
	return map[string]any{"Info": doc.Info, "Ops": ops, "Tags": doc.Tags, "Events": events}
}

func authOf(doc *openapi3.T, op *openapi3.Operation) string {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	keyed, open := false, false
	for _, r := range reqs {
		if len(r) == 0 {
			open = true
		} else {
			keyed = true
		}
	}
	switch {
	case keyed && open:
		return "secret key (optional in keyless mode)"
	case keyed:
		return "secret key"
	}
	return "public"
}

func typeOf(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil {
		return ""
	}
	if ref.Value.Type != nil && len(*ref.Value.Type) > 0 {
		t := strings.Join(*ref.Value.Type, " | ")
		if t == "array" && ref.Value.Items != nil {
			return "array of " + typeOf(ref.Value.Items)
		}
		return t
	}
	if ref.Ref != "" {
		return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
	}
	return "object"
}

// fieldsOf lists an object's fields as "name (type, required)".
func fieldsOf(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil || len(ref.Value.Properties) == 0 {
		if ref != nil && ref.Ref != "" {
			return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
		}
		return ""
	}
	names := make([]string, 0, len(ref.Value.Properties))
	for n := range ref.Value.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		req := false
		for _, r := range ref.Value.Required {
			req = req || r == n
		}
		fmt.Fprintf(&b, " (%s%s)", typeOf(ref.Value.Properties[n]), map[bool]string{true: ", required"}[req])
	}
	return b.String()
}
