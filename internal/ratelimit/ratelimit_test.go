package ratelimit

import (
	"testing"
	"time"
)

func TestBurstThenRefill(t *testing.T) {
	l := New(60) // one per second, bursts of 60
	now := time.Unix(1000, 0)
	for i := 0; i < 60; i++ {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait != time.Second {
		t.Fatalf("61st request: want refused with 1s to wait, got %v %s", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.Allow("a", now.Add(time.Second)); !ok {
		t.Fatal("a token was not refilled after a second")
	}
	if ok, _ := l.Allow("a", now.Add(time.Second)); ok {
		t.Fatal("one second refilled more than one token")
	}
}

func TestZeroIsOff(t *testing.T) {
	l := New(0)
	for i := 0; i < 10000; i++ {
		if ok, _ := l.Allow("a", time.Unix(0, 0)); !ok {
			t.Fatal("a limiter of 0 per minute refused")
		}
	}
}

func TestSweepForgetsIdleKeys(t *testing.T) {
	l := New(10)
	now := time.Unix(0, 0)
	l.Allow("old", now)
	l.sweep(now.Add(2 * time.Minute))
	if len(l.buckets) != 0 {
		t.Fatalf("idle bucket kept: %d", len(l.buckets))
	}
}
