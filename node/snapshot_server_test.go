package node_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/client"
)

// A member that was down while the others compacted their logs is caught
// up by a snapshot streamed from the leader's store while clients keep
// writing: the store is several chunks long, writes commit between them,
// and in the end every member holds the same history (same hash at the
// same revision).
func TestServerSnapshotWhileWritesGoOn(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.Leader()
	ctx := ctxT(t)
	lag := (lead + 1) % 3
	c.StopMember(lag)
	cl := c.Client(c.Endpoints()[lead])
	val := strings.Repeat("x", 4000)
	const keys = 600 // 2.4 MB of values: three chunks; SnapshotCount is 100
	for i := range keys {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%04d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := cl.Put(ctx, fmt.Sprintf("w%04d", writes%300), val); err != nil {
				t.Error(err)
				return
			}
			writes++
		}
	}()
	c.StartMember(lag)
	one := c.Client(c.Endpoints()[lag])
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := one.Get(ctx, "k", client.WithPrefix(), client.WithCountOnly(), client.WithSerializable())
		if err == nil && resp.Count == keys {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lagging member did not catch up: %+v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if writes == 0 {
		t.Fatal("no write went on during the catch-up")
	}
	st, err := cl.Status(ctx, c.Endpoints()[lead])
	if err != nil {
		t.Fatal(err)
	}
	rev := st.Header.Revision
	hashes := map[uint32][]string{}
	for _, ep := range c.Endpoints() {
		var h uint32
		for {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			r, err := c.Client(ep).HashKV(cctx, ep, rev)
			cancel()
			if err == nil {
				h = r.Hash
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hash of %s at revision %d: %v", ep, rev, err)
			}
			time.Sleep(10 * time.Millisecond) // not there yet: a future revision
		}
		hashes[h] = append(hashes[h], ep)
	}
	if len(hashes) != 1 {
		t.Fatalf("members' hashes at revision %d differ: %v", rev, hashes)
	}
}
