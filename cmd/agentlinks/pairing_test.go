package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/agentlinks/agentlinks/internal/testenv"
)

// TestDevKeepsTemporalStatePerDatabase runs `agentlinks dev` against one
// database, leaves a conversion on hold, stops, then starts against a
// second database with the same DATA_DIR: the second stack must not see
// (or resume) the first one's workflow, and the first database gets its
// workflow back when the stack runs against it again.
func TestDevKeepsTemporalStatePerDatabase(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("DATA_DIR", dataDir)
	t.Setenv("LOG_LEVEL", "error")
	first, second := newDevDB(t), newDevDB(t)

	var app struct{ AppID, SecretKey string }
	var creator struct{ CreatorID, Ref string }
	var conversionID string
	withDev(t, first, func(ctx context.Context, h httpClient, tc client.Client) {
		cli(t, ctx, &app, "apps", "create", "--name", "First", "--commission-percent", "30", "--hold-period", "1h", "--json")
		cli(t, ctx, &creator, "creators", "create", "--app", app.AppID, "--email", "a@example.com", "--json")
		h.key = app.SecretKey
		c := h.post("/api/track/conversion", map[string]any{"ref": creator.Ref, "user_id": "u1", "amount_cents": 10000, "transaction_id": "t1"}, 201)
		conversionID = c["conversion_id"].(string)
		testenv.Eventually(t, 10*time.Second, "the first database's stack lists its workflow", func() bool {
			return countWorkflows(t, ctx, tc) == 1
		})
	})
	withDev(t, second, func(ctx context.Context, h httpClient, tc client.Client) {
		if n := countWorkflows(t, ctx, tc); n != 0 {
			t.Fatalf("a stack on another database sees %d workflows of the first one's", n)
		}
	})
	files, _ := filepath.Glob(filepath.Join(dataDir, "temporal-*.db"))
	if len(files) != 2 {
		t.Fatalf("want one Temporal state file per database in DATA_DIR, found %v", files)
	}
	withDev(t, first, func(ctx context.Context, h httpClient, tc client.Client) {
		testenv.Eventually(t, 10*time.Second, "back on the first database, its workflow is listed", func() bool {
			return countWorkflows(t, ctx, tc) == 1
		})
		h.key = app.SecretKey
		if st := h.get("/api/conversions/" + conversionID)["status"]; st != "pending" {
			t.Fatalf("the held conversion is %v, want pending", st)
		}
	})
}

func newDevDB(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "agentlinks_pair_" + hex.EncodeToString(b)
	t.Cleanup(func() { testenv.DropDatabase(name) })
	return testenv.URLFor(name)
}

// withDev runs `agentlinks dev` against databaseURL while f runs, then
// stops it as Ctrl-C would.
func withDev(t *testing.T, databaseURL string, f func(context.Context, httpClient, client.Client)) {
	t.Helper()
	temporalAddr, httpAddr, uiAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	t.Setenv("DATABASE_URL", databaseURL)
	t.Setenv("TEMPORAL_ADDRESS", temporalAddr)
	t.Setenv("TEMPORAL_UI_URL", "http://127.0.0.1:"+uiAddr[strings.LastIndex(uiAddr, ":")+1:])
	t.Setenv("HTTP_ADDR", httpAddr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, io.Discard, io.Discard) }()
	base := "http://" + httpAddr
	waitReady(t, base, done)
	tc, err := client.Dial(client.Options{HostPort: temporalAddr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	f(ctx, httpClient{t: t, base: base}, tc)
	tc.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev stopped with %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dev did not stop within 40s")
	}
}

func countWorkflows(t *testing.T, ctx context.Context, tc client.Client) int {
	t.Helper()
	res, err := tc.ListWorkflow(ctx, &listRequest{Query: `WorkflowType = "ConversionWorkflow"`})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.GetExecutions())
}
