package replica

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// follower returns a member other than lead.
func (c *kvCluster) follower(lead uint64) uint64 {
	for id := uint64(1); ; id++ {
		if id != lead {
			return id
		}
	}
}

// propose makes member id propose a put of key=value as request rid,
// without waiting: its MsgProp is left in the queue.
func (c *kvCluster) propose(id, rid uint64, key, value string) {
	c.t.Helper()
	cmd, err := NewCommand(&api.PutRequest{Key: []byte(key), Value: []byte(value)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.step(id, EvPropose{ReqID: rid, Cmd: cmd})
}

// get reads one key from member id's store.
func (c *kvCluster) get(id uint64, key string) []api.KeyValue {
	c.t.Helper()
	res, err := c.members[id].kv.Store().RangeRequest(&api.RangeRequest{Key: []byte(key)}, 0)
	if err != nil {
		c.t.Fatalf("read at %d: %v", id, err)
	}
	return res.Kvs
}

// takeProps removes the MsgProp messages from the queue and returns them.
func (c *kvCluster) takeProps() []raftcore.Message {
	var props, rest []raftcore.Message
	for _, m := range c.queue {
		if m.Type == raftcore.MsgProp {
			props = append(props, m)
		} else {
			rest = append(rest, m)
		}
	}
	c.queue = rest
	return props
}

// TestDuplicatedProposalAppliedOnce: a follower's forwarded proposal
// reaches the leader three times; the leader appends it three times,
// every member applies it once, and the proposer gets one answer.
func TestDuplicatedProposalAppliedOnce(t *testing.T) {
	c := newKVCluster(t, 3, 1000)
	lead := c.leader()
	f := c.follower(lead)
	c.propose(f, 1, "k", "v")
	props := c.takeProps()
	if len(props) != 1 {
		t.Fatalf("%d MsgProp queued, want 1", len(props))
	}
	c.queue = append(c.queue, props[0], props[0], props[0])
	c.settle()
	c.tick(3)
	r, ok := c.replies[1]
	if !ok || r.Err != nil {
		t.Fatalf("reply %+v (got one: %v)", r, ok)
	}
	if rev := r.Result.(ApplyResult).Resp.(*api.PutResponse).Header.Revision; rev != 2 {
		t.Fatalf("put answered at revision %d, want 2 (the first write)", rev)
	}
	for id, m := range c.members {
		kvs := c.get(id, "k")
		if len(kvs) != 1 || kvs[0].Version != 1 || m.kv.Store().Rev() != 2 {
			t.Fatalf("member %d: %v at revision %d; want version 1 at revision 2 (one write)", id, kvs, m.kv.Store().Rev())
		}
	}
	// The log does hold three copies.
	log := c.members[lead].log
	first, _ := log.FirstIndex()
	last, _ := log.LastIndex()
	ents, err := log.Entries(first, last+1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	for _, e := range ents {
		if e.Type == raftcore.EntryNormal && len(e.Data) > headerSize && bytes.Equal(e.Data, props[0].Entries[0].Data) {
			copies++
		}
	}
	if copies != 3 {
		t.Fatalf("the leader's log holds %d copies of the proposal, want 3", copies)
	}
}

// TestLateProposalRefusedAndAnswered: a follower's proposal is held back
// while more than a window of its later proposals commit; when it
// arrives it is refused, not applied, and its proposer told so with an
// error that says nothing happened (and is retried by the server).
func TestLateProposalRefusedAndAnswered(t *testing.T) {
	c := newKVCluster(t, 3, 1000)
	lead := c.leader()
	f := c.follower(lead)
	c.propose(f, 1, "late", "v")
	held := c.takeProps()
	for i := range dedupWindow {
		c.propose(f, uint64(2+i), fmt.Sprintf("k%d", i), "v")
	}
	c.settle()
	c.tick(2)
	for i := range dedupWindow {
		if r, ok := c.replies[uint64(2+i)]; !ok || r.Err != nil {
			t.Fatalf("later proposal %d: %+v", i, r)
		}
	}
	// A proposal just inside the window, delivered late, is applied.
	c.propose(f, 100, "inside", "v")
	inside := c.takeProps()
	c.propose(f, 101, "after", "v")
	c.settle()
	c.queue = append(c.queue, inside...)
	c.settle()
	if r := c.replies[100]; r.Err != nil || r.Result == nil {
		t.Fatalf("late proposal inside the window: %+v", r)
	}

	c.queue = append(c.queue, held...)
	c.settle()
	c.tick(2)
	r, ok := c.replies[1]
	if !ok || !errors.Is(r.Err, ErrProposalNotApplied) || !errors.Is(r.Err, raftcore.ErrProposalDropped) {
		t.Fatalf("late proposal: reply %+v (got one: %v), want ErrProposalNotApplied", r, ok)
	}
	for id := range c.members {
		if kvs := c.get(id, "late"); len(kvs) != 0 {
			t.Fatalf("member %d applied the refused proposal: %v", id, kvs)
		}
		if kvs := c.get(id, "inside"); len(kvs) != 1 {
			t.Fatalf("member %d did not apply the late proposal inside the window: %v", id, kvs)
		}
	}
}

// TestDedupRecordsSurviveRestartAndCrash: the records are in the store,
// written before the entries they cover: after a clean restart and after
// a crash that lost everything unsynced, the state machine decides the
// same proposals alike.
func TestDedupRecordsSurviveRestartAndCrash(t *testing.T) {
	disk := fsx.NewMem()
	k, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	put := mustEncode(t, &api.PutRequest{Key: []byte("k"), Value: []byte("v")})
	props := []Proposal{{Index: 1, Tag: 7, Seq: 1}, {Index: 2, Tag: 7, Seq: 2}, {Index: 3, Tag: 7, Seq: 1}}
	admitted, err := k.AdmitProposals(1, 3, props)
	if err != nil || fmt.Sprint(admitted) != "[true true false]" {
		t.Fatalf("admitted %v, %v", admitted, err)
	}
	if _, err := k.Apply(1, 1, put); err != nil {
		t.Fatal(err)
	}
	if err := k.Store().Commit(); err != nil {
		t.Fatal(err)
	}
	// Crash with index 1 durable: 2 and 3 are replayed, decided alike.
	disk = disk.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(1, 1)))
	k2, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	if k2.AppliedIndex() != 1 {
		t.Fatalf("applied %d after the crash, want 1", k2.AppliedIndex())
	}
	if got, err := k2.AdmitProposals(2, 3, props[1:]); err != nil || fmt.Sprint(got) != "[true false]" {
		t.Fatalf("replay after the crash admitted %v (%v), want [true false]", got, err)
	}
	if _, err := k2.Apply(2, 1, put); err != nil {
		t.Fatal(err)
	}
	if err := k2.Skip(3, 1); err != nil {
		t.Fatal(err)
	}
	// A copy of proposal 2 later in the log is refused, also after a
	// clean restart.
	if err := k2.Close(); err != nil {
		t.Fatal(err)
	}
	k3, err := OpenKVState(disk, "/db")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k3.AdmitProposals(4, 5, []Proposal{{Index: 4, Tag: 7, Seq: 2}, {Index: 5, Tag: 7, Seq: 3}}); err != nil || fmt.Sprint(got) != "[false true]" {
		t.Fatalf("after restart admitted %v (%v), want [false true]", got, err)
	}
}
