package raftcore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// This file is a small in-memory world for whole groups of raft nodes: a
// network that can drop, duplicate, reorder and partition messages, nodes
// that crash (losing everything not persisted) and restart from their
// MemoryStorage, and checkers for Raft's safety properties that run after
// every step. The unit tests drive it by hand; the property tests drive it
// with random schedules from rapid.

// testNode is one member: its durable disk and its volatile incarnation.
type testNode struct {
	id   uint64
	disk *MemoryStorage
	node *Node // nil while crashed
	// ready is the Ready being processed (taken, not yet persisted).
	ready   *Ready
	applied uint64
	// appliedCS is the membership as of the applied index (for snapshots).
	appliedCS ConfState
	// stateHash is a digest of every entry applied, in order: the "state
	// machine". Snapshots carry it.
	stateHash []byte
	readState []ReadState
	// damaged says the disk lost state the node had promised (loseState)
	// and the repair has not finished: every start is a repair. Once it
	// finished, repairedTerm is its term until the repair is over.
	damaged      bool
	repairedTerm uint64
	// starts counts the node's starts: each gets a source of randomness
	// of its own, as a real process seeded from the clock does.
	starts uint64
	// repairAttempts counts the starts in repair, as the disk's record of
	// the repair does (Config.RepairAttempt).
	repairAttempts uint64
}

// netMsg is a message in flight.
type netMsg struct {
	Message
}

// cluster is the simulated world.
type cluster struct {
	fatalf   func(format string, args ...any)
	seed     uint64
	nodes    map[uint64]*testNode
	ids      []uint64 // every id that may ever exist, sorted
	inflight []netMsg
	// group assigns each node to a partition side; messages between
	// different groups are dropped. All zero means fully connected.
	group map[uint64]int
	// oneWay[from][to] drops messages from→to only.
	oneWay  map[[2]uint64]bool
	rand    *rand.Rand
	cfg     func(id uint64, s Storage) Config
	peers   []Peer
	tickNum int

	// Safety bookkeeping.
	leaderOfTerm  map[uint64]uint64 // election safety
	appliedAt     map[uint64]Entry  // state machine safety
	committedAt   map[uint64]Entry  // leader completeness
	committedTerm map[uint64]uint64 // term in which index was first seen committed
	proposals     int
	compactEvery  uint64
	// noRepair starts damaged nodes as if nothing were lost (a mutation:
	// the checks must catch it).
	noRepair bool
}

func defaultConfig(id uint64, s Storage, seed uint64) Config {
	return Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         s,
		MaxSizePerMsg:   1024,
		MaxInflightMsgs: 8,
		CheckQuorum:     true,
		PreVote:         true,
		Rand:            rand.New(rand.NewPCG(seed, id)),
	}
}

// newCluster starts n voters with ids 1..n (plus spare ids up to total for
// members added later).
func newCluster(fatalf func(string, ...any), seed uint64, n, total int, tweak func(*Config)) *cluster {
	c := &cluster{
		fatalf:        fatalf,
		seed:          seed,
		nodes:         map[uint64]*testNode{},
		group:         map[uint64]int{},
		oneWay:        map[[2]uint64]bool{},
		rand:          rand.New(rand.NewPCG(seed, 0xc0ffee)),
		leaderOfTerm:  map[uint64]uint64{},
		appliedAt:     map[uint64]Entry{},
		committedAt:   map[uint64]Entry{},
		committedTerm: map[uint64]uint64{},
	}
	c.cfg = func(id uint64, s Storage) Config {
		cfg := defaultConfig(id, s, seed)
		if tweak != nil {
			tweak(&cfg)
		}
		return cfg
	}
	for i := 1; i <= n; i++ {
		c.peers = append(c.peers, Peer{ID: uint64(i)})
	}
	for i := 1; i <= total; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		tn := &testNode{id: id, disk: NewMemoryStorage()}
		c.nodes[id] = tn
		var peers []Peer
		if i <= n {
			peers = c.peers
		}
		c.start(tn, peers)
	}
	return c
}

func (c *cluster) start(tn *testNode, peers []Peer) {
	snap, _ := tn.disk.Snapshot()
	cfg := c.cfg(tn.id, tn.disk)
	if tn.starts > 0 {
		cfg.Rand = rand.New(rand.NewPCG(c.seed^tn.starts, tn.id))
	}
	tn.starts++
	cfg.Applied = snap.Metadata.Index
	cfg.Repair = tn.damaged && !c.noRepair
	cfg.RepairedTerm = tn.repairedTerm
	if cfg.Repair {
		tn.repairAttempts++
	}
	if cfg.Repair || cfg.RepairedTerm != 0 {
		cfg.RepairAttempt = tn.repairAttempts
	}
	nd, err := NewNode(cfg, peers)
	if err != nil {
		c.fatalf("start node %d: %v", tn.id, err)
	}
	tn.node = nd
	tn.ready = nil
	// The state machine is volatile: rebuilt from the snapshot, then by
	// replaying committed entries.
	tn.applied = snap.Metadata.Index
	tn.appliedCS = cloneConfState(snap.Metadata.ConfState)
	tn.stateHash = append([]byte(nil), snap.Data...)
	tn.readState = nil
}

func (c *cluster) crash(id uint64) {
	tn := c.nodes[id]
	tn.node = nil
	tn.ready = nil
}

// loseState crashes node id with a disk that lost state it had promised:
// the log keeps a random prefix (at least its snapshot), and the hard state
// goes back to an older term with no vote and a commit index the prefix
// holds, as if the records of the tail were gone. The node restarts in
// repair.
func (c *cluster) loseState(id uint64) {
	tn := c.nodes[id]
	c.crash(id)
	snap, _ := tn.disk.Snapshot()
	hs, _, _ := tn.disk.InitialState()
	first, _ := tn.disk.FirstIndex()
	last, _ := tn.disk.LastIndex()
	keep := snap.Metadata.Index + uint64(c.rand.IntN(int(last-snap.Metadata.Index)+1))
	disk := NewMemoryStorage()
	if !snap.IsEmpty() {
		if err := disk.ApplySnapshot(snap); err != nil {
			c.fatalf("node %d: lose state: %v", id, err)
		}
	}
	if keep >= first {
		ents, err := tn.disk.Entries(first, keep+1, ^uint64(0))
		if err != nil {
			c.fatalf("node %d: lose state: %v", id, err)
		}
		if err := disk.Append(ents); err != nil {
			c.fatalf("node %d: lose state: %v", id, err)
		}
	}
	lastTerm, _ := disk.Term(keep)
	if !hs.IsEmpty() {
		term := lastTerm + uint64(c.rand.IntN(int(hs.Term-lastTerm)+1))
		lo := snap.Metadata.Index
		commit := lo + uint64(c.rand.IntN(int(max(lo, min(hs.Commit, keep))-lo)+1))
		disk.SetHardState(HardState{Term: term, Commit: commit})
	}
	tn.disk, tn.damaged = disk, true
	// The volatile state machine went with the crash (compact must not
	// snapshot what the disk no longer holds).
	tn.applied = snap.Metadata.Index
}

func (c *cluster) restart(id uint64) {
	tn := c.nodes[id]
	if tn.node != nil {
		return
	}
	// Initial members always start with the initial peers: NewNode uses
	// them only if the disk is empty (a crash before the first fsync).
	var peers []Peer
	if slices.ContainsFunc(c.peers, func(p Peer) bool { return p.ID == id }) {
		peers = c.peers
	}
	c.start(tn, peers)
}

func (c *cluster) send(msgs []Message) {
	for _, m := range msgs {
		if m.To == m.From {
			c.fatalf("node %d sent %s to itself", m.From, m.Type)
		}
		c.inflight = append(c.inflight, netMsg{m})
	}
}

func (c *cluster) connected(from, to uint64) bool {
	return c.group[from] == c.group[to] && !c.oneWay[[2]uint64{from, to}]
}

// deliver delivers (or drops) the in-flight message at index i.
func (c *cluster) deliver(i int, dup bool) {
	if len(c.inflight) == 0 {
		return
	}
	i %= len(c.inflight)
	m := c.inflight[i]
	if !dup {
		c.inflight = slices.Delete(c.inflight, i, i+1)
	}
	to := c.nodes[m.To]
	if to == nil || to.node == nil || !c.connected(m.From, m.To) {
		c.reportSnapshot(m.Message, true)
		return
	}
	_ = to.node.Step(m.Message)
	c.reportSnapshot(m.Message, false)
	c.check()
}

// reportSnapshot tells the sender of a snapshot whether it arrived, as a
// real transport does.
func (c *cluster) reportSnapshot(m Message, failed bool) {
	if m.Type != MsgSnap {
		return
	}
	if from := c.nodes[m.From]; from.node != nil {
		from.node.ReportSnapshot(m.To, failed)
	}
}

func (c *cluster) drop(i int) {
	if len(c.inflight) == 0 {
		return
	}
	i %= len(c.inflight)
	c.reportSnapshot(c.inflight[i].Message, true)
	c.inflight = slices.Delete(c.inflight, i, i+1)
}

func (c *cluster) tick(id uint64) {
	tn := c.nodes[id]
	if tn.node == nil {
		return
	}
	tn.node.Tick()
	c.check()
}

// processReady advances one node's Ready processing by one stage, the way
// a real server pipelines it:
//
//   - stage 1: take the Ready and send its immediate Messages (a leader's
//     appends go out while its own fsync is still running);
//   - stage 2: persist, send MessagesAfterPersist, apply, Advance.
//
// Between the two stages the node keeps receiving messages and ticks, and
// a crash there loses everything the Ready would have persisted.
func (c *cluster) processReady(id uint64) {
	tn := c.nodes[id]
	if tn.node == nil {
		return
	}
	if tn.ready == nil {
		if !tn.node.HasReady() {
			return
		}
		rd, err := tn.node.Ready()
		if err != nil {
			c.fatalf("node %d: %v", id, err)
		}
		tn.ready = &rd
		c.send(rd.Messages)
		return
	}
	rd := *tn.ready
	tn.ready = nil
	c.persist(tn, rd)
	// What the application records of a repair, once the Ready is
	// persisted: its finish, then its end.
	if st := tn.node.RepairStatus(); st.Finished && tn.damaged {
		tn.damaged, tn.repairedTerm = false, st.FinishedTerm
	}
	if rd.SoftState != nil && !rd.SoftState.Repairing {
		tn.damaged, tn.repairedTerm = false, 0
	}
	c.send(rd.MessagesAfterPersist)
	c.apply(tn, rd)
	tn.node.Advance()
	c.check()
}

// processReadyFully runs processReady until the node has no work.
func (c *cluster) processReadyFully(id uint64) {
	for i := 0; i < 100; i++ {
		tn := c.nodes[id]
		if tn.node == nil || (tn.ready == nil && !tn.node.HasReady()) {
			return
		}
		c.processReady(id)
	}
}

func (c *cluster) persist(tn *testNode, rd Ready) {
	if !rd.Snapshot.IsEmpty() {
		if err := tn.disk.ApplySnapshot(rd.Snapshot); err != nil {
			c.fatalf("node %d: apply snapshot: %v", tn.id, err)
		}
	}
	if err := tn.disk.Append(rd.Entries); err != nil {
		c.fatalf("node %d: append: %v", tn.id, err)
	}
	if !rd.HardState.IsEmpty() {
		tn.disk.SetHardState(rd.HardState)
	}
}

func (c *cluster) apply(tn *testNode, rd Ready) {
	if !rd.Snapshot.IsEmpty() {
		tn.applied = rd.Snapshot.Metadata.Index
		tn.appliedCS = cloneConfState(rd.Snapshot.Metadata.ConfState)
		tn.stateHash = append([]byte(nil), rd.Snapshot.Data...)
	}
	for _, e := range rd.CommittedEntries {
		if e.Index != tn.applied+1 {
			c.fatalf("node %d applies index %d after %d", tn.id, e.Index, tn.applied)
		}
		if prev, ok := c.appliedAt[e.Index]; ok {
			if prev.Term != e.Term || !bytes.Equal(prev.Data, e.Data) {
				c.fatalf("state machine safety: node %d applies %s at %d, another node applied %s", tn.id, entryString(e), e.Index, entryString(prev))
			}
		} else {
			c.appliedAt[e.Index] = e
		}
		tn.applied = e.Index
		tn.stateHash = digest(tn.stateHash, e)
		if e.Type == EntryConfChange {
			var cc ConfChange
			if err := cc.UnmarshalBinary(e.Data); err == nil {
				if cs, err := tn.appliedCS.WithChange(cc); err == nil {
					tn.appliedCS = cs
				}
			}
		}
	}
	tn.readState = append(tn.readState, rd.ReadStates...)
	if c.compactEvery > 0 && tn.applied >= c.compactEvery {
		snap, _ := tn.disk.Snapshot()
		if tn.applied-snap.Metadata.Index >= c.compactEvery {
			c.compact(tn)
		}
	}
}

// compact snapshots the node's state machine and compacts its log.
func (c *cluster) compact(tn *testNode) {
	snap, _ := tn.disk.Snapshot()
	last, _ := tn.disk.LastIndex()
	idx := min(tn.applied, last)
	if idx <= snap.Metadata.Index {
		return
	}
	// The state hash covers exactly tn.applied; only snapshot there.
	if idx != tn.applied {
		return
	}
	if _, err := tn.disk.CreateSnapshot(idx, tn.appliedCS, append([]byte(nil), tn.stateHash...)); err != nil {
		c.fatalf("node %d: create snapshot at %d: %v", tn.id, idx, err)
	}
	if err := tn.disk.Compact(idx); err != nil {
		c.fatalf("node %d: compact at %d: %v", tn.id, idx, err)
	}
}

func digest(prev []byte, e Entry) []byte {
	h := uint64(14695981039346656037)
	for _, b := range prev {
		h = (h ^ uint64(b)) * 1099511628211
	}
	for _, b := range fmt.Appendf(nil, "%d/%d/%d/%x", e.Index, e.Term, e.Type, e.Data) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return fmt.Appendf(nil, "%016x", h)
}

func entryString(e Entry) string {
	return fmt.Sprintf("{i%d t%d %s %q}", e.Index, e.Term, e.Type, e.Data)
}

// propose submits data at node id (dropped proposals are fine).
func (c *cluster) propose(id uint64) {
	tn := c.nodes[id]
	if tn.node == nil {
		return
	}
	c.proposals++
	_ = tn.node.Propose(fmt.Appendf(nil, "p%d", c.proposals))
	c.check()
}

// stabilize runs every live node until no messages are left (or the budget
// runs out); it does not tick.
func (c *cluster) stabilize() {
	for round := 0; round < 1000; round++ {
		busy := false
		for _, id := range c.ids {
			if tn := c.nodes[id]; tn.node != nil && (tn.ready != nil || tn.node.HasReady()) {
				c.processReadyFully(id)
				busy = true
			}
		}
		for len(c.inflight) > 0 {
			busy = true
			if round > 995 && debugStabilize {
				m := c.inflight[0]
				fmt.Printf("%s %d->%d term %d index %d logterm %d commit %d ents %d reject %v hint %d repairing %v repaired %v\n", m.Type, m.From, m.To, m.Term, m.Index, m.LogTerm, m.Commit, len(m.Entries), m.Reject, m.RejectHint, m.Repairing, m.Repaired)
			}
			c.deliver(0, false)
		}
		if !busy {
			return
		}
	}
	c.fatalf("cluster did not stabilize")
}

var debugStabilize = false

func (c *cluster) tickAll() {
	for _, id := range c.ids {
		c.tick(id)
	}
}

func (c *cluster) heal() {
	c.group = map[uint64]int{}
	c.oneWay = map[[2]uint64]bool{}
}

func (c *cluster) leader() uint64 {
	var lead uint64
	var term uint64
	for _, id := range c.ids {
		tn := c.nodes[id]
		if tn.node != nil && tn.node.r.state == StateLeader && tn.node.r.term >= term {
			lead, term = id, tn.node.r.term
		}
	}
	return lead
}

// --- safety checks --------------------------------------------------------

func (c *cluster) check() {
	for _, id := range c.ids {
		tn := c.nodes[id]
		if tn.node == nil {
			continue
		}
		r := tn.node.r
		// Election safety: at most one leader per term.
		if r.state == StateLeader {
			if other, ok := c.leaderOfTerm[r.term]; ok && other != id {
				c.fatalf("election safety: %d and %d both lead term %d", other, id, r.term)
			}
			c.leaderOfTerm[r.term] = id
		}
		c.recordCommitted(tn)
	}
	c.checkLogMatching()
	c.checkLeaderCompleteness()
}

func logEntries(r *raft) (first uint64, ents []Entry) {
	first, last := r.log.firstIndex(), r.log.lastIndex()
	if first > last {
		return first, nil
	}
	ents, err := r.log.slice(first, last+1, ^uint64(0))
	if err != nil {
		panic(err)
	}
	return first, ents
}

func (c *cluster) recordCommitted(tn *testNode) {
	r := tn.node.r
	first, ents := logEntries(r)
	for _, e := range ents {
		if e.Index > r.log.committed {
			break
		}
		if prev, ok := c.committedAt[e.Index]; ok {
			if prev.Term != e.Term || !bytes.Equal(prev.Data, e.Data) {
				c.fatalf("committed entry changed: node %d has %s at %d, committed was %s", tn.id, entryString(e), e.Index, entryString(prev))
			}
			continue
		}
		c.committedAt[e.Index] = e
		c.committedTerm[e.Index] = r.term
	}
	_ = first
}

// checkLogMatching: if two logs hold an entry with the same index and term,
// they are identical up to it.
func (c *cluster) checkLogMatching() {
	type view struct {
		id    uint64
		first uint64
		ents  []Entry
	}
	var views []view
	for _, id := range c.ids {
		tn := c.nodes[id]
		if tn.node == nil {
			continue
		}
		first, ents := logEntries(tn.node.r)
		views = append(views, view{id, first, ents})
	}
	for i := range views {
		for j := i + 1; j < len(views); j++ {
			a, b := views[i], views[j]
			lo := max(a.first, b.first)
			hi := min(a.first+uint64(len(a.ents)), b.first+uint64(len(b.ents))) // exclusive
			// Find the highest common index with equal terms.
			k := hi
			for k > lo && a.ents[k-1-a.first].Term != b.ents[k-1-b.first].Term {
				k--
			}
			for x := lo; x < k; x++ {
				ea, eb := a.ents[x-a.first], b.ents[x-b.first]
				if ea.Term != eb.Term || ea.Type != eb.Type || !bytes.Equal(ea.Data, eb.Data) {
					c.fatalf("log matching: nodes %d and %d agree at index %d term %d but differ at %d: %s vs %s",
						a.id, b.id, k-1, a.ents[k-1-a.first].Term, x, entryString(ea), entryString(eb))
				}
			}
		}
	}
}

// checkLeaderCompleteness: an entry committed in term T is in the log of
// every leader of a term after T.
func (c *cluster) checkLeaderCompleteness() {
	for _, id := range c.ids {
		tn := c.nodes[id]
		if tn.node == nil || tn.node.r.state != StateLeader {
			continue
		}
		r := tn.node.r
		first, ents := logEntries(r)
		for idx, e := range c.committedAt {
			if c.committedTerm[idx] >= r.term || idx < first {
				continue
			}
			if idx >= first+uint64(len(ents)) {
				c.fatalf("leader completeness: leader %d of term %d lacks committed %s (log ends at %d)", id, r.term, entryString(e), first+uint64(len(ents))-1)
			}
			if got := ents[idx-first]; got.Term != e.Term || !bytes.Equal(got.Data, e.Data) {
				c.fatalf("leader completeness: leader %d of term %d has %s where %s was committed", id, r.term, entryString(got), entryString(e))
			}
		}
	}
}

func (c *cluster) describe() string {
	var b strings.Builder
	for _, id := range c.ids {
		tn := c.nodes[id]
		if tn.node == nil {
			fmt.Fprintf(&b, "%d: down\n", id)
			continue
		}
		r := tn.node.r
		fmt.Fprintf(&b, "%d: %s term=%d lead=%d commit=%d applied=%d last=%d conf=%v\n",
			id, r.state, r.term, r.lead, r.log.committed, tn.applied, r.log.lastIndex(), r.configs.current())
	}
	return b.String()
}
