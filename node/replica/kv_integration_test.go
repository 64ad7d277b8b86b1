package replica

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// kvMember is a member with its real storage: the WAL (logstore) and the
// MVCC store (btreekv) on a simulated disk that can lose power.
type kvMember struct {
	id   uint64
	disk *fsx.MemFS
	log  *logstore.Log
	kv   *KVState
	core *Core
}

type kvCluster struct {
	t       *testing.T
	members map[uint64]*kvMember
	queue   []raftcore.Message
	replies map[uint64]Reply
	down    map[uint64]bool
	peers   []raftcore.Peer
	snapCnt uint64
	nextReq uint64
	// snapshotsSent counts MsgSnap messages delivered.
	snapshotsSent int
}

func newKVCluster(t *testing.T, n int, snapshotCount uint64) *kvCluster {
	c := &kvCluster{t: t, members: map[uint64]*kvMember{}, replies: map[uint64]Reply{}, down: map[uint64]bool{}, snapCnt: snapshotCount}
	for i := 1; i <= n; i++ {
		c.peers = append(c.peers, raftcore.Peer{ID: uint64(i)})
	}
	for i := 1; i <= n; i++ {
		m := &kvMember{id: uint64(i), disk: fsx.NewMem()}
		c.members[m.id] = m
		c.start(m)
	}
	return c
}

func (c *kvCluster) start(m *kvMember) {
	dir := "/member"
	var err error
	if m.log, err = logstore.Open(logstore.Options{FS: m.disk, Dir: filepath.Join(dir, "log"), Create: true, SegmentSize: 1 << 16, Salvage: true}); err != nil {
		c.t.Fatalf("member %d: open log: %v", m.id, err)
	}
	if m.kv, err = OpenKVState(m.disk, filepath.Join(dir, "db")); err != nil {
		c.t.Fatalf("member %d: open store: %v", m.id, err)
	}
	m.core, err = NewCore(CoreConfig{ID: m.id, ElectionTick: 10, HeartbeatTick: 1, SnapshotCount: c.snapCnt, CatchUpEntries: 3,
		Peers: c.peers, Rand: rand.New(rand.NewPCG(m.id, 3))}, m.log, m.kv)
	if err != nil {
		c.t.Fatalf("member %d: start: %v", m.id, err)
	}
	delete(c.down, m.id)
}

// crash cuts a member's power: what it did not fsync is lost.
func (c *kvCluster) crash(id uint64) {
	m := c.members[id]
	m.disk = m.disk.Crash(fsx.LoseUnsynced, rand.New(rand.NewPCG(id, 9)))
	c.down[id] = true
}

func (c *kvCluster) step(id uint64, ev Event) {
	if c.down[id] {
		return
	}
	m := c.members[id]
	if msg, ok := ev.(EvMessage); ok && msg.Msg.Type == raftcore.MsgSnap {
		ev = EvMessage{Msg: unpackSnapshot(c.t, m.kv, msg.Msg)}
	}
	m.core.Step(ev)
	if err := m.core.Err(); err != nil {
		c.t.Fatalf("member %d failed: %v", id, err)
	}
	eff := m.core.TakeEffects()
	for _, msg := range eff.Messages {
		if msg.Type == raftcore.MsgSnap && !c.down[msg.To] {
			msg = packSnapshot(c.t, m.core, msg)
		}
		if !c.down[msg.To] {
			c.queue = append(c.queue, msg)
		}
		if msg.Type == raftcore.MsgSnap {
			if !c.down[msg.To] {
				c.snapshotsSent++
			}
			m.core.Step(EvSnapshotStatus{To: msg.To, Failed: c.down[msg.To]})
		}
	}
	for _, r := range eff.Replies {
		c.replies[r.ReqID] = r
	}
}

func (c *kvCluster) settle() {
	for i := 0; i < 100000 && len(c.queue) > 0; i++ {
		msg := c.queue[0]
		c.queue = c.queue[1:]
		c.step(msg.To, EvMessage{Msg: msg})
	}
}

func (c *kvCluster) tick(n int) {
	for range n {
		for id := uint64(1); id <= uint64(len(c.members)); id++ {
			c.step(id, EvTick{})
		}
		c.settle()
	}
}

func (c *kvCluster) leader() uint64 {
	for range 200 {
		for id, m := range c.members {
			if !c.down[id] && m.core.Status().SoftState.State == raftcore.StateLeader {
				return id
			}
		}
		c.tick(1)
	}
	c.t.Fatal("no leader")
	return 0
}

func (c *kvCluster) write(id uint64, req api.Message) ApplyResult {
	c.t.Helper()
	cmd, err := NewCommand(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nextReq++
	rid := c.nextReq
	c.step(id, EvPropose{ReqID: rid, Cmd: cmd})
	for range 100 {
		c.settle()
		if r, ok := c.replies[rid]; ok {
			if r.Err != nil {
				c.t.Fatalf("write at %d: %v", id, r.Err)
			}
			return r.Result.(ApplyResult)
		}
		c.tick(1)
	}
	c.t.Fatalf("no reply from %d", id)
	return ApplyResult{}
}

func (c *kvCluster) read(id uint64, key string) []api.KeyValue {
	res, err := c.members[id].kv.Store().RangeRequest(&api.RangeRequest{Key: []byte(key), RangeEnd: []byte{0}}, 0)
	if err != nil {
		c.t.Fatalf("read at %d: %v", id, err)
	}
	return res.Kvs
}

func TestReplicatedKV(t *testing.T) {
	c := newKVCluster(t, 3, 20)
	lead := c.leader()
	r := c.write(lead, &api.PutRequest{Key: []byte("greeting"), Value: []byte("hello")})
	if r.Err != nil || r.Resp.(*api.PutResponse).Header.Revision != 2 {
		t.Fatalf("first put: %+v", r)
	}
	// A compare-and-swap that holds, then one that does not.
	cas := func(expect, next string) bool {
		res := c.write(lead, &api.TxnRequest{
			Compare: []api.Compare{{Key: []byte("greeting"), Target: api.CompareValue, Result: api.CompareEqual, Value: []byte(expect)}},
			Success: []api.RequestOp{{Put: &api.PutRequest{Key: []byte("greeting"), Value: []byte(next)}}},
		})
		return res.Resp.(*api.TxnResponse).Succeeded
	}
	if !cas("hello", "bonjour") || cas("hello", "hola") {
		t.Fatal("compare-and-swap misbehaved")
	}
	c.tick(3)
	for id := range c.members {
		kvs := c.read(id, "greeting")
		if len(kvs) != 1 || string(kvs[0].Value) != "bonjour" || kvs[0].Version != 2 {
			t.Fatalf("member %d reads %v", id, kvs)
		}
	}
}

// TestKVSurvivesCrashesAndCatchesUpBySnapshot: a member loses power and
// everything unsynced, misses many writes (the others snapshot and compact
// their logs), and comes back: it is caught up by a snapshot and holds
// every acknowledged write.
func TestKVSurvivesCrashesAndCatchesUpBySnapshot(t *testing.T) {
	c := newKVCluster(t, 3, 10)
	lead := c.leader()
	acked := map[string]string{}
	for i := range 15 {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprint(i)
		c.write(lead, &api.PutRequest{Key: []byte(k), Value: []byte(v)})
		acked[k] = v
	}
	victim := lead%3 + 1
	c.crash(victim)
	for i := 15; i < 60; i++ {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprint(i)
		c.write(lead, &api.PutRequest{Key: []byte(k), Value: []byte(v)})
		acked[k] = v
	}
	// The leader crashes too and restarts from its disk.
	c.crash(lead)
	c.start(c.members[lead])
	c.start(c.members[victim])
	c.tick(40)
	newLead := c.leader()
	c.write(newLead, &api.PutRequest{Key: []byte("after"), Value: []byte("restart")})
	acked["after"] = "restart"
	c.tick(20)
	for id := range c.members {
		got := map[string]string{}
		for _, kv := range c.read(id, "a") {
			got[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if got[k] != v {
				t.Fatalf("member %d: %s = %q, acknowledged %q", id, k, got[k], v)
			}
		}
	}
	if c.snapshotsSent == 0 {
		t.Fatal("the lagging member was not caught up by a snapshot")
	}
	hashes := map[uint32][]uint64{}
	for id, m := range c.members {
		h, _, err := m.kv.Store().Hash(0)
		if err != nil {
			t.Fatal(err)
		}
		hashes[h] = append(hashes[h], id)
	}
	if len(hashes) != 1 {
		t.Fatalf("members' stores differ: %v", hashes)
	}
}

func TestLeaseRevokeThroughRaft(t *testing.T) {
	c := newKVCluster(t, 3, 1000)
	lead := c.leader()
	c.write(lead, &api.LeaseGrantRequest{ID: 42, TTL: 10})
	c.write(lead, &api.PutRequest{Key: []byte("session"), Value: []byte("x"), Lease: 42})
	c.write(lead, &api.PutRequest{Key: []byte("other"), Value: []byte("y")})
	c.write(lead, &api.LeaseRevokeRequest{ID: 42})
	c.tick(3)
	for id := range c.members {
		var keys []string
		for _, kv := range c.read(id, "a") {
			keys = append(keys, string(kv.Key))
		}
		if !slices.Equal(keys, []string{"other"}) {
			t.Fatalf("member %d after revoke: %v", id, keys)
		}
	}
	if r := c.write(lead, &api.PutRequest{Key: []byte("z"), Lease: 42}); r.Err == nil {
		t.Fatal("put with a revoked lease succeeded")
	}
}
