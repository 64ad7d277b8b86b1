package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// barWidth is the length of the longest bar of a text histogram.
const barWidth = 40

// WriteText writes res for people: what ran, the throughput, the latency
// summary and a histogram.
func WriteText(w io.Writer, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", res.Workload)
	if res.Label != "" && res.Label != res.Workload {
		fmt.Fprintf(&b, " [%s]", res.Label)
	}
	fmt.Fprintf(&b, ": %s\n", res.Detail)
	fmt.Fprintf(&b, "target   %s at %s\n", res.TargetInfo, strings.Join(res.Endpoints, ","))
	fmt.Fprintf(&b, "clients  %d over %d connection%s\n", res.Clients, res.Conns, plural(res.Conns))
	fmt.Fprintf(&b, "ops      %d in %.2fs, %d error%s\n", res.Ops, res.Seconds, res.Errors, plural(int(res.Errors)))
	fmt.Fprintf(&b, "QPS      %.1f\n", res.QPS)
	fmt.Fprintf(&b, "latency  %s\n", latencyLine(res.Latency))
	if p := res.Writes; p != nil {
		fmt.Fprintf(&b, "writes   %d puts, %d errors, %.1f/s; latency %s\n", p.Ops, p.Errors, p.QPS, latencyLine(p.Latency))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "note     %s\n", n)
	}
	for _, e := range res.ErrorSamples {
		fmt.Fprintf(&b, "error    %d× %s\n", e.Count, e)
	}
	if len(res.Histogram) > 0 {
		b.WriteString("\nlatency histogram (ms)\n")
		writeBars(&b, res.Histogram)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// latencyLine is a Latency on one line.
func latencyLine(l Latency) string {
	return fmt.Sprintf("mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
		fmtMs(l.MeanMs), fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs))
}

// writeBars draws a histogram's rows as bars scaled to the largest.
func writeBars(b *strings.Builder, rows []Bucket) {
	var most, total uint64
	for _, r := range rows {
		most = max(most, r.Count)
		total += r.Count
	}
	for _, r := range rows {
		n := 0
		if most > 0 {
			n = int((r.Count*barWidth + most - 1) / most)
		}
		fmt.Fprintf(b, "%10.3f – %10.3f |%-*s %8d %5.1f%%\n", r.LowMs, r.HighMs, barWidth,
			strings.Repeat("#", n), r.Count, 100*float64(r.Count)/float64(max(total, 1)))
	}
}

// fmtMs formats milliseconds with precision fitting their size.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.3fms", v)
	case v < 1000:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.0fms", v)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteJSON writes res as one line of JSON.
func WriteJSON(w io.Writer, res *Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("bench: encoding result %q: %w", res.Label, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadResults reads the results WriteJSON wrote, one after another.
func ReadResults(r io.Reader) ([]Result, error) {
	dec := json.NewDecoder(r)
	var out []Result
	for {
		var res Result
		err := dec.Decode(&res)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("bench: reading result %d: %w", len(out)+1, err)
		}
		out = append(out, res)
	}
}

// Side is one set of results in a comparison, under the name the table
// gives it ("cairn", "etcd", "etcd-spread").
type Side struct {
	Name    string
	Results []Result
}

// WriteComparison writes a table comparing the results of a with those of
// each other side, run by the same labels (cairn against etcd, for
// instance): per label, one row per other side, with a's QPS, p50 and
// p99, the other side's, and the ratios a/other. Where a label ran
// several times on one side, the run with the median QPS stands for it.
// Labels appear in the order the sides ran them; a label missing on one
// side of a row is shown with dashes.
func WriteComparison(w io.Writer, a Side, others ...Side) error {
	if len(others) == 0 {
		return errors.New("bench: no side to compare with")
	}
	labels := labelsOf(append([]Side{a}, others...))
	if len(labels) == 0 {
		return errors.New("bench: no results to compare")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tclients/conns\t%[1]s QPS\t%[1]s p50 ms\t%[1]s p99 ms\tother\tother QPS\tother p50 ms\tother p99 ms\tQPS %[1]s/other\tp50 %[1]s/other\tp99 %[1]s/other\t\n", a.Name)
	for _, l := range labels {
		ra := medianRun(a.Results, l)
		for _, o := range others {
			rb := medianRun(o.Results, l)
			if ra == nil && rb == nil {
				continue
			}
			shape := ""
			for _, r := range []*Result{ra, rb} {
				if r != nil {
					shape = fmt.Sprintf("%d/%d", r.Clients, r.Conns)
					break
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l, shape, sideCells(ra), o.Name, sideCells(rb),
				ratio(ra, rb, func(r *Result) float64 { return r.QPS }),
				ratio(ra, rb, func(r *Result) float64 { return r.Latency.P50Ms }),
				ratio(ra, rb, func(r *Result) float64 { return r.Latency.P99Ms }))
		}
	}
	return tw.Flush()
}

// labelsOf lists the labels of the sides' results in the order they ran.
func labelsOf(sides []Side) []string {
	var labels []string
	for _, s := range sides {
		for _, r := range s.Results {
			if !slices.Contains(labels, r.Label) {
				labels = append(labels, r.Label)
			}
		}
	}
	return labels
}

// medianRun returns the run of label with the median QPS, nil if none.
func medianRun(rs []Result, label string) *Result {
	var runs []*Result
	for i := range rs {
		if rs[i].Label == label {
			runs = append(runs, &rs[i])
		}
	}
	if len(runs) == 0 {
		return nil
	}
	slices.SortFunc(runs, func(x, y *Result) int {
		switch {
		case x.QPS < y.QPS:
			return -1
		case x.QPS > y.QPS:
			return 1
		}
		return 0
	})
	return runs[(len(runs)-1)/2]
}

// sideCells are one side's QPS, p50 and p99 cells.
func sideCells(r *Result) string {
	if r == nil {
		return "-\t-\t-"
	}
	return fmt.Sprintf("%.0f\t%.2f\t%.2f", r.QPS, r.Latency.P50Ms, r.Latency.P99Ms)
}

// ratio is f(a)/f(b) as a cell.
func ratio(a, b *Result, f func(*Result) float64) string {
	if a == nil || b == nil || f(b) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", f(a)/f(b))
}

// WriteNotes lists, per label and side, what the side's run of the label
// (the one with the median QPS) noted and the errors it met — what a
// table cannot show.
func WriteNotes(w io.Writer, sides ...Side) error {
	var sb strings.Builder
	for _, l := range labelsOf(sides) {
		for _, s := range sides {
			r := medianRun(s.Results, l)
			if r == nil {
				continue
			}
			for _, n := range r.Notes {
				fmt.Fprintf(&sb, "%s, %s: %s\n", l, s.Name, n)
			}
			if r.Errors > 0 {
				fmt.Fprintf(&sb, "%s, %s: %d errors", l, s.Name, r.Errors)
				if len(r.ErrorSamples) > 0 {
					fmt.Fprintf(&sb, ", most often %q", r.ErrorSamples[0])
				}
				sb.WriteString("\n")
			}
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
