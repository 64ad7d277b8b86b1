package bench_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairndb/cairn/bench"
	"github.com/cairndb/cairn/node/nodetest"
)

func TestEveryWorkloadAgainstACluster(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := bench.Config{Endpoints: c.Endpoints(), Clients: 6, Conns: 2, Total: 60, KeySpace: 100,
		Watchers: 3, LeaderFirst: true}
	for _, tc := range []struct {
		workload string
		change   func(*bench.Config)
		wantOps  int64
	}{
		{"put", nil, 60},
		{"put", func(c *bench.Config) { c.Sequential = true; c.Label = "put-seq" }, 60},
		{"range", nil, 60},
		{"range", func(c *bench.Config) { c.Serializable, c.Prefix, c.NoPreload = true, true, true }, 60},
		{"txn-put", nil, 60},
		{"watch", nil, 60 * 3}, // every put reaches every watcher
		{"lease-keepalive", nil, 60},
		{"mixed", func(c *bench.Config) { c.ReadRatio = 0.5 }, 60},
	} {
		cfg := base
		if tc.change != nil {
			tc.change(&cfg)
		}
		res, err := bench.Run(ctx, bench.Cairn{}, tc.workload, cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.workload, err)
		}
		if res.Ops != tc.wantOps || res.Errors != 0 {
			t.Errorf("%s: %d ops, %d errors %v; want %d ops, no errors", tc.workload, res.Ops, res.Errors, res.ErrorSamples, tc.wantOps)
		}
		if res.Workload != tc.workload || res.Target != "cairn" || res.Clients != 6 || res.Conns != 2 {
			t.Errorf("%s: result describes %s on %s with %d/%d", tc.workload, res.Workload, res.Target, res.Clients, res.Conns)
		}
		if res.QPS <= 0 || res.Latency.P50Ms <= 0 || res.Latency.MaxMs < res.Latency.P99Ms || len(res.Histogram) == 0 || len(res.Timeline) == 0 {
			t.Errorf("%s: empty measurements: %+v", tc.workload, res)
		}
		for _, n := range res.Notes {
			if strings.Contains(n, "found no key") {
				t.Errorf("%s: %s", tc.workload, n)
			}
		}
		if tc.workload == "txn-put" && !strings.Contains(strings.Join(res.Notes, ";"), "60 swaps, 0 conflicts") {
			t.Errorf("txn-put on disjoint keys after reading their revisions: %v", res.Notes)
		}
		if tc.workload == "watch" && (res.Writes == nil || res.Writes.Ops != 60) {
			t.Errorf("watch: writes %+v, want 60 puts", res.Writes)
		}
	}
}

func TestRunForADuration(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{})
	res, err := bench.Run(context.Background(), bench.Cairn{}, "put",
		bench.Config{Endpoints: c.Endpoints(), Clients: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("%d ops, %d errors %v", res.Ops, res.Errors, res.ErrorSamples)
	}
}

// flaky is a Target whose puts fail every third time.
type flaky struct{ n atomic.Int64 }

func (f *flaky) Name() string                                     { return "flaky" }
func (f *flaky) Describe() string                                 { return "a store that fails" }
func (f *flaky) Dial([]string) (bench.Conn, error)                { return flakyConn{f}, nil }
func (f *flaky) Leader(context.Context, []string) (string, error) { return "", errors.New("none") }

type flakyConn struct{ f *flaky }

func (c flakyConn) Put(context.Context, []byte, []byte) (int64, error) {
	if c.f.n.Add(1)%3 == 0 {
		return 0, errors.New("disk on fire")
	}
	return 1, nil
}
func (flakyConn) Get(context.Context, []byte, bench.GetOptions) (int, error)     { return 1, nil }
func (flakyConn) ModRevisions(context.Context, []byte) (map[string]int64, error) { return nil, nil }
func (flakyConn) CAS(context.Context, []byte, []byte, int64) (bench.CASResult, error) {
	return bench.CASResult{}, nil
}
func (flakyConn) Watch(context.Context, []byte, func([]byte)) error { return nil }
func (flakyConn) Grant(context.Context, int64) (int64, error)       { return 1, nil }
func (flakyConn) KeepAliveOnce(context.Context, int64) error        { return nil }
func (flakyConn) Close() error                                      { return nil }

func TestErrorsAreCountedNotTimed(t *testing.T) {
	res, err := bench.Run(context.Background(), &flaky{}, "put",
		bench.Config{Endpoints: []string{"x:1"}, Clients: 3, Total: 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 20 || res.Errors != 10 {
		t.Fatalf("%d ops, %d errors; want 20 and 10", res.Ops, res.Errors)
	}
	if len(res.ErrorSamples) != 1 || res.ErrorSamples[0].Message != "disk on fire" || res.ErrorSamples[0].Count != 10 {
		t.Fatalf("error samples %+v", res.ErrorSamples)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	eps := []string{"x:1"}
	if _, err := bench.Run(ctx, &flaky{}, "nope", bench.Config{Endpoints: eps}); err == nil || !strings.Contains(err.Error(), "unknown workload") {
		t.Errorf("unknown workload: %v", err)
	}
	if _, err := bench.Run(ctx, &flaky{}, "put", bench.Config{Endpoints: eps, LeaderFirst: true}); err == nil {
		t.Error("leader-first without a leader: no error")
	}
	if _, err := bench.Run(ctx, &flaky{}, "watch", bench.Config{Endpoints: eps, ValSize: 4, Total: 1}); err == nil || !strings.Contains(err.Error(), "--val-size 4") {
		t.Errorf("watch with 4-byte values: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := bench.Run(canceled, &flaky{}, "put", bench.Config{Endpoints: eps, Total: 10}); err == nil {
		t.Error("canceled run: no error")
	}
}
