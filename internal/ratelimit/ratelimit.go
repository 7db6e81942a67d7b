// Package ratelimit is an in-process token bucket per key (a client
// address, a ref code), for the public tracking endpoints.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter allows perMinute events per key, in bursts of up to a minute's
// worth, refilled continuously. The zero of perMinute turns it off.
type Limiter struct {
	perMinute float64
	mu        sync.Mutex
	buckets   map[string]*bucket
	calls     int
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter; perMinute <= 0 allows everything.
func New(perMinute int) *Limiter {
	return &Limiter{perMinute: float64(perMinute), buckets: map[string]*bucket{}}
}

// Allow takes one token for key at now. When none is left it says how long
// until one is.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.perMinute <= 0 {
		return true, 0
	}
	rate := l.perMinute / 60 // tokens per second
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%4096 == 0 {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.perMinute, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.perMinute, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, wait
}

// sweep forgets buckets that have refilled: they hold no state worth keeping.
func (l *Limiter) sweep(now time.Time) {
	full := time.Duration(60 * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.at) > full {
			delete(l.buckets, k)
		}
	}
}
