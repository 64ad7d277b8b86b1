package node_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/node/nodetest"
)

// BenchmarkPutLargeValue measures puts of large values by 16 concurrent
// clients on the leader of a 3-member cluster in this process, on the
// real disk (t.TempDir), with compare.sh's raft timing; MB/s is values
// written per second:
//
//	go test -run '^$' -bench PutLargeValue -benchtime 20x ./node
//
// Every byte of a value crosses the client's connection, the leader's
// WAL, two peer connections, two followers' WALs and the three members'
// page files: the disk's bandwidth shared by three members bounds it, and
// past that each copy of the value in memory costs CPU the members and
// the client share.
func BenchmarkPutLargeValue(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			c := nodetest.Start(b, 3, nodetest.Options{Configure: func(i int, cfg *node.Config) {
				cfg.HeartbeatInterval = 100 * time.Millisecond
				cfg.ElectionTimeout = time.Second
			}})
			cl := c.Client(c.Endpoint(c.Leader()))
			ctx := context.Background()
			val := string(make([]byte, size))
			if _, err := cl.Put(ctx, "warm", val); err != nil {
				b.Fatal(err)
			}
			const clients = 16
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if _, err := cl.Put(ctx, fmt.Sprintf("k%05d", i%1000), val); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
