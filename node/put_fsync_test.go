package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairndb/cairn/node/nodetest"
)

// A put costs each member one fsync of its log — the entry — and no more:
// the commit index that follows it is written without one (a restarted
// member learns it again from the leader). Two fsyncs per put, one after
// the other on the leader's path to the answer, were a third of a
// single client's latency.
func TestOneWALFsyncPerMemberPerPut(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	lead := c.Leader()
	cl := c.Client(c.Endpoint(lead))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The members' own first writes (publishing their names) come first.
	for i := range 5 {
		if _, err := cl.Put(ctx, fmt.Sprintf("warm%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	before := make([]uint64, len(c.Servers))
	for i, s := range c.Servers {
		before[i] = s.WALFsyncsForTest()
	}
	const puts = 40
	for i := range puts {
		if _, err := cl.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range c.Servers {
		// A little slack for a write of the member's own (none is
		// expected); syncing the commit index too would double it.
		if n := s.WALFsyncsForTest() - before[i]; n > puts+puts/4 {
			t.Errorf("member %d made %d WAL fsyncs for %d puts, want about one per put", i, n, puts)
		}
	}
}
