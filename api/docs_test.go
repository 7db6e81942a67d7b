package api_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/internal/programs"
)

// docCall is one curl command of the integration docs' Option 2, with the
// answer written under it (status 0: none said; want nil: no JSON).
type docCall struct {
	method, path, body string
	keyed              bool
	status             int
	want               map[string]any
	line               int
}

// docCalls reads the Option 2 walkthrough of docs/integrating.md.
func docCalls(t *testing.T) []docCall {
	t.Helper()
	src, err := os.ReadFile("../docs/integrating.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	start := strings.Index(doc, "## Option 2: the HTTP API")
	block := doc[start:]
	block = block[strings.Index(block, "```sh\n")+6:]
	block = block[:strings.Index(block, "```")]
	firstLine := strings.Count(doc[:strings.Index(doc, block)], "\n") + 1
	pathIn := regexp.MustCompile(`localhost:8080(/\S+)`)
	bodyIn := regexp.MustCompile(`-d "((?:[^"\\]|\\.)*)"`)
	statusIn := regexp.MustCompile(`^(\d{3}) `)
	var calls []docCall
	var cmd strings.Builder
	var answer []string
	// An answer is the comment lines right under a command; a comment
	// after a blank line is a remark.
	underCommand := false
	flush := func() {
		if len(answer) == 0 {
			return
		}
		text := strings.Join(answer, "")
		c := &calls[len(calls)-1]
		if m := statusIn.FindStringSubmatch(text); m != nil {
			c.status, _ = strconv.Atoi(m[1])
			text = strings.TrimPrefix(text, m[0])
		}
		if strings.HasPrefix(text, "{") {
			// `,…}` says more fields follow: a key the comparison allows.
			text = strings.ReplaceAll(text, ",…}", `,"…":"…"}`)
			if err := json.Unmarshal([]byte(text), &c.want); err != nil {
				t.Fatalf("docs/integrating.md:%d: the answer is not JSON: %v\n%s", c.line, err, text)
			}
		}
		answer = nil
	}
	for i, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			if underCommand {
				answer = append(answer, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			}
		case strings.TrimSpace(line) == "":
			flush()
			underCommand = false
		default:
			flush()
			cmd.WriteString(strings.TrimSuffix(line, `\`))
			if strings.HasSuffix(line, `\`) {
				continue
			}
			c := docCall{method: "GET", line: firstLine + i}
			full := cmd.String()
			cmd.Reset()
			if strings.Contains(full, "-XPOST") {
				c.method = "POST"
			}
			c.keyed = strings.Contains(full, "Bearer $KEY")
			m := pathIn.FindStringSubmatch(full)
			if m == nil {
				t.Fatalf("docs/integrating.md:%d: no localhost:8080 path in %q", c.line, full)
			}
			c.path = m[1]
			if b := bodyIn.FindStringSubmatch(full); b != nil {
				c.body = strings.ReplaceAll(b[1], `\"`, `"`)
			}
			calls = append(calls, c)
			underCommand = true
		}
	}
	flush()
	return calls
}

// matches says where got differs from the documented answer: every field
// documented is there with the documented value ("…" is any value, "cv_…"
// any value with that prefix), and nothing else unless the doc ends in "…".
func matches(want, got map[string]any, at string) []string {
	var diffs []string
	_, more := want["…"]
	for k, w := range want {
		if k == "…" {
			continue
		}
		g, ok := got[k]
		if !ok {
			diffs = append(diffs, at+k+": documented, not answered")
			continue
		}
		switch w := w.(type) {
		case string:
			if p, ok := strings.CutSuffix(w, "…"); ok {
				if s, _ := g.(string); !strings.HasPrefix(s, p) {
					diffs = append(diffs, at+k+": answered "+strconv.Quote(s)+", documented "+strconv.Quote(w))
				}
			} else if g != w {
				diffs = append(diffs, at+k+": answered "+strconv.Quote(toJSON(g))+", documented "+strconv.Quote(w))
			}
		case map[string]any:
			gm, _ := g.(map[string]any)
			diffs = append(diffs, matches(w, gm, at+k+".")...)
		default:
			if toJSON(g) != toJSON(w) {
				diffs = append(diffs, at+k+": answered "+toJSON(g)+", documented "+toJSON(w))
			}
		}
	}
	if !more {
		for k := range got {
			if _, ok := want[k]; !ok {
				diffs = append(diffs, at+k+": answered, not documented")
			}
		}
	}
	return diffs
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// The integration docs' Option 2 walkthrough, run as written against the
// API: every curl command in order ($REF, $KEY and cv_… filled in), each
// answer compared with the one written under it. The program holds for
// seconds, not the doc's minute; an answer that comes after the hold is
// asked again until the hold is over.
func TestIntegrationDocsAnswerAsWritten(t *testing.T) {
	p := newProgram(t, func(a *programs.NewApp) { a.Hold = 3 * time.Second })
	calls := docCalls(t)
	if len(calls) < 6 {
		t.Fatalf("found %d calls in the Option 2 walkthrough", len(calls))
	}
	var conversionID string
	checked := 0
	for _, c := range calls {
		fill := strings.NewReplacer("$REF", p.ref, "$KEY", p.key, "cv_…", conversionID)
		key := ""
		if c.keyed {
			key = p.key
		}
		var body any
		if c.body != "" {
			body = fill.Replace(c.body)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			a := call(t, c.method, fill.Replace(c.path), key, body)
			if id, ok := a.body["conversion_id"].(string); ok {
				conversionID = id
			}
			var diffs []string
			if c.status != 0 && a.status != c.status {
				diffs = append(diffs, "status "+strconv.Itoa(a.status)+", documented "+strconv.Itoa(c.status))
			}
			if a.status >= 300 {
				diffs = append(diffs, "answered "+a.raw)
			}
			if c.want != nil {
				diffs = append(diffs, matches(c.want, a.body, "")...)
			}
			if len(diffs) == 0 {
				break
			}
			// Only a read may wait (for the hold to end); a write that
			// answers otherwise than documented is wrong at once.
			if c.method != "GET" || time.Now().After(deadline) {
				t.Fatalf("docs/integrating.md:%d: %s %s does not answer as documented:\n  %s\n%s", c.line, c.method, c.path, strings.Join(diffs, "\n  "), a.raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if c.want != nil {
			checked++
		}
	}
	if checked < 6 {
		t.Fatalf("compared %d documented answers", checked)
	}
}
