// Package testenv gives tests the real parts: a fresh PostgreSQL database
// per test (or package) on the local server, and the Temporal dev server.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db/migrate"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
)

// ServerURL is the PostgreSQL server tests create their databases on.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database is a migrated database of its own.
type Database struct {
	URL  string
	Pool *pgxpool.Pool
	name string
}

// NewDatabase creates and migrates a fresh database.
func NewDatabase(ctx context.Context) (*Database, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "agentlinks_test_" + hex.EncodeToString(b)
	u, err := url.Parse(ServerURL())
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	if err := migrate.EnsureDatabase(ctx, u.String()); err != nil {
		return nil, err
	}
	d := &Database{URL: u.String(), name: name}
	if err := migrate.Up(ctx, d.URL); err != nil {
		d.Drop()
		return nil, err
	}
	if d.Pool, err = pgxpool.New(ctx, d.URL); err != nil {
		d.Drop()
		return nil, err
	}
	return d, nil
}

// Drop closes the pool and drops the database.
func (d *Database) Drop() {
	if d.Pool != nil {
		d.Pool.Close()
	}
	DropDatabase(d.name)
}

// DropDatabase drops a database on the test server, connections and all.
func DropDatabase(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

// URLFor is the URL of a database named name on the test server.
func URLFor(name string) string {
	u, _ := url.Parse(ServerURL())
	u.Path = "/" + name
	return u.String()
}

// DB gives a test its own database, dropped when the test ends.
func DB(t testing.TB) *Database {
	t.Helper()
	d, err := NewDatabase(context.Background())
	if err != nil {
		t.Fatalf("test database: %v", err)
	}
	t.Cleanup(d.Drop)
	return d
}

// StartTemporal runs an in-memory, headless Temporal dev server on a free
// port and returns it with its address.
func StartTemporal(ctx context.Context) (*temporaldev.Server, string, error) {
	addr, err := temporaldev.FreeAddress()
	if err != nil {
		return nil, "", err
	}
	srv, err := temporaldev.Start(ctx, temporaldev.Options{Address: addr, Binary: os.Getenv("TEMPORAL_CLI")})
	if err != nil {
		return nil, "", fmt.Errorf("temporal dev server: %w", err)
	}
	return srv, addr, nil
}

// Program creates an app on pool and enrolls one creator per email (at
// least one: creator@example.com), failing the test on any error.
func Program(t testing.TB, pool *pgxpool.Pool, app programs.NewApp, emails ...string) (programs.CreatedApp, []programs.Enrollment) {
	t.Helper()
	ctx := context.Background()
	created, err := programs.CreateApp(ctx, pool, app)
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) == 0 {
		emails = []string{"creator@example.com"}
	}
	ens := make([]programs.Enrollment, len(emails))
	for i, e := range emails {
		if ens[i], err = programs.Enroll(ctx, pool, created.App.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	return created, ens
}

// Eventually fails the test unless ok turns true within the time given.
func Eventually(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
