package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/programs"
	"github.com/agentlinks/agentlinks/internal/testenv"
)

// The click writer's own tests: batches that pile up while PostgreSQL is
// held (a transaction locks the click log, so the writer's statement
// waits), and what the writer promises then.

type clickFixture struct {
	d          *testenv.Database
	b          *clickBatcher
	ref, appID string
}

func newClickFixture(t *testing.T) *clickFixture {
	t.Helper()
	d := testenv.DB(t)
	app, ens := testenv.Program(t, d.Pool, programs.NewApp{Name: "Acme", CommissionBPS: 2000, Hold: time.Hour})
	f := &clickFixture{d: d, b: newClickBatcher(db.New(d.Pool), time.Hour), ref: ens[0].RefCode, appID: app.App.ID}
	t.Cleanup(f.b.close)
	return f
}

func (f *clickFixture) click(visitor int) click {
	return click{ref: f.ref, appID: f.appID, url: "https://shop.example.com/", visitor: sha256.Sum256(fmt.Appendf(nil, "v%d", visitor))}
}

// hold locks the click log until the returned func is called: the
// writer's next statement waits for it.
func (f *clickFixture) hold(t *testing.T) (release func()) {
	t.Helper()
	tx, err := f.d.Pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), "LOCK TABLE clicks IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
	t.Cleanup(release)
	return release
}

// stall holds PostgreSQL and waits until the writer has taken a first click
// (of visitor -1) and waits in its statement: every click added from then
// on stays in the queue until release.
func (f *clickFixture) stall(t *testing.T) (release func(), first <-chan []answer) {
	t.Helper()
	release = f.hold(t)
	first = f.addAll(context.Background(), []click{f.click(-1)})
	testenv.Eventually(t, 10*time.Second, "the writer's statement to wait for the lock", func() bool {
		var waiting int
		err := f.d.Pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting)
		return err == nil && waiting == 1
	})
	return release, first
}

// queued is how many clicks wait in the queue, not yet taken by the writer.
func (f *clickFixture) queued() (batches, clicks int) {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	for _, b := range f.b.queue {
		clicks += len(b.clicks)
	}
	return len(f.b.queue), clicks
}

func (f *clickFixture) stored(t *testing.T) (raw, counted, unique int64) {
	t.Helper()
	ctx := context.Background()
	if err := f.d.Pool.QueryRow(ctx, "SELECT count(*) FROM clicks").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Pool.QueryRow(ctx, "SELECT coalesce(sum(clicks), 0), coalesce(sum(unique_clicks), 0) FROM click_daily").Scan(&counted, &unique); err != nil {
		t.Fatal(err)
	}
	return raw, counted, unique
}

// answers waits for the answers of addAll, for at most a minute.
func answers(t *testing.T, ch <-chan []answer) []answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(time.Minute):
		t.Fatal("clicks still unanswered after a minute")
		return nil
	}
}

type answer struct {
	unique bool
	err    error
}

// addAll adds the clicks at once, one goroutine each, and returns their
// answers once all have one.
func (f *clickFixture) addAll(ctx context.Context, clicks []click) <-chan []answer {
	out := make(chan []answer, 1)
	answers := make([]answer, len(clicks))
	var wg sync.WaitGroup
	for i, c := range clicks {
		wg.Go(func() { answers[i].unique, answers[i].err = f.b.add(ctx, c) })
	}
	go func() { wg.Wait(); out <- answers }()
	return out
}

// TestClickWriterAnswersEachClickOfItsBatch: 300 clicks of 50 visitors pile
// up into batches while the writer waits; each click is answered from its
// own place in its batch, so exactly one click per visitor says unique.
func TestClickWriterAnswersEachClickOfItsBatch(t *testing.T) {
	f := newClickFixture(t)
	release, first := f.stall(t)
	var clicks []click
	for i := range 300 {
		clicks = append(clicks, f.click(i%50))
	}
	done := f.addAll(context.Background(), clicks)
	testenv.Eventually(t, 10*time.Second, "the clicks to queue", func() bool { _, n := f.queued(); return n == 300 })
	release()
	answers(t, first)
	unique := map[int]int{}
	for i, a := range answers(t, done) {
		if a.err != nil {
			t.Fatalf("click %d: %v", i, a.err)
		}
		if a.unique {
			unique[i%50]++
		}
	}
	if len(unique) != 50 {
		t.Errorf("%d visitors were told unique, want all 50", len(unique))
	}
	for v, n := range unique {
		if n != 1 {
			t.Errorf("visitor %d was told unique %d times, want once", v, n)
		}
	}
	if raw, counted, u := f.stored(t); raw != 301 || counted != 301 || u != 51 {
		t.Errorf("stored %d raw clicks, counted %d, %d unique; want 301, 301, 51 (with the first)", raw, counted, u)
	}
	if batches := f.b.batches.Load(); batches != 2 {
		t.Errorf("the first click and 300 waiting took %d batches, want 2", batches)
	}
}

// TestClickWriterHoldsAtMostItsQueue: while PostgreSQL is held, clicks
// queue up to clickQueueMax full batches; the next click waits for room,
// and when its request gives up it is not stored. Once PostgreSQL answers,
// every click queued is stored and answered.
func TestClickWriterHoldsAtMostItsQueue(t *testing.T) {
	f := newClickFixture(t)
	release, first := f.stall(t)
	var clicks []click
	for i := range clickQueueMax * clickBatchMax {
		clicks = append(clicks, f.click(i))
	}
	full := f.addAll(context.Background(), clicks)
	testenv.Eventually(t, 30*time.Second, "the queue to fill", func() bool { _, n := f.queued(); return n == len(clicks) })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := f.b.add(ctx, f.click(-2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a click past the full queue: %v, want it to wait for room until its request gives up", err)
	}
	if b, n := f.queued(); b != clickQueueMax || n != len(clicks) {
		t.Fatalf("the queue holds %d batches of %d clicks after the refused one, want %d of %d", b, n, clickQueueMax, len(clicks))
	}

	release()
	for i, a := range append(answers(t, first), answers(t, full)...) {
		if a.err != nil {
			t.Fatalf("click %d: %v", i, a.err)
		}
		if !a.unique {
			t.Fatalf("click %d of a new visitor was not told unique", i)
		}
	}
	want := int64(len(clicks) + 1)
	if raw, counted, u := f.stored(t); raw != want || counted != want || u != want {
		t.Errorf("stored %d raw clicks, counted %d, %d unique; want %d each (the click that gave up is not stored)", raw, counted, u, want)
	}
}

// TestClickWriterCloseWritesWhatItTook: close refuses new clicks at once
// and returns only when the clicks it had taken are written and answered.
func TestClickWriterCloseWritesWhatItTook(t *testing.T) {
	f := newClickFixture(t)
	release, first := f.stall(t)
	var clicks []click
	for i := range 10 {
		clicks = append(clicks, f.click(i))
	}
	done := f.addAll(context.Background(), clicks)
	testenv.Eventually(t, 10*time.Second, "the clicks to queue", func() bool { _, n := f.queued(); return n == 10 })
	closed := make(chan struct{})
	go func() { f.b.close(); close(closed) }()
	testenv.Eventually(t, 10*time.Second, "close to stop the writer taking clicks", func() bool {
		f.b.mu.Lock()
		defer f.b.mu.Unlock()
		return f.b.stopped
	})
	if _, err := f.b.add(context.Background(), f.click(99)); !errors.Is(err, errClickWriterStopped) {
		t.Fatalf("a click after close: %v, want %v", err, errClickWriterStopped)
	}
	select {
	case <-closed:
		t.Fatal("close returned while its clicks were still unwritten")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	for i, a := range append(answers(t, first), answers(t, done)...) {
		if a.err != nil {
			t.Fatalf("click %d: %v", i, a.err)
		}
	}
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("close did not return")
	}
	if raw, _, _ := f.stored(t); raw != 11 {
		t.Errorf("stored %d clicks, want the 11 taken before close", raw)
	}
}
