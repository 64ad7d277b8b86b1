package sim

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"
)

// seedResult is what one seed's run left for the sweep's report.
type seedResult struct {
	seed uint64
	cov  Coverage
	wall time.Duration
	err  error
	// line describes the run, for -v.
	line string
}

// sweep runs seeds (configured by cfgOf) on workers goroutines (each run is a world of its
// own), prints a progress line to progress every few seconds, and
// returns the report; onFail and onDone are called in seed order once
// every run is over.
func sweep(seeds []uint64, cfgOf func(uint64) Config, workers int, progress io.Writer, onFail func(uint64, error), onDone func(string)) SweepReport {
	start := time.Now()
	results := make([]seedResult, len(seeds))
	next := make(chan int)
	done := make(chan int)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = runSeed(cfgOf(seeds[i]))
				done <- i
			}
		}()
	}
	go func() {
		for i := range seeds {
			next <- i
		}
		close(next)
		wg.Wait()
		close(done)
	}()
	finished, failed := 0, 0
	lastPrint := time.Now()
	for i := range done {
		finished++
		if results[i].err != nil {
			failed++
		}
		if time.Since(lastPrint) >= 3*time.Second || finished == len(seeds) && lastPrint != start {
			lastPrint = time.Now()
			fmt.Fprintf(progress, "sim sweep: %d/%d seeds done, %d failed, %.0f s\n", finished, len(seeds), failed, time.Since(start).Seconds())
		}
	}
	report := SweepReport{Failed: []uint64{}}
	for _, r := range results {
		report.Add(r.seed, r.cov, r.wall, r.err != nil)
		if r.err != nil {
			onFail(r.seed, r.err)
		} else {
			onDone(r.line)
		}
	}
	report.WallMillis = time.Since(start).Milliseconds()
	return report
}

// runSeed runs one seed.
func runSeed(cfg Config) seedResult {
	start := time.Now()
	r := seedResult{seed: cfg.Seed}
	w, err := New(cfg)
	if err != nil {
		r.err = err
		return r
	}
	r.err = w.Run()
	r.wall = time.Since(start)
	r.cov = w.Coverage()
	r.line = fmt.Sprintf("seed %d: %d members, %d operations, %d leases revoked (%d expiry proposals, %d past a deposed leader's renewal), trace %016x; nemesis: %s",
		w.cfg.Seed, w.cfg.Members, w.Operations(), w.leases.revoked, w.leases.expiries, w.leases.unseen, w.TraceHash(), w.describeFaults())
	return r
}

// runTimeline runs one seed with its timeline recorded and writes it to
// path (and porcupine's visualization beside it, if linearizability
// fails). It returns the file's absolute path, and the run's failure, if
// any.
func runTimeline(seed uint64, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("timeline: %w", err)
	}
	cfg := seedConfig(seed)
	cfg.Timeline = true
	cfg.VizDir = filepath.Dir(abs)
	w, err := New(cfg)
	if err != nil {
		return "", err
	}
	runErr := w.Run()
	if err := w.WriteTimeline(abs, runErr); err != nil {
		return "", err
	}
	if runErr != nil {
		return abs, fmt.Errorf("%w\ntimeline written to %s", runErr, abs)
	}
	return abs, nil
}
