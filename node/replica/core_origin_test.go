package replica

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/raftcore"
)

// originCluster is three cores on KVStates (which stamp commands that
// name their origin), on a lossless in-memory network.
type originCluster struct {
	t       *testing.T
	cores   map[uint64]*Core
	kvs     map[uint64]*KVState
	queue   []raftcore.Message
	refused map[uint64][]error
}

func newOriginCluster(t *testing.T) *originCluster {
	c := &originCluster{t: t, cores: map[uint64]*Core{}, kvs: map[uint64]*KVState{}, refused: map[uint64][]error{}}
	peers := []raftcore.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= 3; id++ {
		kv, err := OpenKVState(fsx.NewMem(), "/db")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kv.Close() })
		core, err := NewCore(CoreConfig{ID: id, ElectionTick: 10, HeartbeatTick: 1, Peers: peers,
			Rand: rand.New(rand.NewPCG(id, 9))}, memLog{raftcore.NewMemoryStorage()}, kv)
		if err != nil {
			t.Fatal(err)
		}
		c.cores[id], c.kvs[id] = core, kv
	}
	return c
}

func (c *originCluster) step(id uint64, ev Event) {
	core := c.cores[id]
	core.Step(ev)
	eff := core.TakeEffects()
	c.queue = append(c.queue, eff.Messages...)
	c.refused[id] = append(c.refused[id], eff.Refused...)
}

func (c *originCluster) settle() {
	for i := 0; i < 10000 && len(c.queue) > 0; i++ {
		m := c.queue[0]
		c.queue = c.queue[1:]
		c.step(m.To, EvMessage{Msg: m})
	}
}

func (c *originCluster) leader() uint64 {
	for range 200 {
		for _, id := range slices.Sorted(maps.Keys(c.cores)) {
			if c.cores[id].Status().SoftState.State == raftcore.StateLeader {
				return id
			}
			c.step(id, EvTick{})
		}
		c.settle()
	}
	c.t.Fatal("no leader")
	return 0
}

// has reports whether every member's store holds key.
func (c *originCluster) has(key string) bool {
	for _, kv := range c.kvs {
		resp, err := kv.Store().RangeRequest(&api.RangeRequest{Key: []byte(key)}, 0)
		if err != nil || len(resp.Kvs) == 0 {
			return false
		}
	}
	return true
}

func internalPut(t *testing.T, key string) Envelope {
	cmd, err := Internal(&api.PutRequest{Key: []byte(key), Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

// A member's own command, forwarded to the leader, is appended; one that
// claims another member or another term is refused by the leader and
// reported, and nothing of it is applied anywhere.
func TestCoreLeaderChecksForwardedOrigins(t *testing.T) {
	c := newOriginCluster(t)
	lead := c.leader()
	follower := lead%3 + 1
	term := c.cores[lead].raft.Term()

	c.step(follower, EvPropose{ReqID: 1, Cmd: internalPut(t, "own")})
	c.settle()
	for range 5 {
		c.step(lead, EvTick{})
		c.settle()
	}
	if !c.has("own") {
		t.Fatal("a follower's own internal command was not applied")
	}

	forge := func(key string, member, term uint64) raftcore.Message {
		cmd := internalPut(t, key)
		cmd.stamp(member, term)
		cmd.Tag = 0xee << 56 // a proposer tag, so the entry is not taken for a no-op
		data := cmd.Marshal()
		return raftcore.Message{Type: raftcore.MsgProp, From: follower, To: lead, Entries: []raftcore.Entry{{Data: data}}}
	}
	other := lead%3 + 1
	if other == follower {
		other = follower%3 + 1
	}
	for _, tc := range []struct {
		key          string
		member, term uint64
	}{
		{"another member's", other, term},
		{"the leader's", lead, term},
		{"an old term's", follower, term - 1},
		{"a later term's", follower, term + 1},
	} {
		c.refused[lead] = nil
		c.step(lead, EvMessage{Msg: forge(tc.key, tc.member, tc.term)})
		c.settle()
		if len(c.refused[lead]) != 1 {
			t.Fatalf("%s command forwarded by member %x: refusals %v", tc.key, follower, c.refused[lead])
		}
	}
	// One that is right, last: the ones before were not appended.
	c.step(lead, EvMessage{Msg: forge("right", follower, term)})
	c.settle()
	for range 5 {
		c.step(lead, EvTick{})
		c.settle()
	}
	if !c.has("right") {
		t.Fatal("a correctly stamped forwarded command was not applied")
	}
	for _, key := range []string{"another member's", "the leader's", "an old term's", "a later term's"} {
		for id, kv := range c.kvs {
			if resp, _ := kv.Store().RangeRequest(&api.RangeRequest{Key: []byte(key)}, 0); len(resp.Kvs) != 0 {
				t.Fatalf("member %d applied the forged %s command", id, key)
			}
		}
	}
}
