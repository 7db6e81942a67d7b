package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestWorkerSizing(t *testing.T) {
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Worker != DefaultWorkerSizing {
		t.Fatalf("without settings the worker is sized %+v, want the defaults %+v", c.Worker, DefaultWorkerSizing)
	}
	t.Setenv("WORKER_CACHE_SIZE", "500")
	t.Setenv("WORKER_ACTIVITY_POLLERS", "2")
	if c, err = FromEnv(); err != nil {
		t.Fatal(err)
	}
	if c.Worker.CacheSize != 500 || c.Worker.ActivityPollers != 2 || c.Worker.WorkflowPollers != DefaultWorkerSizing.WorkflowPollers {
		t.Fatalf("sized %+v, want cache 500, 2 activity pollers, the rest default", c.Worker)
	}
	for _, bad := range []string{"0", "-3", "lots", "1.5"} {
		t.Setenv("WORKER_MAX_ACTIVITIES", bad)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "WORKER_MAX_ACTIVITIES") {
			t.Errorf("WORKER_MAX_ACTIVITIES=%s: want an error naming the setting, got %v", bad, err)
		}
	}
}

func TestAPIWorker(t *testing.T) {
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.APIWorker {
		t.Fatal("the api role runs the worker only when asked")
	}
	t.Setenv("API_WORKER", "true")
	if c, err = FromEnv(); err != nil || !c.APIWorker {
		t.Fatalf("API_WORKER=true: got %v, %v", c.APIWorker, err)
	}
	t.Setenv("API_WORKER", "sometimes")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "API_WORKER") {
		t.Fatalf("API_WORKER=sometimes: want an error naming the setting, got %v", err)
	}
}

// Every variable the binary reads is in the configuration table operators
// read (docs/operating.md), so that a new setting cannot ship unexplained.
func TestEveryVariableIsDocumented(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})"`).FindAllStringSubmatch(string(src), -1)
	if len(vars) < 20 {
		t.Fatalf("found %d variables in config.go", len(vars))
	}
	for _, v := range vars {
		if !strings.Contains(string(doc), "| `"+v[1]+"`") && !strings.Contains(string(doc), ", `"+v[1]+"`") {
			t.Errorf("%s is read by the binary but not in docs/operating.md's configuration table", v[1])
		}
	}
}
