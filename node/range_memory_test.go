package node_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
	"github.com/cairndb/cairn/rpc"
)

// A range far larger than the response limit is refused at once, in about
// the memory of the limit, as are the reads of a read-only transaction
// that add up past it; one within the limit (a limit on the keys, the
// count only) is answered. The member runs in this process, so the bytes
// the process allocates while the request runs bound the member's heap
// growth (they would be well over 40 MiB if the member read every key). 20,000 keys of 1 KiB by default (ten times the limit), 200,000
// with CAIRN_LONG=1.
func TestRangeOverTheResponseLimitIsRefusedInBoundedMemory(t *testing.T) {
	n := 20_000
	if os.Getenv("CAIRN_LONG") != "" {
		n = 200_000
	}
	c := nodetest.Start(t, 1, nodetest.Options{Configure: func(_ int, cfg *node.Config) {
		cfg.SnapshotCount = 1 << 30 // no snapshot of the whole store in the middle
	}})
	ctx := ctxT(t)
	cl := c.Client()
	loadKeys(t, ctx, cl, n)

	const limit = rpc.DefaultMaxFrameSize // the member's, with the default --max-request-bytes
	half := fmt.Sprintf("w/%08d", n/2)
	for _, tc := range []struct {
		name  string
		run   func() error
		most  uint64 // bytes the process may allocate meanwhile
		count int64  // of an answered range
	}{
		{"everything", func() error { _, err := cl.Get(ctx, "w/", client.WithPrefix()); return err }, 16 << 20, -1},
		{"a read-only txn of two halves", func() error {
			_, err := cl.Txn(ctx).Then(client.OpGet("w/", client.WithRange(half)), client.OpGet(half, client.WithRange("w0"))).Commit()
			return err
		}, 16 << 20, -1},
		{"the first 1000", func() error {
			resp, err := cl.Get(ctx, "w/", client.WithPrefix(), client.WithLimit(1000))
			if err == nil && (resp.Count != int64(n) || len(resp.Kvs) != 1000 || !resp.More) {
				err = fmt.Errorf("count %d, %d keys, more %v", resp.Count, len(resp.Kvs), resp.More)
			}
			return err
		}, 16 << 20, int64(n)},
		{"the count", func() error {
			resp, err := cl.Get(ctx, "w/", client.WithPrefix(), client.WithCountOnly())
			if err == nil && resp.Count != int64(n) {
				err = fmt.Errorf("count %d", resp.Count)
			}
			return err
		}, 4 << 20, int64(n)},
	} {
		// The least of three runs: the member's background work (the
		// store's commits after the load) allocates too.
		var err error
		used := uint64(math.MaxUint64)
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err = tc.run()
			runtime.ReadMemStats(&after)
			used = min(used, after.TotalAlloc-before.TotalAlloc)
		}
		t.Logf("%s over %d keys: %v; allocated %.1f MiB", tc.name, n, err, float64(used)/(1<<20))
		switch {
		case tc.count < 0 && !errors.Is(err, api.ErrRequestTooLarge):
			t.Errorf("%s: %v, want it refused as too large", tc.name, err)
		case tc.count < 0 && !strings.Contains(err.Error(), fmt.Sprint(limit)):
			t.Errorf("%s: the refusal %q does not name the limit %d", tc.name, err, limit)
		case tc.count >= 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		}
		if used > tc.most {
			t.Errorf("%s over %d keys of 1 KiB: the process allocated %d bytes, more than %d", tc.name, n, used, tc.most)
		}
	}
}

// loadKeys puts w/00000000 ... of 1 KiB each, 128 to a transaction.
func loadKeys(t *testing.T, ctx context.Context, cl *client.Client, n int) {
	t.Helper()
	value := strings.Repeat("v", 1024)
	const perTxn = node.DefaultMaxTxnOps
	batches := make(chan int)
	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := range batches {
				var ops []client.Op
				for i := first; i < min(first+perTxn, n); i++ {
					ops = append(ops, client.OpPut(fmt.Sprintf("w/%08d", i), value))
				}
				if _, err := cl.Txn(ctx).Then(ops...).Commit(); err != nil {
					once.Do(func() { failed = err })
				}
			}
		}()
	}
	for first := 0; first < n; first += perTxn {
		batches <- first
	}
	close(batches)
	wg.Wait()
	if failed != nil {
		t.Fatalf("loading %d keys: %v", n, failed)
	}
}
