package bench

import (
	"math"
)

// Result is what one run measured. It is written as one JSON object per
// run (WriteJSON) for scripts, and as text for people (WriteText).
type Result struct {
	// Label names the run in comparison tables.
	Label string `json:"label"`
	// Workload is the workload's name (put, range, …) and Detail what
	// exactly it did (keys, sizes, consistency).
	Workload string `json:"workload"`
	Detail   string `json:"detail"`
	// Target is the store's name and TargetInfo how it was driven.
	Target     string   `json:"target"`
	TargetInfo string   `json:"target_info"`
	Endpoints  []string `json:"endpoints"`
	Clients    int      `json:"clients"`
	Conns      int      `json:"conns"`
	// Ops is the number of operations that succeeded (for watch: events
	// delivered), Errors the number that failed.
	Ops          int64         `json:"ops"`
	Errors       int64         `json:"errors"`
	ErrorSamples []ErrorSample `json:"error_samples,omitempty"`
	// Seconds is the measured time and QPS is Ops / Seconds.
	Seconds float64 `json:"seconds"`
	QPS     float64 `json:"qps"`
	// Latency summarizes the operations' latencies (for watch: the time
	// from a put's send to each watcher's receipt of its event).
	Latency Latency `json:"latency"`
	// Histogram is a coarse view of the latency distribution.
	Histogram []Bucket `json:"histogram"`
	// Timeline summarizes each second of the run.
	Timeline []Second `json:"timeline"`
	// Writes summarizes the puts of a watch run.
	Writes *Phase `json:"writes,omitempty"`
	// Notes are facts particular to the workload ("conflicts: 3.1%").
	Notes []string `json:"notes,omitempty"`
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	MeanMs float64 `json:"mean_ms"`
	MinMs  float64 `json:"min_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Bucket is one row of a coarse histogram: Count values in
// [LowMs, HighMs).
type Bucket struct {
	LowMs  float64 `json:"low_ms"`
	HighMs float64 `json:"high_ms"`
	Count  uint64  `json:"count"`
}

// Second summarizes one second of a run.
type Second struct {
	Second int     `json:"second"`
	Ops    int64   `json:"ops"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// ErrorSample is one kind of error, how often it occurred and the
// message of its first occurrence.
type ErrorSample struct {
	// Kind is the error's code in the store's protocol (Timeout, rpc
	// Unavailable, gRPC DeadlineExceeded), or a kind of the client's own
	// ("client deadline"); a result of an older bench has none.
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

// String is the kind and its example message.
func (e ErrorSample) String() string {
	if e.Kind == "" || e.Kind == e.Message {
		return e.Message
	}
	return e.Kind + ": " + e.Message
}

// Phase summarizes a secondary kind of operation of a run (the puts of
// a watch run).
type Phase struct {
	Ops     int64   `json:"ops"`
	Errors  int64   `json:"errors"`
	QPS     float64 `json:"qps"`
	Latency Latency `json:"latency"`
}

// summarize turns a histogram of nanoseconds into a Latency.
func summarize(h *Histogram) Latency {
	return Latency{
		MeanMs: h.Mean() / 1e6, MinMs: ms(h.Min()),
		P50Ms: ms(h.Percentile(50)), P90Ms: ms(h.Percentile(90)), P99Ms: ms(h.Percentile(99)),
		P999Ms: ms(h.Percentile(99.9)), MaxMs: ms(h.Max()),
	}
}

// histogramRows folds h into at most rows rows of equal width on a log
// scale between its smallest and largest value.
func histogramRows(h *Histogram, rows int) []Bucket {
	if h.Count() == 0 || rows < 1 {
		return nil
	}
	lo := float64(max(h.Min(), 1))
	hi := max(float64(h.Max()), lo)
	if hi <= lo*1.01 {
		return []Bucket{{LowMs: lo / 1e6, HighMs: hi / 1e6, Count: h.Count()}}
	}
	span := math.Log(hi / lo)
	out := make([]Bucket, rows)
	for k := range out {
		out[k].LowMs = lo * math.Exp(span*float64(k)/float64(rows)) / 1e6
		out[k].HighMs = lo * math.Exp(span*float64(k+1)/float64(rows)) / 1e6
	}
	h.Each(func(low, high int64, n uint64) {
		mid := min(max((float64(low)+float64(high))/2, lo), hi)
		k := int(math.Log(mid/lo) / span * float64(rows))
		out[min(max(k, 0), rows-1)].Count += n
	})
	return out
}
