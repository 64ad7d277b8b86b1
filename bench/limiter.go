package bench

import (
	"context"
	"sync"
	"time"
)

// Limiter paces operations to at most Rate per second, shared by every
// client of a run. Each operation reserves the next free slot on an
// evenly spaced schedule and waits for it. When callers fall behind (the
// store is slower than the rate) unused slots are not saved up beyond
// Burst, so a stall is not followed by a flood.
//
// A nil *Limiter, or one with a rate ≤ 0, never waits.
type Limiter struct {
	interval time.Duration // time between slots
	burst    int           // slots that may be saved up while idle

	mu   sync.Mutex
	next time.Time // the next free slot
}

// NewLimiter returns a limiter for rate operations per second (≤ 0: no
// limit) that saves up at most burst unused slots (minimum 1).
func NewLimiter(rate float64, burst int) *Limiter {
	if rate <= 0 {
		return nil
	}
	iv := time.Duration(float64(time.Second) / rate)
	return &Limiter{interval: max(iv, 1), burst: max(burst, 1)}
}

// Reserve takes the next slot for an operation that wants to start at
// now, and returns how long the caller must wait before starting.
func (l *Limiter) Reserve(now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Slots older than the burst allowance are lost.
	if earliest := now.Add(-time.Duration(l.burst-1) * l.interval); l.next.Before(earliest) {
		l.next = earliest
	}
	slot := l.next
	l.next = slot.Add(l.interval)
	if slot.Before(now) {
		return 0
	}
	return slot.Sub(now)
}

// Wait blocks until the caller's slot comes or ctx ends (returning its
// error).
func (l *Limiter) Wait(ctx context.Context) error {
	d := l.Reserve(time.Now())
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
