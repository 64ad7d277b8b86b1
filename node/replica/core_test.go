package replica

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/raftcore"
)

// memLog is a RaftLog on raftcore.MemoryStorage, for tests.
type memLog struct{ *raftcore.MemoryStorage }

func (m memLog) Save(hs raftcore.HardState, ents []raftcore.Entry) error {
	if err := m.Append(ents); err != nil {
		return err
	}
	if !hs.IsEmpty() {
		m.SetHardState(hs)
	}
	return nil
}

// SaveCommit implements RaftLog (memory needs no fsync anyway).
func (m memLog) SaveCommit(hs raftcore.HardState) error { return m.Save(hs, nil) }

// memLog records no damage: memory loses nothing.
func (m memLog) Damage() *logstore.Damage            { return nil }
func (m memLog) MarkDamaged(d logstore.Damage) error { return fmt.Errorf("memLog: damage %v", d) }
func (m memLog) MarkRepaired(term uint64) error      { return nil }
func (m memLog) RepairedTerm() uint64                { return 0 }
func (m memLog) ClearRepair() error                  { return nil }

// memLog keeps no count of repairs: every repair is the first.
func (m memLog) BeginRepairAttempt() (uint64, error) { return 1, nil }
func (m memLog) RepairAttempt() uint64               { return 1 }

// mapSM is a tiny replicated map: commands are "key=value".
type mapSM struct {
	data          map[string]string
	applied, term uint64

	// received are the snapshots a transport handed over, by index; a
	// transport goroutine writes them.
	mu       sync.Mutex
	received map[uint64][]byte
}

func newMapSM() *mapSM { return &mapSM{data: map[string]string{}, received: map[uint64][]byte{}} }

func (s *mapSM) Apply(index, term uint64, cmd []byte) (any, error) {
	k, v, _ := strings.Cut(string(cmd), "=")
	old := s.data[k]
	s.data[k] = v
	s.applied, s.term = index, term
	return old, nil
}

// ApplyConfChange records the index only: the map keeps no membership.
func (s *mapSM) ApplyConfChange(index, term uint64, cc raftcore.ConfChange, context []byte) error {
	return s.Skip(index, term)
}

// CheckConfChange takes every change: the map keeps no membership.
func (s *mapSM) CheckConfChange(cc raftcore.ConfChange, context []byte) error { return nil }

// AdmitProposals admits every proposal: the map filters no duplicates.
func (s *mapSM) AdmitProposals(from, to uint64, props []Proposal) ([]bool, error) {
	admitted := make([]bool, len(props))
	for i := range admitted {
		admitted[i] = true
	}
	return admitted, nil
}

// DropReceivedSnapshots forgets the snapshots not installed.
func (s *mapSM) DropReceivedSnapshots() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.received)
	return nil
}

func (s *mapSM) AppliedIndex() uint64 { return s.applied }

func (s *mapSM) Skip(index, term uint64) error { s.applied, s.term = index, term; return nil }

func (s *mapSM) Persist() error { return nil }

func (s *mapSM) OpenSnapshot() (SnapshotSource, error) {
	b, err := json.Marshal(s.data)
	return &bytesSnapshot{index: s.applied, term: s.term, data: b}, err
}

func (s *mapSM) ReceiveSnapshot(index uint64, size int64, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received[index] = b
	return nil
}

func (s *mapSM) Restore(index uint64) error {
	s.mu.Lock()
	b, ok := s.received[index]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no snapshot received for index %d", index)
	}
	s.data = map[string]string{}
	s.applied = index
	return json.Unmarshal(b, &s.data)
}

// bytesSnapshot is a SnapshotSource held in memory.
type bytesSnapshot struct {
	index, term uint64
	data        []byte
}

func (s *bytesSnapshot) Index() uint64        { return s.index }
func (s *bytesSnapshot) Term() uint64         { return s.term }
func (s *bytesSnapshot) Size() (int64, error) { return int64(len(s.data)), nil }
func (s *bytesSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.data)
	return int64(n), err
}
func (s *bytesSnapshot) Close() error { return nil }

type coreMember struct {
	core *Core
	log  memLog
	sm   *mapSM
	up   bool
}

type coreCluster struct {
	t       *testing.T
	members map[uint64]*coreMember
	queue   []raftcore.Message
	replies map[uint64]Reply
	// byMember holds every reply by the member that gave it.
	byMember map[uint64][]Reply
	nextReq  uint64
	cut      map[uint64]bool // members cut off from the network
	cfg      CoreConfig
}

func newCoreCluster(t *testing.T, n int, snapshotCount uint64) *coreCluster {
	c := &coreCluster{t: t, members: map[uint64]*coreMember{}, replies: map[uint64]Reply{}, byMember: map[uint64][]Reply{}, cut: map[uint64]bool{}}
	var peers []raftcore.Peer
	for i := 1; i <= n; i++ {
		peers = append(peers, raftcore.Peer{ID: uint64(i)})
	}
	c.cfg = CoreConfig{ElectionTick: 10, HeartbeatTick: 1, SnapshotCount: snapshotCount, CatchUpEntries: 2, Peers: peers}
	for i := 1; i <= n; i++ {
		m := &coreMember{log: memLog{raftcore.NewMemoryStorage()}, sm: newMapSM()}
		c.members[uint64(i)] = m
		c.start(uint64(i))
	}
	return c
}

func (c *coreCluster) start(id uint64) {
	m := c.members[id]
	cfg := c.cfg
	cfg.ID = id
	cfg.Rand = rand.New(rand.NewPCG(uint64(id), 7))
	core, err := NewCore(cfg, m.log, m.sm)
	if err != nil {
		c.t.Fatalf("start %d: %v", id, err)
	}
	m.core, m.up = core, true
}

func (c *coreCluster) step(id uint64, ev Event) {
	m := c.members[id]
	if !m.up {
		return
	}
	if msg, ok := ev.(EvMessage); ok && msg.Msg.Type == raftcore.MsgSnap {
		ev = EvMessage{Msg: unpackSnapshot(c.t, m.sm, msg.Msg)}
	}
	m.core.Step(ev)
	eff := m.core.TakeEffects()
	for _, msg := range eff.Messages {
		if msg.Type == raftcore.MsgSnap {
			msg = packSnapshot(c.t, m.core, msg)
		}
		if !c.cut[msg.From] && !c.cut[msg.To] {
			c.queue = append(c.queue, msg)
		}
	}
	for _, r := range eff.Replies {
		c.replies[r.ReqID] = r
		c.byMember[id] = append(c.byMember[id], r)
	}
}

func (c *coreCluster) settle() {
	for i := 0; i < 10000 && len(c.queue) > 0; i++ {
		msg := c.queue[0]
		c.queue = c.queue[1:]
		c.step(msg.To, EvMessage{Msg: msg})
	}
}

func (c *coreCluster) tick(n int) {
	for range n {
		for _, id := range slices.Sorted(maps.Keys(c.members)) {
			c.step(id, EvTick{})
		}
		c.settle()
	}
}

func (c *coreCluster) leader() uint64 {
	for id, m := range c.members {
		if m.up && m.core.Status().SoftState.State == raftcore.StateLeader {
			return id
		}
	}
	return 0
}

func (c *coreCluster) waitLeader() uint64 {
	for range 100 {
		if l := c.leader(); l != 0 {
			return l
		}
		c.tick(1)
	}
	c.t.Fatal("no leader")
	return 0
}

func (c *coreCluster) propose(id uint64, cmd string) Reply {
	c.nextReq++
	req := c.nextReq
	c.step(id, EvPropose{ReqID: req, Cmd: Raw([]byte(cmd))})
	for range 50 {
		c.settle()
		if r, ok := c.replies[req]; ok {
			return r
		}
		c.tick(1)
	}
	c.t.Fatalf("no reply to %q at %d", cmd, id)
	return Reply{}
}

func TestCoreReplicatesAndReplies(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	lead := c.waitLeader()
	if r := c.propose(lead, "a=1"); r.Err != nil || r.Result != "" {
		t.Fatalf("put at leader: %+v", r)
	}
	follower := lead%3 + 1
	if r := c.propose(follower, "a=2"); r.Err != nil || r.Result != "1" {
		t.Fatalf("put forwarded by follower: %+v (want previous value 1)", r)
	}
	c.tick(3)
	for id, m := range c.members {
		if m.sm.data["a"] != "2" {
			t.Fatalf("member %d has a=%q", id, m.sm.data["a"])
		}
	}
}

// Request ids are chosen by each member's driver, so two members can use
// the same id at once; a follower's proposal is applied on every member,
// and only its proposer may answer it.
func TestCoreSameRequestIDOnTwoMembers(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	lead := c.waitLeader()
	follower := lead%3 + 1
	c.propose(lead, "f=old-f")
	c.propose(lead, "l=old-l")
	c.byMember = map[uint64][]Reply{}
	c.step(follower, EvPropose{ReqID: 7, Cmd: Raw([]byte("f=1"))})
	c.step(lead, EvPropose{ReqID: 7, Cmd: Raw([]byte("l=1"))})
	c.tick(3)
	for _, id := range []uint64{lead, follower} {
		got := c.byMember[id]
		want := map[uint64]string{lead: "old-l", follower: "old-f"}[id]
		if len(got) != 1 || got[0].ReqID != 7 || got[0].Err != nil || got[0].Result != want {
			t.Fatalf("member %d replied %+v; want exactly one reply to its own request 7, result %q", id, got, want)
		}
	}
	if c.members[follower].sm.data["f"] != "1" || c.members[lead].sm.data["l"] != "1" {
		t.Fatal("a proposal was not applied")
	}
}

func TestCoreReadBarrier(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	lead := c.waitLeader()
	c.propose(lead, "k=v")
	follower := lead%3 + 1
	// Many reads share one ReadIndex round.
	for i := range 5 {
		c.step(follower, EvRead{ReqID: uint64(100 + i)})
	}
	c.settle()
	for i := range 5 {
		r, ok := c.replies[uint64(100+i)]
		if !ok || r.Err != nil {
			t.Fatalf("read %d: %+v %v", i, r, ok)
		}
	}
	if c.members[follower].sm.data["k"] != "v" {
		t.Fatal("read released before the follower applied the write")
	}
}

func TestCoreReadRetriedAfterLostRound(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	lead := c.waitLeader()
	follower := lead%3 + 1
	c.step(follower, EvRead{ReqID: 7})
	c.queue = nil // the ReadIndex request is lost
	c.tick(25)
	if r, ok := c.replies[7]; !ok || r.Err != nil {
		t.Fatalf("lost read round was not retried: %+v %v", r, ok)
	}
}

func TestCoreSnapshotCatchesUpLaggingMember(t *testing.T) {
	c := newCoreCluster(t, 3, 5)
	lead := c.waitLeader()
	lagging := lead%3 + 1
	c.cut[lagging] = true
	for i := range 30 {
		if r := c.propose(lead, fmt.Sprintf("k%d=%d", i, i)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if snap, _ := c.members[lead].log.Snapshot(); snap.Metadata.Index == 0 {
		t.Fatal("leader took no snapshot")
	}
	if first, _ := c.members[lead].log.FirstIndex(); first < 10 {
		t.Fatalf("leader log not compacted: first index %d", first)
	}
	delete(c.cut, lagging)
	c.tick(30)
	if got, want := c.members[lagging].sm.data, c.members[lead].sm.data; !maps.Equal(got, want) {
		t.Fatalf("lagging member has %d keys, leader %d", len(got), len(want))
	}
}

func TestCoreRestartReplaysLog(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	lead := c.waitLeader()
	for i := range 5 {
		c.propose(lead, fmt.Sprintf("k%d=v", i))
	}
	c.tick(2)
	victim := lead%3 + 1
	// Crash: the state machine here is volatile, so it restarts empty and
	// is rebuilt from the log.
	m := c.members[victim]
	m.up = false
	m.sm = newMapSM()
	c.start(victim)
	c.tick(5)
	if got, want := m.sm.data, c.members[lead].sm.data; !maps.Equal(got, want) {
		t.Fatalf("restarted member has %v, want %v", got, want)
	}
}

func TestCoreConfChange(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	lead := c.waitLeader()
	victim := lead%3 + 1
	c.step(lead, EvProposeConfChange{ReqID: 55, CC: raftcore.ConfChange{Type: raftcore.RemoveNode, NodeID: victim}})
	c.settle()
	r, ok := c.replies[55]
	if !ok || r.Err != nil {
		t.Fatalf("conf change reply: %+v %v", r, ok)
	}
	cs := r.Result.(raftcore.ConfState)
	if slices.Contains(cs.Voters, victim) || len(cs.Voters) != 2 {
		t.Fatalf("voters after removal: %v", cs.Voters)
	}
}

func TestCoreProposalWithoutLeader(t *testing.T) {
	c := newCoreCluster(t, 3, 1000)
	c.step(1, EvPropose{ReqID: 9, Cmd: Raw([]byte("x=1"))})
	if r := c.replies[9]; r.Err != ErrNoLeader {
		t.Fatalf("proposal with no leader: %+v", r)
	}
}

// TestCoreSnapshotAfterSnapshotBytes: large entries trigger a snapshot
// before SnapshotCount of them are applied.
func TestCoreSnapshotAfterSnapshotBytes(t *testing.T) {
	for _, tc := range []struct {
		bytes    uint64
		snapshot bool
	}{{10 << 10, true}, {1 << 30, false}} {
		c := newCoreCluster(t, 3, 1000)
		c.cfg.SnapshotBytes = tc.bytes
		for id := range c.members {
			c.start(id)
		}
		lead := c.waitLeader()
		for i := range 20 {
			if r := c.propose(lead, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 1000))); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		snap, _ := c.members[lead].log.Snapshot()
		if got := snap.Metadata.Index > 0; got != tc.snapshot {
			t.Fatalf("SnapshotBytes %d, 20 entries of 1 KB: snapshot at %d", tc.bytes, snap.Metadata.Index)
		}
	}
}

// TestCoreAdvanceElectionTicks: with the election clock advanced, a
// member that hears no leader campaigns within one election timeout of
// starting, whatever its randomized timeout; without it, never before one
// has passed.
func TestCoreAdvanceElectionTicks(t *testing.T) {
	const electionTick = 10
	peers := []raftcore.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for _, advance := range []bool{false, true} {
		for seed := range 20 {
			cfg := CoreConfig{ID: 1, ElectionTick: electionTick, HeartbeatTick: 1, Peers: peers,
				AdvanceElectionTicks: advance, Rand: rand.New(rand.NewPCG(uint64(seed), 3))}
			core, err := NewCore(cfg, memLog{raftcore.NewMemoryStorage()}, newMapSM())
			if err != nil {
				t.Fatal(err)
			}
			ticks := 0
			for core.Status().SoftState.State == raftcore.StateFollower && ticks < 3*electionTick {
				core.Step(EvTick{})
				core.TakeEffects()
				ticks++
			}
			switch {
			case advance && ticks > electionTick:
				t.Errorf("seed %d: advanced clock, campaigned after %d ticks, want at most %d", seed, ticks, electionTick)
			case !advance && ticks < electionTick:
				t.Errorf("seed %d: campaigned after %d ticks without an advanced clock, want at least %d", seed, ticks, electionTick)
			}
		}
	}
}

// TestCoreCatchUpBytes: after a snapshot the log keeps CatchUpEntries
// entries for slow followers, or fewer when their data would pass
// CatchUpBytes: the newest that fit.
func TestCoreCatchUpBytes(t *testing.T) {
	for _, tc := range []struct {
		bytes uint64
		kept  uint64 // entries of 1 KB kept after the snapshot, at most
	}{{3500, 3}, {1 << 30, 10}} {
		c := newCoreCluster(t, 3, 20)
		c.cfg.CatchUpEntries = 10
		c.cfg.CatchUpBytes = tc.bytes
		for id := range c.members {
			c.start(id)
		}
		lead := c.waitLeader()
		for i := range 25 {
			if r := c.propose(lead, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 1000))); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		log := c.members[lead].log
		snap, _ := log.Snapshot()
		first, _ := log.FirstIndex()
		if snap.Metadata.Index == 0 {
			t.Fatalf("no snapshot after 25 entries with SnapshotCount 20")
		}
		if kept := snap.Metadata.Index - first + 1; kept != tc.kept {
			t.Fatalf("CatchUpBytes %d: the log keeps %d entries up to the snapshot at %d (first %d), want %d",
				tc.bytes, kept, snap.Metadata.Index, first, tc.kept)
		}
	}
}
