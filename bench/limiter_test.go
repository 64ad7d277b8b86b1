package bench

import (
	"context"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// starts feeds a limiter arrival times and returns when each operation
// may start.
func starts(l *Limiter, arrivals []time.Time) []time.Time {
	out := make([]time.Time, len(arrivals))
	for i, a := range arrivals {
		out[i] = a.Add(l.Reserve(a))
	}
	return out
}

// arrivals draws non-decreasing arrival times.
func arrivals(t *rapid.T) []time.Time {
	gaps := rapid.SliceOfN(rapid.Int64Range(0, int64(50*time.Millisecond)), 1, 200).Draw(t, "gaps")
	at := time.Unix(1000, 0)
	out := make([]time.Time, len(gaps))
	for i, g := range gaps {
		at = at.Add(time.Duration(g))
		out[i] = at
	}
	return out
}

func TestLimiterNeverExceedsRatePlusBurst(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rate := rapid.Float64Range(1, 10000).Draw(t, "rate")
		burst := rapid.IntRange(1, 10).Draw(t, "burst")
		l := NewLimiter(rate, burst)
		arr := arrivals(t)
		st := starts(l, arr)
		for i := range st {
			if st[i].Before(arr[i]) {
				t.Fatalf("op %d starts at %v, before it arrived at %v", i, st[i], arr[i])
			}
		}
		// In any window of length d, at most d/interval + burst ops start.
		for i := range st {
			for j := i; j < len(st); j++ {
				d := st[j].Sub(st[i])
				allowed := int(d/l.interval) + burst
				if j-i+1 > allowed {
					t.Fatalf("%d ops start within %v (interval %v, burst %d)", j-i+1, d, l.interval, burst)
				}
			}
		}
	})
}

func TestLimiterWithoutBurstSpacesStarts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := NewLimiter(rapid.Float64Range(1, 10000).Draw(t, "rate"), 1)
		st := starts(l, arrivals(t))
		for i := 1; i < len(st); i++ {
			if gap := st[i].Sub(st[i-1]); gap < l.interval {
				t.Fatalf("ops %d and %d start %v apart, less than the interval %v", i-1, i, gap, l.interval)
			}
		}
	})
}

func TestLimiterDoesNotDelaySlowCallers(t *testing.T) {
	l := NewLimiter(100, 1) // one slot per 10ms
	at := time.Unix(0, 0)
	for i := range 10 {
		if d := l.Reserve(at); d != 0 {
			t.Fatalf("call %d, 10ms after the last, waits %v", i, d)
		}
		at = at.Add(10 * time.Millisecond)
	}
	// Two at once: the second waits one interval.
	if d := l.Reserve(at); d != 0 {
		t.Fatalf("first of two waits %v", d)
	}
	if d := l.Reserve(at); d != 10*time.Millisecond {
		t.Fatalf("second of two waits %v, want 10ms", d)
	}
}

func TestNoLimit(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		l := NewLimiter(rate, 5)
		if l != nil {
			t.Fatalf("rate %g: got a limiter", rate)
		}
		if d := l.Reserve(time.Now()); d != 0 {
			t.Fatalf("nil limiter waits %v", d)
		}
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLimiterWaitEndsWithContext(t *testing.T) {
	l := NewLimiter(0.001, 1) // one slot per 1000s
	l.Reserve(time.Now())     // take the free slot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); err == nil {
		t.Fatal("Wait with a canceled context returned nil")
	}
}
