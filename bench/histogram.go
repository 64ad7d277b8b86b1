package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: every power of two is split
// into 2^subBits buckets, so a recorded value v lands in a bucket no
// wider than v/2^subBits — percentiles are off by less than 1/128 (0.8%).
const subBits = 7

// perOctave is the number of buckets in each octave.
const perOctave = 1 << subBits

// numOctaves covers every non-negative int64: octave 0 holds [0, 128)
// one value per bucket; octave o ≥ 1 holds [2^(o+6), 2^(o+7)) in 128
// buckets of width 2^(o-1).
const numOctaves = 64 - subBits + 1

// Histogram counts non-negative values (latencies in nanoseconds) in
// log-linear buckets: linear within each power of two, so the relative
// error is bounded whatever the magnitude. Octaves are allocated on first
// use, so a histogram of latencies spanning 1µs–1s costs a few KB.
//
// The zero value is an empty histogram ready to use. A Histogram is not
// safe for concurrent use.
type Histogram struct {
	octaves  [numOctaves][]uint64
	count    uint64
	sum      float64
	min, max int64
}

// bucketOf returns the octave and index within it of value v ≥ 0.
func bucketOf(v int64) (octave, index int) {
	if v < perOctave {
		return 0, int(v)
	}
	o := bits.Len64(uint64(v)) - subBits
	return o, int(v>>(o-1)) - perOctave
}

// bucketBounds returns the smallest and largest value of a bucket.
func bucketBounds(octave, index int) (low, high int64) {
	if octave == 0 {
		return int64(index), int64(index)
	}
	low = int64(index+perOctave) << (octave - 1)
	return low, low + (int64(1) << (octave - 1)) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	o, i := bucketOf(v)
	if h.octaves[o] == nil {
		h.octaves[o] = make([]uint64, perOctave)
	}
	h.octaves[o][i]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum += float64(v)
}

// RecordDuration adds a duration, in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every value counted by o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	for oc, counts := range o.octaves {
		if counts == nil {
			continue
		}
		if h.octaves[oc] == nil {
			h.octaves[oc] = make([]uint64, perOctave)
		}
		for i, n := range counts {
			h.octaves[oc][i] += n
		}
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.count }

// Min is the smallest value recorded (0 if none).
func (h *Histogram) Min() int64 { return h.min }

// Max is the largest value recorded (0 if none).
func (h *Histogram) Max() int64 { return h.max }

// Mean is the exact mean of the values recorded (0 if none).
func (h *Histogram) Mean() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / float64(h.count)
}

// Percentile returns the p-th percentile (0 < p ≤ 100) by the
// nearest-rank rule: the smallest recorded value v such that at least p%
// of the values are ≤ v, reported as the largest value of v's bucket
// (capped at Max). So the answer is never below the true percentile and
// exceeds it by less than 1/128 of it. It is 0 for an empty histogram.
func (h *Histogram) Percentile(p float64) int64 {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for o, counts := range h.octaves {
		for i, n := range counts {
			seen += n
			if n > 0 && seen >= rank {
				_, high := bucketBounds(o, i)
				return min(high, h.max)
			}
		}
	}
	return h.max
}

// Each calls fn for every non-empty bucket in increasing order, with the
// bucket's smallest and largest value and its count.
func (h *Histogram) Each(fn func(low, high int64, count uint64)) {
	for o, counts := range h.octaves {
		for i, n := range counts {
			if n > 0 {
				low, high := bucketBounds(o, i)
				fn(low, high, n)
			}
		}
	}
}
