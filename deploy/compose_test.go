package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// docker-compose.yml is the production shape, kept in step with what
// `make dev` and `make prod-local` run: Temporal's server and admin tools
// at the server version the pinned tools build (no deprecated
// auto-setup), the schema job before the server, api and worker after
// migrations and the namespace, every mounted deploy file present, and
// every variable the app is given one it reads.
func TestComposeIsTheProductionShape(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	mod, err := os.ReadFile("../tools/temporal-server/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go\.temporal\.io/server v(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("tools/temporal-server/go.mod names no go.temporal.io/server")
	}
	server := string(m[1])
	for name, s := range c.Services {
		if strings.Contains(s.Image, "auto-setup") {
			t.Errorf("%s uses %s: Temporal no longer builds auto-setup", name, s.Image)
		}
		if img, tag, ok := strings.Cut(s.Image, ":"); ok && (img == "temporalio/server" || img == "temporalio/admin-tools") && tag != server {
			t.Errorf("%s runs %s, not the server version the tools pin (%s)", name, s.Image, server)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s, which is missing", name, src)
				}
			}
		}
	}
	need := map[string]map[string]string{
		"temporal":           {"temporal-schema": "service_completed_successfully"},
		"temporal-namespace": {"temporal": "service_healthy"},
		"api":                {"migrate": "service_completed_successfully", "temporal-namespace": "service_completed_successfully"},
		"worker":             {"migrate": "service_completed_successfully", "temporal-namespace": "service_completed_successfully"},
	}
	for svc, deps := range need {
		s, ok := c.Services[svc]
		if !ok {
			t.Errorf("no service %s", svc)
			continue
		}
		for dep, cond := range deps {
			if s.DependsOn[dep].Condition != cond {
				t.Errorf("%s does not wait for %s (%s)", svc, dep, cond)
			}
		}
	}
	for _, svc := range []string{"migrate", "api", "worker"} {
		if got := c.Services[svc].Command; !slices.Equal(got, []string{svc}) {
			t.Errorf("%s runs %v", svc, got)
		}
	}
	// Every variable given to the app is one it reads, and `agentlinks
	// help` lists it.
	cfg, err := os.ReadFile("../internal/config/config.go")
	if err != nil {
		t.Fatal(err)
	}
	usage, err := os.ReadFile("../cmd/agentlinks/main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"migrate", "api", "worker"} {
		for k := range c.Services[svc].Environment {
			if !strings.Contains(string(cfg), `"`+k+`"`) {
				t.Errorf("%s is given %s, which agentlinks does not read", svc, k)
			}
			if !strings.Contains(string(usage), k) {
				t.Errorf("%s is given %s, which agentlinks help does not list", svc, k)
			}
		}
	}
}
