package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		live, floor uint64
		want        int
	}{
		{live: 500 * mib, floor: 64 * mib, want: 100}, // a large heap: the default
		{live: 64 * mib, floor: 64 * mib, want: 100},
		{live: 32 * mib, floor: 64 * mib, want: 200},
		{live: 20 * mib, floor: 64 * mib, want: 320},
		{live: 1 * mib, floor: 64 * mib, want: MaxPercent}, // capped
		{live: 0, floor: 64 * mib, want: MaxPercent},
		{live: 20 * mib, floor: 0, want: 100},
	}
	for _, c := range cases {
		if got := Percent(c.live, c.floor); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("the runtime does not report /gc/gogc:percent")
	}
	return int(s[0].Value.Uint64())
}

// After each collection the percent follows the live heap; GOGC in the
// environment turns the tuner off; Stop stops it.
func TestTunerFollowsCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if tu := Start(1<<30, []string{"HOME=/", "GOGC=150"}); tu != nil {
		tu.Stop()
		t.Fatal("a tuner started although GOGC was set")
	}
	debug.SetGCPercent(100)
	tu := Start(1<<30, nil) // a floor far above this test's heap: the cap
	defer tu.Stop()
	if got := gogc(t); got != MaxPercent {
		t.Fatalf("after Start the GC percent is %d, want %d", got, MaxPercent)
	}
	// Someone else resets it; the next collections' finalizer sets it
	// again.
	debug.SetGCPercent(100)
	for i := 0; i < 20 && gogc(t) != MaxPercent; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := gogc(t); got != MaxPercent {
		t.Fatalf("after collections the GC percent is %d, want %d", got, MaxPercent)
	}
	tu.Stop()
	runtime.GC()
	debug.SetGCPercent(100)
	for range 3 {
		runtime.GC()
		runtime.Gosched()
	}
	if got := gogc(t); got != 100 {
		t.Fatalf("a stopped tuner set the GC percent to %d", got)
	}
}
