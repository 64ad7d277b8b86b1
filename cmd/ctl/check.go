package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairndb/cairn/client"
)

// The checks put keys under a prefix that must be empty at the start, and
// delete them when done, as etcdctl's: check perf writes at a steady rate
// for a while and judges throughput, latency and errors; check datascale
// writes a number of keys and reports how much the member's memory grew.

// checkLoad is one of the workload models --load names: etcdctl 3.6's.
type checkLoad struct {
	writesPerSecond int // check perf's target rate
	keys            int // check datascale's number of keys
	clients         int // connections writing at once
}

// perfLoads and datascaleLoads are the models of each check, by short
// name; checkLoadAliases maps every accepted name to the short one.
var (
	perfLoads = map[string]checkLoad{
		"s": {writesPerSecond: 150, clients: 50}, "m": {writesPerSecond: 1000, clients: 200},
		"l": {writesPerSecond: 8000, clients: 500}, "xl": {writesPerSecond: 15000, clients: 1000},
	}
	datascaleLoads = map[string]checkLoad{
		"s": {keys: 10_000, clients: 50}, "m": {keys: 100_000, clients: 200},
		"l": {keys: 1_000_000, clients: 500}, "xl": {keys: 3_000_000, clients: 1000},
	}
	checkLoadAliases = map[string]string{"s": "s", "small": "s", "m": "m", "medium": "m",
		"l": "l", "large": "l", "xl": "xl", "xLarge": "xl"}
)

// Thresholds of check perf, etcdctl's: the rate reached must exceed 90%
// of the target, no write may take over half a second, and the standard
// deviation of the latencies must stay under 100ms.
const (
	perfMinRateShare = 0.9
	perfMaxSlowest   = 500 * time.Millisecond
	perfMaxStddev    = 100 * time.Millisecond
)

// checkFlags are the flags both checks take.
type checkFlags struct {
	load, prefix            string
	autoCompact, autoDefrag bool
}

func (f *checkFlags) register(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&f.load, "load", "s", "workload `model`: s (small), m (medium), l (large) or xl (xLarge), etcdctl's")
	fs.StringVar(&f.prefix, "prefix", prefix, "the `prefix` of the keys written (it must hold none)")
	fs.BoolVar(&f.autoCompact, "auto-compact", false, "compact the history up to the revision of the final delete")
	fs.BoolVar(&f.autoDefrag, "auto-defrag", false, "defragment every endpoint after the check")
}

// model returns the load --load names.
func (f *checkFlags) model(loads map[string]checkLoad) (checkLoad, error) {
	name, ok := checkLoadAliases[f.load]
	if !ok {
		return checkLoad{}, badUsage("--load %q: want s, m, l or xl (or small, medium, large, xLarge)", f.load)
	}
	return loads[name], nil
}

func checkPerfCommand() command {
	return command{name: "check perf", minArgs: 0, maxArgs: 0,
		summary: "Write at the --load model's rate for --duration and judge the cluster: PASS or FAIL on\n" +
			"throughput (over 90% of the rate), slowest write (500ms), latency deviation (100ms) and errors",
		setup: func(fs *flag.FlagSet) action {
			var f checkFlags
			f.register(fs, "/etcdctl-check-perf/")
			duration := fs.Duration("duration", time.Minute, "how long to write (etcdctl's checks always take a minute)")
			return func(e *env, _ []string) error {
				load, err := f.model(perfLoads)
				if err != nil {
					return err
				}
				if *duration <= 0 {
					return badUsage("--duration %v is not positive", *duration)
				}
				run, err := newCheckRun(e, f, load.clients)
				if err != nil {
					return err
				}
				defer run.close()
				ctx, cancel := context.WithTimeout(e.ctx, *duration)
				defer cancel()
				s := run.put(ctx, func(yield func() bool) { paced(ctx, load.writesPerSecond, yield) }, 256, 1024)
				if err := run.cleanup(); err != nil {
					return err
				}
				lines, ok := judgePerf(s, load.writesPerSecond)
				for _, l := range lines {
					e.p.printf("%s\n", l)
				}
				if !ok {
					e.p.printf("FAIL\n")
					return errors.New("check perf failed")
				}
				e.p.printf("PASS\n")
				return nil
			}
		}}
}

func checkDatascaleCommand() command {
	return command{name: "check datascale", minArgs: 0, maxArgs: 0,
		summary: "Put the --load model's number of 1 KiB keys and report how much the first endpoint's\n" +
			"resident memory (process_resident_memory_bytes of its /metrics) grew, in all and per key",
		setup: func(fs *flag.FlagSet) action {
			var f checkFlags
			f.register(fs, "/etcdctl-check-datascale/")
			keys := fs.Int("keys", 0, "put this many keys instead of the model's (0: the model's)")
			return func(e *env, _ []string) error {
				load, err := f.model(datascaleLoads)
				if err != nil {
					return err
				}
				switch {
				case *keys < 0:
					return badUsage("--keys %d is negative", *keys)
				case *keys > 0:
					load.keys = *keys
				}
				run, err := newCheckRun(e, f, load.clients)
				if err != nil {
					return err
				}
				defer run.close()
				ep := e.g.endpointList()[0]
				before, err := residentMemory(e, ep)
				if err != nil {
					return err
				}
				e.p.printf("Start data scale check for work load [%d key-value pairs, %d bytes per key-value, %d concurrent clients].\n",
					load.keys, 1024, load.clients)
				s := run.put(e.ctx, func(yield func() bool) {
					for range load.keys {
						if !yield() {
							return
						}
					}
				}, 512, 512)
				after, err := residentMemory(e, ep)
				if err != nil {
					return err
				}
				if err := run.cleanup(); err != nil {
					return err
				}
				if len(s.errors) > 0 {
					for _, l := range errorLines(s) {
						e.p.printf("%s\n", l)
					}
					return errors.New("check datascale failed")
				}
				grown := after - before
				e.p.printf("PASS: Approximate system memory used : %.2f MB.\n", grown/(1024*1024))
				if s.count > 0 {
					e.p.printf("PASS: Approximate memory per key : %.0f bytes.\n", grown/float64(s.count))
				}
				return nil
			}
		}}
}

// checkRun is one check's clients and keys.
type checkRun struct {
	e       *env
	f       checkFlags
	clients []*client.Client
}

// newCheckRun connects n clients and checks the prefix holds no key.
func newCheckRun(e *env, f checkFlags, n int) (*checkRun, error) {
	r := &checkRun{e: e, f: f}
	for range n {
		c, err := e.newClient(e.g.endpointList())
		if err != nil {
			r.close()
			return nil, err
		}
		r.clients = append(r.clients, c)
	}
	ctx, cancel := e.request()
	defer cancel()
	resp, err := r.clients[0].Get(ctx, f.prefix, client.WithPrefix(), client.WithCountOnly())
	if err != nil {
		r.close()
		return nil, fmt.Errorf("checking prefix %q is empty: %w", f.prefix, err)
	}
	if resp.Count > 0 {
		r.close()
		return nil, fmt.Errorf("prefix %q has %d keys: delete them first (ctl del --prefix %s)", f.prefix, resp.Count, f.prefix)
	}
	return r, nil
}

func (r *checkRun) close() {
	for _, c := range r.clients {
		_ = c.Close()
	}
}

// putStats are the latencies and errors of a check's writes.
type putStats struct {
	count     int
	elapsed   time.Duration
	latencies []time.Duration // of the writes that succeeded
	errors    map[string]int
}

// put writes a key of keySize bytes (the prefix, then random bytes) and a
// value of valueSize zero bytes each time next lets it, spread over the
// clients, until next stops or ctx ends.
func (r *checkRun) put(ctx context.Context, next func(yield func() bool), keySize, valueSize int) putStats {
	work := make(chan string, len(r.clients))
	s := putStats{errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	value := string(make([]byte, valueSize))
	for _, c := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range work {
				// A write under way finishes when the check's time is up.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.e.g.commandTimeout)
				start := time.Now()
				_, err := c.Put(rctx, key, value)
				took := time.Since(start)
				cancel()
				mu.Lock()
				s.count++
				if err != nil {
					s.errors[err.Error()]++
				} else {
					s.latencies = append(s.latencies, took)
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	suffix := make([]byte, max(keySize-len(r.f.prefix), 8))
	next(func() bool {
		_, _ = rand.Read(suffix)
		select {
		case work <- r.f.prefix + string(suffix):
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(work)
	wg.Wait()
	s.elapsed = time.Since(start)
	return s
}

// paced calls yield writesPerSecond times a second until ctx ends or
// yield says stop. A late call is not made up for with a burst: the rate
// never exceeds the target.
func paced(ctx context.Context, writesPerSecond int, yield func() bool) {
	interval := time.Second / time.Duration(writesPerSecond)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil || !yield() {
			return
		}
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
	}
}

// cleanup deletes the check's keys, then compacts and defragments if
// asked.
func (r *checkRun) cleanup() error {
	e, c := r.e, r.clients[0]
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
	defer cancel()
	resp, err := c.Delete(ctx, r.f.prefix, client.WithPrefix())
	if err != nil {
		return fmt.Errorf("deleting the check's keys under %q: %w", r.f.prefix, err)
	}
	if r.f.autoCompact {
		if _, err := c.Compact(ctx, resp.Header.Revision); err != nil {
			return fmt.Errorf("compacting at revision %d: %w", resp.Header.Revision, err)
		}
		e.p.printf("Compacted with revision %d\n", resp.Header.Revision)
	}
	if r.f.autoDefrag {
		for _, ep := range e.g.endpointList() {
			if _, err := c.Defragment(ctx, ep); err != nil {
				return fmt.Errorf("defragmenting %s: %w", ep, err)
			}
			e.p.printf("Finished defragmenting etcd member[%s]\n", ep)
		}
	}
	return nil
}

// judgePerf returns check perf's verdict lines on s, a run aiming at
// writesPerSecond, and whether it passed.
func judgePerf(s putStats, writesPerSecond int) (lines []string, ok bool) {
	ok = true
	if len(s.errors) > 0 {
		lines, ok = errorLines(s), false
	}
	rate := 0.0
	if s.elapsed > 0 {
		rate = float64(s.count) / s.elapsed.Seconds()
	}
	if rate/float64(writesPerSecond) <= perfMinRateShare {
		lines, ok = append(lines, fmt.Sprintf("FAIL: Throughput too low: %d writes/s", int(rate)+1)), false
	} else {
		lines = append(lines, fmt.Sprintf("PASS: Throughput is %d writes/s", int(rate)+1))
	}
	slowest, stddev := latencyStats(s.latencies)
	if slowest > perfMaxSlowest {
		lines, ok = append(lines, fmt.Sprintf("FAIL: Slowest request took too long: %fs", slowest.Seconds())), false
	} else {
		lines = append(lines, fmt.Sprintf("PASS: Slowest request took %fs", slowest.Seconds()))
	}
	if stddev > perfMaxStddev {
		lines, ok = append(lines, fmt.Sprintf("FAIL: Stddev too high: %fs", stddev.Seconds())), false
	} else {
		lines = append(lines, fmt.Sprintf("PASS: Stddev is %fs", stddev.Seconds()))
	}
	return lines, ok
}

// errorLines lists each error of s and how often it happened.
func errorLines(s putStats) []string {
	lines := []string{"FAIL: too many errors"}
	msgs := make([]string, 0, len(s.errors))
	for m := range s.errors {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		lines = append(lines, fmt.Sprintf("FAIL: ERROR(%s) -> %d", m, s.errors[m]))
	}
	return lines
}

// latencyStats returns the slowest latency and the standard deviation.
func latencyStats(ls []time.Duration) (slowest, stddev time.Duration) {
	if len(ls) == 0 {
		return 0, 0
	}
	var sum float64
	for _, l := range ls {
		slowest = max(slowest, l)
		sum += float64(l)
	}
	mean := sum / float64(len(ls))
	var sq float64
	for _, l := range ls {
		d := float64(l) - mean
		sq += d * d
	}
	return slowest, time.Duration(math.Sqrt(sq / float64(len(ls))))
}

// residentMemory reads process_resident_memory_bytes from the /metrics of
// the member at endpoint ep (served on its client port).
func residentMemory(e *env, ep string) (float64, error) {
	url := ep
	if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
		url = "http://" + ep
		if e.tls != nil {
			url = "https://" + ep
		}
	}
	url = strings.TrimSuffix(url, "/") + "/metrics"
	hc := &http.Client{Timeout: e.g.commandTimeout, Transport: &http.Transport{TLSClientConfig: e.tls}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		return 0, fmt.Errorf("reading the member's memory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading the member's memory: GET %s: %s", url, resp.Status)
	}
	return parseResidentMemory(resp.Body, url)
}

// parseResidentMemory finds process_resident_memory_bytes in a
// Prometheus text exposition.
func parseResidentMemory(r io.Reader, url string) (float64, error) {
	const name = "process_resident_memory_bytes"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("reading the member's memory: %s: %s %q is not a number", url, name, value)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading the member's memory: %s: %w", url, err)
	}
	return 0, fmt.Errorf("reading the member's memory: %s has no %s (is it a cairn or etcd member's client URL?)", url, name)
}
