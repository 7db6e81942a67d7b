package conversion

import "sync"

// Waiters lets a caller in this process wait for RecordConversion to
// commit a conversion: the API starts a conversion's workflow with an eager
// start, which hands the workflow's first task to this process's worker,
// and answers when the workflow's record activity tells it here. It saves
// the record update's round trip. A conversion recorded by a worker in
// another process is not told here; the caller stops waiting after a while
// and asks the workflow (the record update) instead.
type Waiters struct {
	mu      sync.Mutex
	waiting map[string][]chan Notice
}

// Notice is what RecordConversion committed (or found already recorded)
// for one conversion.
type Notice struct {
	// RequestID is the request the recording workflow was started for.
	RequestID string
	Result    Recorded
}

// NewWaiters returns an empty set of waiters.
func NewWaiters() *Waiters {
	return &Waiters{waiting: map[string][]chan Notice{}}
}

// Wait registers a waiter for the conversion; call it before starting the
// workflow, and stop when done.
func (w *Waiters) Wait(conversionID string) (recorded <-chan Notice, stop func()) {
	ch := make(chan Notice, 1)
	w.mu.Lock()
	w.waiting[conversionID] = append(w.waiting[conversionID], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		chans := w.waiting[conversionID]
		for i, c := range chans {
			if c == ch {
				chans = append(chans[:i], chans[i+1:]...)
				break
			}
		}
		if len(chans) == 0 {
			delete(w.waiting, conversionID)
		} else {
			w.waiting[conversionID] = chans
		}
	}
}

// Tell hands the recorded conversion to everyone waiting for it.
func (w *Waiters) Tell(in Input, res Recorded) {
	if w == nil {
		return
	}
	w.mu.Lock()
	chans := w.waiting[in.ConversionID]
	delete(w.waiting, in.ConversionID)
	w.mu.Unlock()
	for _, ch := range chans {
		ch <- Notice{RequestID: in.RequestID, Result: res} // buffered, told once
	}
}
