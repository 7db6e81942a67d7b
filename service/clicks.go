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

// A clickBatch is the clicks one statement records. Its clicks wait on
// one signal: the writer closes done when the batch is committed, or has
// failed, which wakes them all; there is no channel per click.
type clickBatch struct {
	clicks []click
	queued []time.Time // when each click came
	unique []bool      // each click's answer; with err, set before done is closed
	err    error
	done   chan struct{}
}

// clickQueueMax is how many batches may wait for the writer, the last of
// them taking clicks; a click that finds them all full waits for room, so
// at most clickQueueMax*clickBatchMax clicks are held in memory.
const clickQueueMax = 8

type clickBatcher struct {
	q      *db.Queries
	window time.Duration

	mu      sync.Mutex
	queue   []*clickBatch // waiting for the writer, oldest first; the last one takes clicks
	room    chan struct{} // closed when the writer takes a batch from a full queue
	stopped bool
	kick    chan struct{} // one token: a batch is waiting
	stop    chan struct{} // closed by close
	wg      sync.WaitGroup

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
	b := &clickBatcher{q: q, window: window, room: make(chan struct{}), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	for range clickWriters {
		b.wg.Add(1)
		go b.run()
	}
	return b
}

var errClickWriterStopped = errors.New("click writer stopped")

// add queues a click and waits until it is committed; it says whether the
// click counted as unique.
func (b *clickBatcher) add(ctx context.Context, c click) (bool, error) {
	now := time.Now()
	b.mu.Lock()
	for {
		if b.stopped {
			b.mu.Unlock()
			return false, errClickWriterStopped
		}
		n := len(b.queue)
		if n > 0 && len(b.queue[n-1].clicks) < clickBatchMax {
			break
		}
		if n < clickQueueMax {
			b.queue = append(b.queue, &clickBatch{done: make(chan struct{})})
			break
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		b.mu.Lock()
	}
	batch := b.queue[len(b.queue)-1]
	i := len(batch.clicks)
	batch.clicks = append(batch.clicks, c)
	batch.queued = append(batch.queued, now)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default: // the writer has been told already
	}
	select {
	case <-batch.done:
		return batch.unique[i], batch.err
	case <-ctx.Done():
		return false, ctx.Err() // the click is still written with its batch
	}
}

// take hands the writer the oldest batch waiting, or nil and whether the
// batcher is stopped.
func (b *clickBatcher) take() (*clickBatch, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		return nil, b.stopped
	}
	batch := b.queue[0]
	if len(b.queue) == clickQueueMax {
		close(b.room)
		b.room = make(chan struct{})
	}
	n := copy(b.queue, b.queue[1:])
	b.queue[n] = nil
	b.queue = b.queue[:n]
	return batch, false
}

func (b *clickBatcher) run() {
	defer b.wg.Done()
	// Reused from batch to batch: this goroutine's alone.
	buf := batchBuffers{first: map[visitor]bool{}, unique: map[visitor]bool{}}
	for {
		batch, stopped := b.take()
		if batch == nil {
			if stopped {
				return
			}
			select {
			case <-b.kick:
			case <-b.stop:
			}
			continue
		}
		start := time.Now()
		if m := b.metrics.Load(); m != nil {
			buf.waits = buf.waits[:0]
			for _, q := range batch.queued {
				buf.waits = append(buf.waits, start.Sub(q))
			}
			m.ClickBatch(len(batch.clicks), buf.waits)
		}
		batch.err = b.flush(batch, &buf)
		b.flushNanos.Add(int64(time.Since(start)))
		b.batches.Add(1)
		b.clicks.Add(int64(len(batch.clicks)))
		close(batch.done)
	}
}

// close stops taking clicks and returns once every click taken is written.
func (b *clickBatcher) close() {
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
	b.mu.Unlock()
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

// flush records one batch and sets its clicks' answers. Every click of a
// batch has the batch's time, so they share a day and a dedupe window.
func (b *clickBatcher) flush(batch *clickBatch, buf *batchBuffers) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Microsecond)
	buf.reset()
	first, unique, p := buf.first, buf.unique, &buf.params
	p.Now, p.WindowStart, p.Day = now, now.Add(-b.window), pgtype.Date{Time: now, Valid: true}
	for i := range batch.clicks {
		c := &batch.clicks[i]
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
	batch.unique = make([]bool, len(batch.clicks))
	counted, err := b.q.RecordClicks(ctx, *p)
	if err != nil {
		return fmt.Errorf("record %d clicks: %w", len(batch.clicks), err)
	}
	for _, c := range counted {
		unique[visitorOf(c.RefCode, c.VisitorHash)] = true
	}
	for i := range batch.clicks {
		c := &batch.clicks[i]
		batch.unique[i] = p.Candidates[i] && unique[visitor{c.ref, c.visitor}]
	}
	return nil
}
