package bench

import (
	"fmt"
	"strings"
	"time"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 250 * time.Millisecond

// startProgress redraws a progress line on cfg.Progress until the
// returned function is called, which erases it. Without a Progress
// writer it does nothing.
func (r *run) startProgress(name string) (stop func()) {
	out := r.cfg.Progress
	if out == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(out, "\r%s\r", strings.Repeat(" ", 79))
				return
			case <-t.C:
				fmt.Fprintf(out, "\r%s", progressLine(name, r.rec.done.Load(), r.cfg.Total, time.Since(r.base)))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// progressLine is one redraw of the progress line.
func progressLine(name string, done, total int64, elapsed time.Duration) string {
	qps := float64(done) / max(elapsed.Seconds(), 1e-9)
	of := ""
	if total > 0 {
		of = fmt.Sprintf("/%d (%.0f%%)", total, 100*float64(done)/float64(total))
	}
	return fmt.Sprintf("%-16s %d%s ops  %.0f ops/s  %.1fs", name, done, of, qps, elapsed.Seconds())
}
