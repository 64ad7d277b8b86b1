package node

import (
	"testing"
	"time"
)

// The limiter lets one warning through an interval and counts the rest.
func TestWarnLimiterCountsWhatItHoldsBack(t *testing.T) {
	var w warnLimiter
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{2 * time.Second, false, 0},
		{5 * time.Second, true, 2},
		{6 * time.Second, false, 0},
		{20 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, n := w.allow(t0.Add(s.at), 5*time.Second)
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d at %v: allow %v with %d held back, want %v with %d", i, s.at, ok, n, s.ok, s.suppressed)
		}
	}
}
