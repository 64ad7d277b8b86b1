package node_test

import (
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
)

// A lease granted a TTL below the member's minimum gets the minimum,
// etcd's: one and a half election timeouts rounded up, 2 s with etcd's
// default timings.
func TestLeaseGrantGetsEtcdsMinimumTTL(t *testing.T) {
	c := newTestClusterWith(t, 1, func(cfg *node.Config) {
		cfg.HeartbeatInterval, cfg.ElectionTimeout = 100*time.Millisecond, time.Second
	})
	c.Leader()
	ctx := ctxT(t)
	cl := c.Client()
	for _, tt := range []struct{ asked, want int64 }{{1, 2}, {2, 2}, {5, 5}} {
		g, err := cl.Grant(ctx, tt.asked)
		if err != nil {
			t.Fatal(err)
		}
		if g.TTL != tt.want {
			t.Errorf("grant of %d s: TTL %d, want %d", tt.asked, g.TTL, tt.want)
		}
	}
}
