package layers_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/agentlinks/agentlinks/"

// imports lists every package of the module (tests excluded) with the
// module's packages it imports directly.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(f[0], mod)
		deps[pkg] = nil
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, mod) {
				deps[pkg] = append(deps[pkg], strings.TrimPrefix(imp, mod))
			} else if imp == "github.com/gin-gonic/gin" || imp == "go.temporal.io/sdk/workflow" || imp == "github.com/jackc/pgx/v5" {
				deps[pkg] = append(deps[pkg], imp)
			}
		}
	}
	if len(deps) < 10 {
		t.Fatalf("go list found %d packages: %s", len(deps), out)
	}
	return deps
}

func TestLayersDependInOneDirection(t *testing.T) {
	deps := imports(t)
	// may says which of the layers a package may import; a package not
	// named here may import any of them but api (cmd, bench, test helpers).
	may := map[string][]string{
		"api":        {"service"},
		"service":    {"workflows"},
		"workflows":  {"activities"},
		"activities": {},
		"worker":     {"activities", "workflows"},
	}
	layers := []string{"api", "worker", "service", "workflows", "activities"}
	for pkg, imps := range deps {
		allowed, ruled := may[pkg]
		for _, imp := range imps {
			if !slices.Contains(layers, imp) {
				continue
			}
			switch {
			case imp == "api" && !strings.HasPrefix(pkg, "cmd/") && pkg != "bench":
				t.Errorf("%s imports api: only cmd serves it", pkg)
			case ruled && !slices.Contains(allowed, imp):
				t.Errorf("%s imports %s, against the direction api, worker → service → workflows → activities", pkg, imp)
			}
		}
	}
}

// internal/ holds what every layer may use (pure rules such as commission
// and ledger, ids, config, test infrastructure), so nothing in it reaches
// up into the layers or the commands: the layers read from ls alone.
func TestInternalReachesIntoNoLayer(t *testing.T) {
	above := []string{"api", "service", "workflows", "activities", "worker", "cmd"}
	var internal int
	for pkg, imps := range imports(t) {
		if !strings.HasPrefix(pkg, "internal/") {
			continue
		}
		internal++
		for _, imp := range imps {
			top, _, _ := strings.Cut(imp, "/")
			if slices.Contains(above, top) {
				t.Errorf("%s imports %s: nothing under internal/ imports %s", pkg, imp, strings.Join(above, ", "))
			}
		}
	}
	if internal < 10 {
		t.Errorf("found %d packages under internal/", internal)
	}
}

// No package knows HTTP (Gin), workflows (Temporal) and SQL (pgx) at once.
func TestNoPackageKnowsGinTemporalAndSQL(t *testing.T) {
	for pkg, imps := range imports(t) {
		if slices.Contains(imps, "github.com/gin-gonic/gin") && slices.Contains(imps, "go.temporal.io/sdk/workflow") && slices.Contains(imps, "github.com/jackc/pgx/v5") {
			t.Errorf("%s imports Gin, Temporal's workflow package and pgx", pkg)
		}
	}
}
