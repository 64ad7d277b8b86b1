package replica

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/raftcore"
)

// TestProposalAppliedInsideASnapshotIsNotCalledUnapplied: a follower's
// forwarded proposal commits while the follower is cut off; the leader's
// log moves past it, so the follower catches up from a snapshot that
// holds the proposal's effect, and then applies a duplicate of the same
// proposal (a MsgProp delivered twice), which the duplicate filter
// refuses. The proposer never applied the first copy itself, so it still
// waits: it must not be told that nothing happened (the server would
// propose the request again and apply it twice), only that it cannot
// tell (ErrOutcomeUnknown).
func TestProposalAppliedInsideASnapshotIsNotCalledUnapplied(t *testing.T) {
	c := newKVCluster(t, 3, 5)
	lead := c.leader()
	f := c.follower(lead)
	c.propose(f, 1000, "k", "v") // an id c.write does not use
	props := c.takeProps()
	if len(props) != 1 {
		t.Fatalf("%d MsgProp queued, want 1", len(props))
	}
	c.down[f] = true // cut off: it neither hears nor ticks
	c.queue = append(c.queue, props[0])
	c.settle()
	first := c.indexOf(lead, props[0].Entries[0].Data)
	// Move the leader's log well past the proposal: its snapshots keep
	// only CatchUpEntries (3) entries before them.
	for i := range 20 {
		c.write(lead, &api.PutRequest{Key: []byte(fmt.Sprintf("x%d", i)), Value: []byte("v")})
	}
	sent := c.snapshotsSent
	delete(c.down, f)
	c.tick(10)
	if c.snapshotsSent == sent {
		t.Fatal("the follower caught up without a snapshot: the test no longer covers the case")
	}
	if got := c.members[f].kv.AppliedIndex(); got <= first {
		t.Fatalf("the follower is at %d, not past the proposal at %d", got, first)
	}
	// Now the duplicate: the follower applies it as an entry, and the
	// duplicate filter refuses it.
	c.queue = append(c.queue, props[0])
	c.settle()
	c.tick(3)
	if second := c.indexOf(f, props[0].Entries[0].Data); second <= first {
		t.Fatalf("the follower's log holds the proposal at %d only, want a second copy past %d", second, first)
	}
	for id := range c.members {
		if kvs := c.get(id, "k"); len(kvs) != 1 || kvs[0].Version != 1 {
			t.Fatalf("member %d holds %v, want k written once", id, kvs)
		}
	}
	r, ok := c.replies[1000]
	switch {
	case !ok:
		t.Fatal("the proposer never answered")
	case errors.Is(r.Err, raftcore.ErrProposalDropped):
		t.Fatalf("the proposer answered %v, which says the proposal was not applied; it was, inside the snapshot", r.Err)
	case !errors.Is(r.Err, ErrOutcomeUnknown):
		t.Fatalf("the proposer answered %+v, want ErrOutcomeUnknown", r)
	}
}

// indexOf returns the index of the last entry in member id's log whose
// data is data.
func (c *kvCluster) indexOf(id uint64, data []byte) uint64 {
	c.t.Helper()
	log := c.members[id].log
	first, _ := log.FirstIndex()
	last, _ := log.LastIndex()
	ents, err := log.Entries(first, last+1, 1<<30)
	if err != nil {
		c.t.Fatal(err)
	}
	var at uint64
	for _, e := range ents {
		if bytes.Equal(e.Data, data) {
			at = e.Index
		}
	}
	if at == 0 {
		c.t.Fatalf("member %d's log (%d to %d) does not hold the entry", id, first, last)
	}
	return at
}
