package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	plotWidth  = 860
	panelH     = 200
	marginL    = 70
	marginR    = 20
	marginTop  = 50
	panelGap   = 60
	plotHeight = marginTop + 3*panelH + 3*panelGap
)

// WritePlot writes an SVG picture of res: operations per second over the
// run, p50/p99/max latency per second (log scale), and the latency
// histogram.
func WritePlot(w io.Writer, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", plotWidth, plotHeight)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15">%s — %s</text>`+"\n", marginL, esc(res.Label), esc(res.Target))
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#555">%s; %d clients / %d conns; %.0f ops/s, p50 %s, p99 %s</text>`+"\n",
		marginL, esc(res.Detail), res.Clients, res.Conns, res.QPS, fmtMs(res.Latency.P50Ms), fmtMs(res.Latency.P99Ms))

	top := float64(marginTop)
	plotQPS(&b, res.Timeline, top)
	top += panelH + panelGap
	plotLatency(&b, res.Timeline, top)
	top += panelH + panelGap
	plotHistogram(&b, res.Histogram, top)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// panel is one chart's frame: it maps data coordinates to the picture.
type panel struct {
	top        float64
	xMin, xMax float64
	yMin, yMax float64
	logY       bool
}

func (p panel) x(v float64) float64 {
	return marginL + (v-p.xMin)/math.Max(p.xMax-p.xMin, 1e-9)*(plotWidth-marginL-marginR)
}

func (p panel) y(v float64) float64 {
	lo, hi := p.yMin, p.yMax
	if p.logY {
		v, lo, hi = math.Log10(math.Max(v, lo)), math.Log10(lo), math.Log10(hi)
	}
	return p.top + panelH - (v-lo)/math.Max(hi-lo, 1e-9)*panelH
}

// frame draws the panel's axes, title and y ticks.
func (p panel) frame(b *strings.Builder, title, xLabel string, yTicks []float64) {
	fmt.Fprintf(b, `<text x="%d" y="%.1f" font-weight="bold">%s</text>`+"\n", marginL, p.top-8, esc(title))
	fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n",
		marginL, p.top, plotWidth-marginL-marginR, panelH)
	for _, t := range yTicks {
		y := p.y(t)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", marginL, plotWidth-marginR, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, y+4, tickLabel(t))
	}
	fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", plotWidth-marginR, p.top+panelH+30, esc(xLabel))
}

// plotQPS draws operations per second as bars.
func plotQPS(b *strings.Builder, tl []Second, top float64) {
	var most float64
	for _, s := range tl {
		most = math.Max(most, float64(s.Ops))
	}
	yMax := niceCeil(most)
	p := panel{top: top, xMax: float64(max(len(tl), 1)), yMax: yMax}
	p.frame(b, "operations per second", "second of the run", linearTicks(yMax))
	w := p.x(1) - p.x(0)
	for i, s := range tl {
		y := p.y(float64(s.Ops))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4c78a8"/>`+"\n",
			p.x(float64(i))+1, y, math.Max(w-2, 1), p.top+panelH-y)
	}
	secondTicks(b, p, len(tl))
}

// plotLatency draws p50, p99 and max latency per second, log scale.
func plotLatency(b *strings.Builder, tl []Second, top float64) {
	lo, hi := math.Inf(1), 0.0
	for _, s := range tl {
		if s.Ops == 0 {
			continue
		}
		lo = math.Min(lo, s.P50Ms)
		hi = math.Max(hi, s.MaxMs)
	}
	if hi == 0 {
		lo, hi = 0.1, 1
	}
	lo = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 1e-3))))
	hi = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, lo*10))))
	p := panel{top: top, xMax: float64(max(len(tl), 1)), yMin: lo, yMax: hi, logY: true}
	var ticks []float64
	for t := lo; t <= hi*1.001; t *= 10 {
		ticks = append(ticks, t)
	}
	p.frame(b, "latency per second (ms, log scale): p50 blue, p99 orange, max grey", "second of the run", ticks)
	series := []struct {
		color string
		get   func(Second) float64
	}{
		{"#bbbbbb", func(s Second) float64 { return s.MaxMs }},
		{"#f58518", func(s Second) float64 { return s.P99Ms }},
		{"#4c78a8", func(s Second) float64 { return s.P50Ms }},
	}
	for _, se := range series {
		var pts []string
		for i, s := range tl {
			if s.Ops > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", p.x(float64(i)+0.5), p.y(se.get(s))))
			}
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", se.color, strings.Join(pts, " "))
	}
	secondTicks(b, p, len(tl))
}

// plotHistogram draws the coarse latency histogram as bars.
func plotHistogram(b *strings.Builder, rows []Bucket, top float64) {
	var most float64
	for _, r := range rows {
		most = math.Max(most, float64(r.Count))
	}
	yMax := niceCeil(most)
	p := panel{top: top, xMax: float64(max(len(rows), 1)), yMax: yMax}
	p.frame(b, "latency histogram (operations per latency range, ms)", "latency (ms, log-spaced ranges)", linearTicks(yMax))
	w := p.x(1) - p.x(0)
	for i, r := range rows {
		y := p.y(float64(r.Count))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#54a24b"/>`+"\n",
			p.x(float64(i))+1, y, math.Max(w-2, 1), p.top+panelH-y)
		if i%2 == 0 || len(rows) <= 8 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", p.x(float64(i)), p.top+panelH+14, tickLabel(r.LowMs))
		}
	}
}

// secondTicks labels the x axis of a per-second panel.
func secondTicks(b *strings.Builder, p panel, n int) {
	step := max(1, int(niceCeil(float64(n)/10)))
	for i := 0; i <= n; i += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", p.x(float64(i)), p.top+panelH+14, i)
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

// linearTicks returns five evenly spaced ticks from 0 to hi.
func linearTicks(hi float64) []float64 {
	out := make([]float64, 5)
	for i := range out {
		out[i] = hi * float64(i) / 4
	}
	return out
}

// tickLabel formats an axis value compactly.
func tickLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%gk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func esc(s string) string { return html.EscapeString(s) }
