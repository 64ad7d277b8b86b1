package bench

import (
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// exactPercentile is the nearest-rank percentile of sorted values.
func exactPercentile(sorted []int64, p float64) int64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencyValues draws values spread over many magnitudes, with repeats.
func latencyValues(t *rapid.T) []int64 {
	return rapid.SliceOfN(rapid.OneOf(
		rapid.Int64Range(0, 300),
		rapid.Int64Range(0, 1<<20),
		rapid.Int64Range(0, 1<<40),
		rapid.Int64Range(math.MaxInt64-1000, math.MaxInt64),
	), 1, 500).Draw(t, "values")
}

func TestHistogramPercentileMatchesSortedSlice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := latencyValues(t)
		p := rapid.Float64Range(0.001, 100).Draw(t, "p")
		var h Histogram
		for _, v := range vals {
			h.Record(v)
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		want := exactPercentile(sorted, p)
		got := h.Percentile(p)
		// Never below the true percentile, above it by less than 1/128.
		if got < want || float64(got-want) > float64(want)/perOctave {
			t.Fatalf("p%g of %d values: got %d, exact %d", p, len(vals), got, want)
		}
		if h.Min() != sorted[0] || h.Max() != sorted[len(sorted)-1] || h.Count() != uint64(len(vals)) {
			t.Fatalf("min/max/count %d/%d/%d, want %d/%d/%d", h.Min(), h.Max(), h.Count(), sorted[0], sorted[len(sorted)-1], len(vals))
		}
		if h.Percentile(100) != h.Max() {
			t.Fatalf("p100 %d != max %d", h.Percentile(100), h.Max())
		}
	})
}

func TestHistogramMeanIsExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfN(rapid.Int64Range(0, 1<<40), 1, 300).Draw(t, "values")
		var h Histogram
		var sum float64
		for _, v := range vals {
			h.Record(v)
			sum += float64(v)
		}
		want := sum / float64(len(vals))
		if math.Abs(h.Mean()-want) > want*1e-9 {
			t.Fatalf("mean %g, want %g", h.Mean(), want)
		}
	})
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := latencyValues(t), latencyValues(t)
		var ha, hb, all Histogram
		for _, v := range a {
			ha.Record(v)
			all.Record(v)
		}
		for _, v := range b {
			hb.Record(v)
			all.Record(v)
		}
		ha.Merge(&hb)
		for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
			if ha.Percentile(p) != all.Percentile(p) {
				t.Fatalf("p%g merged %d, all %d", p, ha.Percentile(p), all.Percentile(p))
			}
		}
		if ha.Count() != all.Count() || ha.Min() != all.Min() || ha.Max() != all.Max() {
			t.Fatalf("merged count/min/max %d/%d/%d, all %d/%d/%d", ha.Count(), ha.Min(), ha.Max(), all.Count(), all.Min(), all.Max())
		}
	})
}

func TestBucketBoundsContainValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Int64Range(0, math.MaxInt64).Draw(t, "v")
		o, i := bucketOf(v)
		low, high := bucketBounds(o, i)
		if v < low || v > high {
			t.Fatalf("%d in bucket (%d,%d) = [%d, %d]", v, o, i, low, high)
		}
		if width := high - low + 1; width > max(1, v/perOctave) {
			t.Fatalf("bucket of %d is %d wide, more than 1/%d of it", v, width, perOctave)
		}
		if i < 0 || i >= perOctave || o < 0 || o >= numOctaves {
			t.Fatalf("bucket (%d,%d) out of range", o, i)
		}
	})
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Percentile(50) != 0 || h.Mean() != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Fatalf("empty histogram: p50 %d mean %g max %d count %d", h.Percentile(50), h.Mean(), h.Max(), h.Count())
	}
	h.Merge(nil)
	h.Merge(&Histogram{})
	h.Record(-5)
	if h.Min() != 0 || h.Max() != 0 || h.Count() != 1 {
		t.Fatalf("negative value: min %d max %d count %d, want 0 0 1", h.Min(), h.Max(), h.Count())
	}
}

func TestHistogramEachVisitsEveryValueInOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := latencyValues(t)
		var h Histogram
		for _, v := range vals {
			h.Record(v)
		}
		var total uint64
		prev := int64(-1)
		h.Each(func(low, high int64, n uint64) {
			if low <= prev || high < low || n == 0 {
				t.Fatalf("bucket [%d, %d] ×%d after %d", low, high, n, prev)
			}
			prev = high
			total += n
		})
		if total != uint64(len(vals)) {
			t.Fatalf("Each saw %d values, recorded %d", total, len(vals))
		}
	})
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(int64(i%1000000) * 1000)
	}
}
