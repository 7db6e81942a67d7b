package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/internal/ledger"
)

// errLedger makes verify-ledger exit non-zero after printing the rows.
var errLedger = errors.New("ledger invariants violated")

func verifyLedger(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("verify-ledger", stdout)
	if err := c.parse(args); err != nil {
		return err
	}
	return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
		q := db.New(pool)
		bad, err := ledger.Check(ctx, q)
		if err != nil {
			return fmt.Errorf("verify ledger: %w", err)
		}
		n, err := q.CountTransfers(ctx)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("ledger ok: %d transfers, every invariant holds\n", n)
		if len(bad) > 0 {
			text = strings.Join(bad, "\n") + "\n"
		}
		if err := c.print(map[string]any{"ok": len(bad) == 0, "transfers": n, "problems": append([]string{}, bad...)}, text); err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("%w: %d problems", errLedger, len(bad))
		}
		return nil
	})
}
