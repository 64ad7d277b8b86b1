package bench

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// maxErrorSamples bounds how many kinds of error a run tells apart; the
// rest count as "other".
const maxErrorSamples = 10

// recorder collects the latencies and errors of a run's operations, one
// histogram per second of the run (for the latency-over-time plot; the
// whole run's histogram is their merge). Safe for concurrent use.
type recorder struct {
	done atomic.Int64 // operations finished, with or without error

	// kind names the kind of an error (errorKind); nil: its message.
	kind func(error) string

	mu      sync.Mutex
	seconds []*Histogram
	errors  int64
	samples map[string]*ErrorSample // by kind
}

// record notes an operation that started at offset at from the start of
// the run and took lat; a failed one counts as an error, not a latency.
func (r *recorder) record(at, lat time.Duration, err error) {
	r.done.Add(1)
	sec := max(int(at/time.Second), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.samples == nil {
			r.samples = map[string]*ErrorSample{}
		}
		msg := err.Error()
		kind := msg
		if r.kind != nil {
			kind = r.kind(err)
		}
		if _, ok := r.samples[kind]; !ok && len(r.samples) >= maxErrorSamples {
			kind = "other"
		}
		e := r.samples[kind]
		if e == nil {
			// The first message of a kind is its example.
			e = &ErrorSample{Kind: kind, Message: msg}
			r.samples[kind] = e
		}
		e.Count++
		return
	}
	for len(r.seconds) <= sec {
		r.seconds = append(r.seconds, &Histogram{})
	}
	r.seconds[sec].RecordDuration(lat)
}

// total returns the histogram of the whole run.
func (r *recorder) total() *Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &Histogram{}
	for _, s := range r.seconds {
		h.Merge(s)
	}
	return h
}

// timeline summarizes each second of the run.
func (r *recorder) timeline() []Second {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Second, len(r.seconds))
	for i, h := range r.seconds {
		out[i] = Second{Second: i, Ops: int64(h.Count()), P50Ms: ms(h.Percentile(50)),
			P99Ms: ms(h.Percentile(99)), MaxMs: ms(h.Max())}
	}
	return out
}

// errorSamples returns the run's error count and its kinds of error,
// most frequent first.
func (r *recorder) errorSamples() (int64, []ErrorSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ErrorSample
	for _, e := range r.samples {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return r.errors, out
}

// ms converts nanoseconds to milliseconds.
func ms(ns int64) float64 { return float64(ns) / 1e6 }

// mergeRecorders returns a recorder holding everything rs recorded.
func mergeRecorders(rs []*recorder) *recorder {
	out := &recorder{}
	for _, r := range rs {
		r.mu.Lock()
		for len(out.seconds) < len(r.seconds) {
			out.seconds = append(out.seconds, &Histogram{})
		}
		for i, h := range r.seconds {
			out.seconds[i].Merge(h)
		}
		out.errors += r.errors
		r.mu.Unlock()
		out.done.Add(r.done.Load())
	}
	return out
}
