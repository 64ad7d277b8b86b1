package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
)

// The store commits what was applied every --backend-batch-interval, or
// sooner once --backend-batch-limit changes wait: with an interval of an
// hour, only the limit makes it commit.
func TestBackendBatchLimitCommitsTheStore(t *testing.T) {
	for _, tt := range []struct {
		limit      int
		wantCommit bool
	}{{limit: 4, wantCommit: true}, {limit: 1000, wantCommit: false}} {
		t.Run(fmt.Sprintf("limit %d", tt.limit), func(t *testing.T) {
			c := newTestClusterWith(t, 1, func(cfg *node.Config) {
				cfg.BackendBatchInterval = time.Hour
				cfg.BackendBatchLimit = tt.limit
			})
			c.Leader()
			ctx := ctxT(t)
			cl := c.Client()
			before := c.Servers[0].StoreDurableTxIDForTest()
			for i := range 10 {
				if _, err := cl.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(2 * time.Second)
			for c.Servers[0].StoreDurableTxIDForTest() == before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if committed := c.Servers[0].StoreDurableTxIDForTest() != before; committed != tt.wantCommit {
				t.Fatalf("store committed during 10 puts: %v, want %v (limit %d, interval an hour)", committed, tt.wantCommit, tt.limit)
			}
		})
	}
}
