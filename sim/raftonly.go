package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"github.com/cairndb/cairn/raftcore"
)

// RaftConfig describes a raft-only run: bare raftcore nodes whose "disk"
// is a raftcore.MemoryStorage (what a Ready persists survives a crash),
// with no server, log files or store around them. It is small and fast,
// so it can afford a harsher nemesis than the full simulation: a new
// partition or crash every few tens of milliseconds, one entry per
// append message, no pre-vote and no check-quorum. It checks that every
// node applies the same entry at every index.
type RaftConfig struct {
	// Seed decides everything random in the run.
	Seed uint64
	// Members is the number of nodes (all voters).
	Members int
	// Duration is the length of the run, in virtual milliseconds.
	Duration int64
	// Raft adjusts each node's configuration (a mutation knob, say).
	Raft func(*raftcore.Config)
}

// DefaultRaftConfig is five nodes for 10 virtual seconds.
func DefaultRaftConfig(seed uint64) RaftConfig {
	return RaftConfig{Seed: seed, Members: 5, Duration: 10_000}
}

// raftWorld is one raft-only run.
type raftWorld struct {
	cfg   RaftConfig
	rng   *rand.Rand
	now   int64
	seq   uint64
	queue eventQueue
	nodes []*raftNode
	// cut[a][b] drops messages from a to b.
	cut      map[link]bool
	proposed uint64
	// committed is the entry every node must apply at each index.
	committed map[uint64]raftcore.Entry
	faults    []string
	err       error
}

// raftNode is one node; its storage outlives crashes.
type raftNode struct {
	id      uint64
	storage *raftcore.MemoryStorage
	node    *raftcore.Node // nil while crashed
	life    uint64
	applied uint64
	commit  uint64 // the commit index of its last hard state
}

// RunRaft runs a raft-only simulation and returns the first violation (a
// panic inside raft is one too).
func RunRaft(cfg RaftConfig) (err error) {
	w := &raftWorld{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x8a)), cut: map[link]bool{}, committed: map[uint64]raftcore.Entry{}}
	var peers []raftcore.Peer
	for i := 1; i <= cfg.Members; i++ {
		peers = append(peers, raftcore.Peer{ID: uint64(i)})
	}
	for i := 1; i <= cfg.Members; i++ {
		n := &raftNode{id: uint64(i), storage: raftcore.NewMemoryStorage()}
		w.nodes = append(w.nodes, n)
		if err := w.boot(n, peers); err != nil {
			return err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft sim seed %d: at %dms: panic: %v\nfaults:\n  %s", cfg.Seed, w.now, r, strings.Join(w.faults, "\n  "))
		}
	}()
	w.push(5, event{kind: evClient})
	w.push(100, event{kind: evNemesis})
	for w.err == nil && len(w.queue) > 0 && w.queue[0].at <= cfg.Duration {
		e := heap.Pop(&w.queue).(*event)
		w.now = e.at
		w.handle(e)
	}
	if w.err != nil {
		return fmt.Errorf("raft sim seed %d: %w\nfaults:\n  %s", cfg.Seed, w.err, strings.Join(w.faults, "\n  "))
	}
	return nil
}

func (w *raftWorld) boot(n *raftNode, peers []raftcore.Peer) error {
	c := raftcore.Config{
		ID: n.id, ElectionTick: electionTicks, HeartbeatTick: 1, Storage: n.storage,
		MaxSizePerMsg: 1, MaxInflightMsgs: 8, Rand: rand.New(rand.NewPCG(w.rng.Uint64(), n.id)),
	}
	if w.cfg.Raft != nil {
		w.cfg.Raft(&c)
	}
	node, err := raftcore.NewNode(c, peers)
	if err != nil {
		return fmt.Errorf("raft sim: node %d: %w", n.id, err)
	}
	n.node, n.applied, n.commit = node, 0, 0
	n.life++
	w.push(int64(w.rng.IntN(tickMillis)), event{kind: evTick, who: n.id, arg: n.life})
	return nil
}

func (w *raftWorld) push(after int64, e event) {
	w.seq++
	e.at, e.seq = w.now+after, w.seq
	heap.Push(&w.queue, &e)
}

func (w *raftWorld) handle(e *event) {
	switch e.kind {
	case evTick:
		n := w.nodes[e.who-1]
		if n.node == nil || n.life != e.arg {
			return
		}
		n.node.Tick()
		w.drain(n)
		w.push(tickMillis, event{kind: evTick, who: n.id, arg: n.life})
	case evDeliver:
		if n := w.nodes[e.msg.To-1]; n.node != nil {
			_ = n.node.Step(*e.msg)
			w.drain(n)
		}
	case evClient:
		for _, n := range w.nodes {
			if n.node != nil && n.node.Status().SoftState.State == raftcore.StateLeader {
				w.proposed++
				var data [8]byte
				binary.BigEndian.PutUint64(data[:], w.proposed)
				_ = n.node.Propose(data[:])
				w.drain(n)
			}
		}
		w.push(5+int64(w.rng.IntN(15)), event{kind: evClient})
	case evNemesis:
		w.nemesis()
		w.push(20+int64(w.rng.IntN(200)), event{kind: evNemesis})
	case evRestart:
		if n := w.nodes[e.who-1]; n.node == nil {
			w.faults = append(w.faults, fmt.Sprintf("%6dms restart %d", w.now, n.id))
			if err := w.boot(n, nil); err != nil {
				w.err = err
			}
		}
	}
}

// nemesis partitions, heals, or crashes a node (the leader, often).
func (w *raftWorld) nemesis() {
	switch w.rng.IntN(4) {
	case 0, 1:
		w.cut = map[link]bool{}
		side := map[uint64]bool{}
		for _, n := range w.nodes {
			side[n.id] = w.rng.IntN(2) == 0
		}
		for _, a := range w.nodes {
			for _, b := range w.nodes {
				if side[a.id] != side[b.id] {
					w.cut[link{a.id, b.id}] = true
				}
			}
		}
		w.faults = append(w.faults, fmt.Sprintf("%6dms partition %v", w.now, side))
	case 2:
		w.cut = map[link]bool{}
		w.faults = append(w.faults, fmt.Sprintf("%6dms heal", w.now))
	case 3:
		victim := w.nodes[w.rng.IntN(len(w.nodes))]
		for _, n := range w.nodes {
			if n.node != nil && n.node.Status().SoftState.State == raftcore.StateLeader && w.rng.IntN(2) == 0 {
				victim = n
			}
		}
		if victim.node != nil {
			victim.node = nil // what its storage holds survives
			w.faults = append(w.faults, fmt.Sprintf("%6dms crash %d", w.now, victim.id))
			w.push(50+int64(w.rng.IntN(500)), event{kind: evRestart, who: victim.id})
		}
	}
}

// drain carries out a node's Readies: persist, send, apply.
func (w *raftWorld) drain(n *raftNode) {
	for w.err == nil && n.node.HasReady() {
		rd, err := n.node.Ready()
		if err != nil {
			w.err = fmt.Errorf("node %d: ready: %w", n.id, err)
			return
		}
		w.react(n, rd)
		w.sendAll(rd.Messages)
		if !rd.Snapshot.IsEmpty() {
			w.err = fmt.Errorf("node %d: unexpected snapshot (the raft-only run never compacts)", n.id)
			return
		}
		if err := n.storage.Append(rd.Entries); err != nil {
			w.err = fmt.Errorf("node %d: append: %w", n.id, err)
			return
		}
		if !rd.HardState.IsEmpty() {
			n.storage.SetHardState(rd.HardState)
		}
		w.sendAll(rd.MessagesAfterPersist)
		for _, e := range rd.CommittedEntries {
			w.apply(n, e)
		}
		n.node.Advance()
	}
}

// react is the part of the nemesis that watches the cluster: it sometimes
// cuts a leader off the moment it is elected (before its first appends
// leave) or the moment its commit index moves (before the next appends
// leave). Leaders that come and go with entries half replicated are
// where a broken commit rule shows.
func (w *raftWorld) react(n *raftNode, rd raftcore.Ready) {
	st := n.node.Status()
	if st.SoftState.State != raftcore.StateLeader {
		return
	}
	elected := rd.SoftState != nil
	committed := !rd.HardState.IsEmpty() && rd.HardState.Commit > n.commit
	if !rd.HardState.IsEmpty() {
		n.commit = rd.HardState.Commit
	}
	if elected && w.rng.IntN(2) == 0 || committed && w.rng.IntN(3) == 0 {
		w.cut = map[link]bool{}
		for _, o := range w.nodes {
			if o != n {
				w.cut[link{n.id, o.id}], w.cut[link{o.id, n.id}] = true, true
			}
		}
		what := "elected"
		if !elected {
			what = fmt.Sprintf("committed %d", n.commit)
		}
		w.faults = append(w.faults, fmt.Sprintf("%6dms isolate leader %d as it %s", w.now, n.id, what))
	}
}

func (w *raftWorld) sendAll(msgs []raftcore.Message) {
	for _, m := range msgs {
		if w.cut[link{m.From, m.To}] || m.To < 1 || int(m.To) > len(w.nodes) {
			continue
		}
		w.push(1+int64(w.rng.IntN(10)), event{kind: evDeliver, msg: &m})
	}
}

// apply checks that the entry a node applies at an index is the one
// every other node applied there.
func (w *raftWorld) apply(n *raftNode, e raftcore.Entry) {
	if e.Index != n.applied+1 {
		w.err = fmt.Errorf("at %dms node %d applied index %d after %d", w.now, n.id, e.Index, n.applied)
		return
	}
	n.applied = e.Index
	first, ok := w.committed[e.Index]
	if !ok {
		w.committed[e.Index] = e
		return
	}
	if first.Term != e.Term || entryHash(first) != entryHash(e) {
		w.err = fmt.Errorf("at %dms node %d applied %s at index %d, where another node applied %s: a committed entry was overwritten",
			w.now, n.id, describeEntry(e.Term, e.Type, e.Data), e.Index, describeEntry(first.Term, first.Type, first.Data))
	}
}

func entryHash(e raftcore.Entry) uint64 {
	h := fnv.New64a()
	h.Write([]byte{byte(e.Type)})
	h.Write(e.Data)
	return h.Sum64()
}
