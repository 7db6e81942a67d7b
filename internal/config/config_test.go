package config

import (
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
