package etcdapi_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkPutFaces compares puts through cairn's native client and
// through clientv3 on the etcd face, against one in-process member with 64
// clients in flight (client and server share the process: compare the
// two, not the absolute numbers). The difference is the cost of the etcd
// face and of clientv3.
func BenchmarkPutFaces(b *testing.B) {
	c := startClusterB(b, 1)
	value := make([]byte, 256)
	const inFlight = 64
	run := func(b *testing.B, put func(ctx context.Context, key string) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					if err := put(context.Background(), fmt.Sprintf("k%d", i%10000)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.Run("native", func(b *testing.B) {
		cl := c.Client()
		run(b, func(ctx context.Context, key string) error {
			_, err := cl.Put(ctx, key, string(value))
			return err
		})
	})
	b.Run("clientv3", func(b *testing.B) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints()})
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		run(b, func(ctx context.Context, key string) error {
			_, err := cli.Put(ctx, key, string(value))
			return err
		})
	})
}
