package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/metrics"
)

// Clicks are written by group commit: each request hands its click to the
// batcher and waits; a writer takes every click waiting and records them
// with one statement (queries/clicks.sql RecordClicks: raw rows,
// unique-visitor marks and daily counters; one round trip, one commit),
// then answers them all. While the writer commits, the clicks that arrive
// queue for its next batch, so batches grow with the load and a lone click
// is written at once. A 202 is therefore a click in PostgreSQL, at a
// fraction of a transaction per click. One writer measured best here: more
// writers make smaller batches and cost PostgreSQL more (BENCHMARKS.md).
const (
	clickBatchMax = 1024
	clickWriters  = 1
)

// click is one click to record.
type click struct {
	ref, appID, url, referrer string
	visitor                   [sha256.Size]byte // the visitor's hash
	bot                       bool
}

type pendingClick struct {
	click  click
	queued time.Time
	unique bool // set by the writer before done
	done   chan error
}

type clickBatcher struct {
	q      *db.Queries
	window time.Duration
	in     chan *pendingClick
	stop   chan struct{}
	wg     sync.WaitGroup

	batches, clicks, flushNanos atomic.Int64 // for ClickWriterStats
	metrics                     atomic.Pointer[metrics.Metrics]
}

// ClickWriterStats says how the click writer has batched so far.
type ClickWriterStats struct {
	Batches, Clicks int64
	Flushing        time.Duration // time spent writing batches, in all
}

// ClickWriterStats reports the click writer's batches since the start.
func (s *Service) ClickWriterStats() ClickWriterStats {
	b := s.clicks
	return ClickWriterStats{Batches: b.batches.Load(), Clicks: b.clicks.Load(), Flushing: time.Duration(b.flushNanos.Load())}
}

func newClickBatcher(q *db.Queries, window time.Duration) *clickBatcher {
	b := &clickBatcher{q: q, window: window, in: make(chan *pendingClick, 8*clickBatchMax), stop: make(chan struct{})}
	for range clickWriters {
		b.wg.Add(1)
		go b.run()
	}
	return b
}

// add queues a click and waits until it is committed; it says whether the
// click counted as unique.
func (b *clickBatcher) add(ctx context.Context, c click) (bool, error) {
	p := &pendingClick{click: c, queued: time.Now(), done: make(chan error, 1)}
	select {
	case b.in <- p:
	case <-b.stop:
		return false, errors.New("click writer stopped")
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case err := <-p.done:
		return p.unique, err // written by the writer before it sent on done
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (b *clickBatcher) run() {
	defer b.wg.Done()
	batch := make([]*pendingClick, 0, clickBatchMax)
	// Reused from batch to batch: this goroutine's alone.
	buf := batchBuffers{first: map[visitor]bool{}, unique: map[visitor]bool{}}
	for {
		select {
		case p := <-b.in:
			batch = append(batch[:0], p)
		case <-b.stop:
			return
		}
	collect: // everything already waiting, without waiting for more
		for len(batch) < clickBatchMax {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break collect
			}
		}
		start := time.Now()
		if m := b.metrics.Load(); m != nil {
			buf.waits = buf.waits[:0]
			for _, p := range batch {
				buf.waits = append(buf.waits, start.Sub(p.queued))
			}
			m.ClickBatch(len(batch), buf.waits)
		}
		err := b.flush(batch, &buf)
		b.flushNanos.Add(int64(time.Since(start)))
		b.batches.Add(1)
		b.clicks.Add(int64(len(batch)))
		for _, p := range batch {
			p.done <- err
		}
	}
}

// close stops taking clicks once the batches in hand are written.
func (b *clickBatcher) close() {
	close(b.stop)
	b.wg.Wait()
}

// visitor is a click's (ref, visitor hash), the dedupe window's key.
type visitor struct {
	ref  string
	hash [sha256.Size]byte
}

// visitorOf is the key of a (ref, hash) read back from PostgreSQL.
func visitorOf(ref string, hash []byte) visitor {
	v := visitor{ref: ref}
	copy(v.hash[:], hash)
	return v
}

// batchBuffers are the arrays and sets a batch is built in, kept by the
// writer between batches so that a batch allocates only what pgx does.
type batchBuffers struct {
	params        db.RecordClicksParams
	first, unique map[visitor]bool
	waits         []time.Duration
}

func (buf *batchBuffers) reset() {
	p := &buf.params
	p.RefCodes, p.AppIds, p.Urls, p.Referrers = p.RefCodes[:0], p.AppIds[:0], p.Urls[:0], p.Referrers[:0]
	p.VisitorHashes, p.IsBots, p.Candidates = p.VisitorHashes[:0], p.IsBots[:0], p.Candidates[:0]
	clear(buf.first)
	clear(buf.unique)
}

// flush records one batch. Every click of a batch has the batch's time, so
// they share a day and a dedupe window.
func (b *clickBatcher) flush(batch []*pendingClick, buf *batchBuffers) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Microsecond)
	buf.reset()
	first, unique, p := buf.first, buf.unique, &buf.params
	p.Now, p.WindowStart, p.Day = now, now.Add(-b.window), pgtype.Date{Time: now, Valid: true}
	for _, pc := range batch {
		c := &pc.click
		v := visitor{c.ref, c.visitor}
		// Only a (ref, visitor)'s first click in the batch can be unique.
		candidate := !c.bot && !first[v]
		if candidate {
			first[v] = true
		}
		p.RefCodes = append(p.RefCodes, c.ref)
		p.AppIds = append(p.AppIds, c.appID)
		p.VisitorHashes = append(p.VisitorHashes, c.visitor[:])
		p.IsBots = append(p.IsBots, c.bot)
		p.Urls = append(p.Urls, c.url)
		p.Referrers = append(p.Referrers, c.referrer)
		p.Candidates = append(p.Candidates, candidate)
	}
	counted, err := b.q.RecordClicks(ctx, *p)
	if err != nil {
		return fmt.Errorf("record %d clicks: %w", len(batch), err)
	}
	for _, c := range counted {
		unique[visitorOf(c.RefCode, c.VisitorHash)] = true
	}
	for i, pc := range batch {
		pc.unique = p.Candidates[i] && unique[visitor{pc.click.ref, pc.click.visitor}]
	}
	return nil
}
