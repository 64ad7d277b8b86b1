package node_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cairndb/cairn/client"
	"github.com/cairndb/cairn/node/nodetest"
)

// TestPhysicalCompactionWaitsForTheRecords: the apply of a compaction
// only marks the revision compacted, and the store's commits remove the
// records it drops a batch at a time (1,000 per commit). A physical
// compaction answers once this member's store has removed them all, as
// etcd's does.
func TestPhysicalCompactionWaitsForTheRecords(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client()
	const keys, perTxn = 3000, 100
	value := strings.Repeat("v", 4096) // kept apart from the key's record
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make(chan error, keys/perTxn)
		for first := 0; first < keys; first += perTxn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ops []client.Op
				for i := first; i < first+perTxn; i++ {
					ops = append(ops, client.OpPut(fmt.Sprintf("k%05d", i), fmt.Sprint(round, value)))
				}
				_, err := cl.Txn(ctx).Then(ops...).Commit()
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, err := cl.Get(ctx, "k00000")
	if err != nil {
		t.Fatal(err)
	}
	// The first round's 3,000 versions are history now: three commits'
	// worth of records to remove.
	if _, err := cl.Compact(ctx, resp.Header.Revision, client.WithPhysical()); err != nil {
		t.Fatal(err)
	}
	if c.Servers[0].CompactionPendingForTest() {
		t.Fatal("a physical compaction answered with records left to remove")
	}
}
