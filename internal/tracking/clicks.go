package tracking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
)

// Clicks are written by group commit: each request hands its click to the
// batcher and waits; the batcher writes every click that arrived meanwhile
// in one transaction (COPY for the raw rows, one statement each for the
// unique-visitor marks and the daily counters) and then answers them all.
// A 202 is therefore a click in PostgreSQL, at a fraction of a transaction
// per click.
const (
	clickBatchMax  = 512
	clickBatchWait = 2 * time.Millisecond
)

type pendingClick struct {
	row  db.CopyClicksParams
	done chan error
}

type clickBatcher struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	window time.Duration
	in     chan *pendingClick
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newClickBatcher(pool *pgxpool.Pool, q *db.Queries, window time.Duration) *clickBatcher {
	b := &clickBatcher{pool: pool, q: q, window: window, in: make(chan *pendingClick, 8*clickBatchMax), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// add queues a click and waits until it is committed; it says whether the
// click counted as unique.
func (b *clickBatcher) add(ctx context.Context, row db.CopyClicksParams) (bool, error) {
	p := &pendingClick{row: row, done: make(chan error, 1)}
	select {
	case b.in <- p:
	case <-b.stop:
		return false, errors.New("click writer stopped")
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case err := <-p.done:
		return p.row.IsUnique, err // written by the batcher before it sent on done
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (b *clickBatcher) run() {
	defer b.wg.Done()
	batch := make([]*pendingClick, 0, clickBatchMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case p := <-b.in:
			batch = append(batch[:0], p)
		case <-b.stop:
			return
		}
		// Take what is already waiting, then wait a moment for more.
		timer.Reset(clickBatchWait)
	collect:
		for len(batch) < clickBatchMax {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			case <-timer.C:
				break collect
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		err := b.flush(batch)
		for _, p := range batch {
			p.done <- err
		}
	}
}

// close stops taking clicks once the current batch is written.
func (b *clickBatcher) close() {
	close(b.stop)
	b.wg.Wait()
}

// flush writes one batch in one transaction. Every click of a batch has the
// batch's time, so they share a day and a dedupe window.
func (b *clickBatcher) flush(batch []*pendingClick) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Microsecond)
	type visitor struct {
		ref  string
		hash string
	}
	// Each (ref, visitor) is offered once: only its first click in the batch
	// can be unique.
	first := map[visitor]int{}
	var refs []string
	var hashes [][]byte
	for i, p := range batch {
		p.row.CreatedAt = now
		p.row.IsUnique = false
		if p.row.IsBot {
			continue
		}
		v := visitor{p.row.RefCode, string(p.row.VisitorHash)}
		if _, seen := first[v]; !seen {
			first[v] = i
			refs = append(refs, v.ref)
			hashes = append(hashes, p.row.VisitorHash)
		}
	}
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		q := b.q.WithTx(tx)
		if len(refs) > 0 {
			counted, err := q.CountVisitors(ctx, db.CountVisitorsParams{
				RefCodes: refs, VisitorHashes: hashes, Now: now, WindowStart: now.Add(-b.window),
			})
			if err != nil {
				return fmt.Errorf("count visitors: %w", err)
			}
			for _, c := range counted {
				batch[first[visitor{c.RefCode, string(c.VisitorHash)}]].row.IsUnique = true
			}
		}
		rows := make([]db.CopyClicksParams, len(batch))
		daily := map[string][2]int64{}
		for i, p := range batch {
			rows[i] = p.row
			if p.row.IsBot {
				continue
			}
			d := daily[p.row.RefCode]
			d[0]++
			if p.row.IsUnique {
				d[1]++
			}
			daily[p.row.RefCode] = d
		}
		if _, err := q.CopyClicks(ctx, rows); err != nil {
			return fmt.Errorf("copy clicks: %w", err)
		}
		if len(daily) == 0 {
			return nil
		}
		params := db.AddDailyClicksBatchParams{Day: pgtype.Date{Time: now, Valid: true}}
		for ref := range daily {
			params.RefCodes = append(params.RefCodes, ref)
		}
		slices.Sort(params.RefCodes)
		for _, ref := range params.RefCodes {
			params.Clicks = append(params.Clicks, daily[ref][0])
			params.Uniques = append(params.Uniques, daily[ref][1])
		}
		if err := q.AddDailyClicksBatch(ctx, params); err != nil {
			return fmt.Errorf("daily clicks: %w", err)
		}
		return nil
	})
}
