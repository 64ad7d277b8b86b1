package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// sampleResult is a result as a run builds it, from latencies in ms.
func sampleResult(label, target string, qps float64, latMs ...float64) *Result {
	var h Histogram
	for _, l := range latMs {
		h.Record(int64(l * 1e6))
	}
	return &Result{Label: label, Workload: "put", Detail: "random keys over 10, key 8 B, value 256 B",
		Target: target, TargetInfo: target + " via a test", Endpoints: []string{"127.0.0.1:1"},
		Clients: 10, Conns: 2, Ops: int64(h.Count()), Seconds: 1, QPS: qps,
		Latency: summarize(&h), Histogram: histogramRows(&h, histogramRowCount),
		Timeline: []Second{{Second: 0, Ops: int64(h.Count()), P50Ms: 1, P99Ms: 2, MaxMs: 3}}}
}

func TestJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 5).Draw(t, "n")
		var want []Result
		var buf bytes.Buffer
		for i := range n {
			lat := rapid.SliceOfN(rapid.Float64Range(0.01, 1000), 1, 50).Draw(t, "lat")
			r := sampleResult(rapid.StringMatching(`[a-z\-]{1,10}`).Draw(t, "label"), "cairn",
				rapid.Float64Range(0, 1e6).Draw(t, "qps"), lat...)
			if i%2 == 1 {
				r.Notes = []string{"a note"}
				r.ErrorSamples = []ErrorSample{{Message: "boom \"quoted\"", Count: 3}}
				r.Writes = &Phase{Ops: 3, QPS: 1.5, Latency: r.Latency}
			}
			if err := WriteJSON(&buf, r); err != nil {
				t.Fatal(err)
			}
			want = append(want, *r)
		}
		if got := strings.Count(buf.String(), "\n"); got != n {
			t.Fatalf("%d results on %d lines", n, got)
		}
		got, err := ReadResults(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
		}
	})
}

func TestReadResultsReportsGarbage(t *testing.T) {
	_, err := ReadResults(strings.NewReader(`{"label":"a"}` + "\n{not json\n"))
	if err == nil || !strings.Contains(err.Error(), "result 2") {
		t.Fatalf("err = %v, want one naming result 2", err)
	}
}

func TestWriteText(t *testing.T) {
	r := sampleResult("put-1", "cairn", 1234.5, 1, 2, 3, 4, 100)
	r.Notes = []string{"something to know"}
	r.Errors = 2
	r.ErrorSamples = []ErrorSample{{Message: "no leader", Count: 2}}
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"put [put-1]: random keys over 10",
		"clients  10 over 2 connections",
		"ops      5 in 1.00s, 2 errors",
		"QPS      1234.5",
		"p50 3.0", // 3ms, reported as its bucket's top (< 1% above)
		"max 100.0ms",
		"note     something to know",
		"error    2× no leader",
		"latency histogram (ms)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	// Every value appears in the histogram's rows.
	var rows, total int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " |") {
			rows++
		}
	}
	for _, b := range r.Histogram {
		total += int(b.Count)
	}
	if rows != len(r.Histogram) || total != 5 {
		t.Errorf("%d histogram lines for %d rows holding %d values", rows, len(r.Histogram), total)
	}
}

func TestFmtMs(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0.1234, "0.123ms"}, {9.99, "9.990ms"}, {12.34, "12.3ms"}, {999.9, "999.9ms"}, {1234.5, "1234ms"}} {
		if got := fmtMs(tc.in); got != tc.want {
			t.Errorf("fmtMs(%g) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHistogramRowsKeepEveryValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := latencyValues(t)
		rows := rapid.IntRange(1, 30).Draw(t, "rows")
		var h Histogram
		for _, v := range vals {
			h.Record(v)
		}
		out := histogramRows(&h, rows)
		if len(out) > rows {
			t.Fatalf("%d rows, asked for %d", len(out), rows)
		}
		var total uint64
		for i, b := range out {
			total += b.Count
			if b.HighMs < b.LowMs || (i > 0 && b.LowMs < out[i-1].HighMs*0.999999) {
				t.Fatalf("row %d [%g, %g] after [%g, %g]", i, b.LowMs, b.HighMs, out[max(i-1, 0)].LowMs, out[max(i-1, 0)].HighMs)
			}
		}
		if total != h.Count() {
			t.Fatalf("rows hold %d values, histogram %d", total, h.Count())
		}
	})
}

func TestWriteComparison(t *testing.T) {
	a := Side{"cairn", []Result{
		*sampleResult("put-1", "cairn", 2000, 1, 2),
		*sampleResult("range", "cairn", 900, 1), // three rounds: the median counts
		*sampleResult("range", "cairn", 1000, 4),
		*sampleResult("range", "cairn", 1100, 1),
		*sampleResult("only-a", "cairn", 5, 1),
	}}
	b := Side{"etcd", []Result{
		*sampleResult("put-1", "etcd", 1000, 2, 4),
		*sampleResult("range", "etcd", 500, 2),
		*sampleResult("only-b", "etcd", 7, 1),
	}}
	c := Side{"etcd-spread", []Result{
		*sampleResult("range", "etcd", 4000, 8),
	}}
	var buf bytes.Buffer
	if err := WriteComparison(&buf, a, b, c); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	want := [][]string{
		{"workload", "clients/conns", "cairn QPS", "other", "other QPS", "QPS cairn/other"},
		{"put-1", "10/2", "2000", " etcd ", "1000", "2.00", "0.50"},
		{"put-1", "10/2", "2000", "etcd-spread", "-"},
		{"range", "10/2", "1000", "4.00", " etcd ", "500", "2.00"}, // QPS ratio 2, p50 ratio 4/2
		{"range", "10/2", "1000", "etcd-spread", "4000", "0.25", "0.50"},
		{"only-a", "5", " etcd ", "-"},
		{"only-a", "5", "etcd-spread", "-"},
		{"only-b", "-", " etcd ", "7"}, // no row against etcd-spread: neither side ran it
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, ws := range want {
		for _, w := range ws {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q: %s", i, w, lines[i])
			}
		}
	}
	if err := WriteComparison(io.Discard, Side{Name: "a"}, Side{Name: "b"}); err == nil {
		t.Error("comparing nothing: no error")
	}
	if err := WriteComparison(io.Discard, a); err == nil {
		t.Error("comparing with no other side: no error")
	}
}

func TestWritePlotIsWellFormedSVG(t *testing.T) {
	for _, r := range []*Result{
		sampleResult("p<1>&", "cairn", 100, 0.5, 1, 2, 50, 1000),
		{Label: "empty", Target: "x"},
	} {
		var buf bytes.Buffer
		if err := WritePlot(&buf, r); err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(&buf)
		var elems int
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed XML: %v", r.Label, err)
			}
			if _, ok := tok.(xml.StartElement); ok {
				elems++
			}
		}
		if elems < 10 {
			t.Fatalf("%s: only %d elements", r.Label, elems)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("put", 500, 1000, 2*time.Second)
	for _, want := range []string{"put", "500/1000 (50%) ops", "250 ops/s", "2.0s"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	if got := progressLine("put", 10, 0, time.Second); strings.Contains(got, "/") && !strings.Contains(got, "ops/s") {
		t.Errorf("progress without total shows a fraction: %q", got)
	}
}

func TestWriteNotes(t *testing.T) {
	a := sampleResult("txn", "cairn", 10, 1)
	a.Notes = []string{"5 conflicts"}
	b := sampleResult("txn", "etcd", 10, 1)
	b.Errors = 3
	b.ErrorSamples = []ErrorSample{{Message: "leader changed", Count: 3}}
	var buf bytes.Buffer
	if err := WriteNotes(&buf, Side{"cairn", []Result{*a}}, Side{"etcd-spread", []Result{*b}}); err != nil {
		t.Fatal(err)
	}
	want := "txn, cairn: 5 conflicts\ntxn, etcd-spread: 3 errors, most often \"leader changed\"\n"
	if buf.String() != want {
		t.Fatalf("notes:\n%s\nwant:\n%s", buf.String(), want)
	}
}
