package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestTextFormat(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("cairn_proposals_committed_total", "Proposals committed.")
	g := r.NewGauge("cairn_is_leader", "1 if this member leads.")
	r.NewGaugeFunc("cairn_db_size_bytes", "Backend size.", func() float64 { return 4096 })
	h := r.NewHistogram("cairn_wal_fsync_seconds", "WAL fsync latency.", []float64{0.001, 0.01})
	c.Add(3)
	g.Set(1)
	for _, v := range []float64{0.0005, 0.005, 0.5} {
		h.Observe(v)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP cairn_db_size_bytes Backend size.
# TYPE cairn_db_size_bytes gauge
cairn_db_size_bytes 4096
# HELP cairn_is_leader 1 if this member leads.
# TYPE cairn_is_leader gauge
cairn_is_leader 1
# HELP cairn_proposals_committed_total Proposals committed.
# TYPE cairn_proposals_committed_total counter
cairn_proposals_committed_total 3
# HELP cairn_wal_fsync_seconds WAL fsync latency.
# TYPE cairn_wal_fsync_seconds histogram
cairn_wal_fsync_seconds_bucket{le="0.001"} 1
cairn_wal_fsync_seconds_bucket{le="0.01"} 2
cairn_wal_fsync_seconds_bucket{le="+Inf"} 3
cairn_wal_fsync_seconds_sum 0.5055
cairn_wal_fsync_seconds_count 3
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestHistogramBoundaryGoesInItsBucket(t *testing.T) {
	r := NewRegistry()
	h := r.NewHistogram("h", "", []float64{1, 2})
	h.Observe(1) // le="1" is inclusive
	var b strings.Builder
	_ = r.WriteText(&b)
	if !strings.Contains(b.String(), `h_bucket{le="1"} 1`) {
		t.Fatalf("boundary value not counted in its bucket:\n%s", b.String())
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("c", "")
	h := r.NewHistogram("h", "", ExponentialBuckets(1, 2, 4))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Inc()
				h.Observe(3)
			}
		}()
	}
	wg.Wait()
	if c.Value() != 8000 || h.Count() != 8000 {
		t.Fatalf("counter %d, histogram count %d, want 8000", c.Value(), h.Count())
	}
}

func TestRegistrationErrors(t *testing.T) {
	for name, f := range map[string]func(r *Registry){
		"bad name":        func(r *Registry) { r.NewCounter("9bad", "") },
		"duplicate":       func(r *Registry) { r.NewCounter("x", ""); r.NewGauge("x", "") },
		"unsorted bounds": func(r *Registry) { r.NewHistogram("h", "", []float64{2, 1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(NewRegistry())
		}()
	}
}
