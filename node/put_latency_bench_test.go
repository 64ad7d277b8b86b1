package node_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// BenchmarkPutOneClient measures a single client's put latency against a
// 3-member cluster in this process, on the real disk (t.TempDir), with
// compare.sh's raft timing:
//
//	go test -run '^$' -bench PutOneClient -benchtime 3000x ./node
//
// One put at a time is the write path's latency: the leader's and a
// follower's fsyncs (in parallel with each other's network round trip),
// two network hops between members, one each way to the client, the
// goroutine hand-offs between them, and applying the entry. ns/op is the
// mean; p50 and p99 are reported too. The members and the client share
// the machine's cores, so hand-offs cost more here than between
// processes (see bench/README.md for the breakdown and compare.sh).
func BenchmarkPutOneClient(b *testing.B) {
	c := nodetest.Start(b, 3, nodetest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.HeartbeatInterval = 100 * time.Millisecond
		cfg.ElectionTimeout = time.Second
	}})
	lead := c.Leader()
	cl := c.Client(c.Endpoint(lead))
	ctx := context.Background()
	val := string(make([]byte, 256))
	for i := range 100 { // warm up connections and the members' own writes
		if _, err := cl.Put(ctx, fmt.Sprintf("warm%d", i), val); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := cl.Put(ctx, fmt.Sprintf("k%07d", i%10000), val); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
