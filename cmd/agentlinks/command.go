package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/service"
	"github.com/agentlinks/agentlinks/workflows"
)

// command is one operator command's flags. Every one takes --json, and then
// prints one JSON object.
type command struct {
	name string
	fs   *flag.FlagSet
	json *bool
	out  io.Writer
}

func newCommand(name string, stdout io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &command{name: name, fs: fs, json: fs.Bool("json", false, "print one JSON object"), out: stdout}
}

// parse parses args; the flags named in need must be set (not empty).
func (c *command) parse(args []string, need ...string) error {
	if err := c.fs.Parse(args); err != nil {
		return usageError{c.name + ": " + err.Error()}
	}
	if c.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", c.name, c.fs.Arg(0))}
	}
	var missing []string
	for _, n := range need {
		if f := c.fs.Lookup(n); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return usageError{fmt.Sprintf("%s: %s is required", c.name, missing[0])}
	}
	return usageError{fmt.Sprintf("%s: %s are required", c.name, strings.Join(missing, " and "))}
}

// print prints v as one JSON object with --json, else the text.
func (c *command) print(v any, text string) error {
	if *c.json {
		return json.NewEncoder(c.out).Encode(v)
	}
	_, err := io.WriteString(c.out, text)
	return err
}

// withPool runs f over a connection pool to DATABASE_URL.
func withPool(ctx context.Context, cfg config.Config, f func(*pgxpool.Pool) error) error {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return f(pool)
}

// withService runs f over the service, connected to the database and to
// Temporal (runs are workflows).
func withService(ctx context.Context, cfg config.Config, f func(*service.Service) error) error {
	d, err := connect(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer d.close()
	return f(d.service())
}

// withPoolService runs f over a service without Temporal (reads and
// database-only changes).
func withPoolService(ctx context.Context, cfg config.Config, f func(*service.Service) error) error {
	return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
		svc := service.New(pool, workflows.Client{}, time.Hour).WithStripe(cfg.Stripe, cfg.PublicURL)
		defer svc.Close()
		return f(svc)
	})
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (f *stringsFlag) String() string     { return strings.Join(*f, ",") }
func (f *stringsFlag) Set(v string) error { *f = append(*f, v); return nil }
