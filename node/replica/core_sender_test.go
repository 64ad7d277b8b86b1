package replica

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairndb/cairn/raftcore"
	"pgregory.net/rapid"
)

// These tests drive cores with a sender (Core.SetSender), as the driver
// does: messages leave around each fsync instead of at the end of the
// step. They check what that must not break — nothing is promised before
// it is saved — and what it is for: a leader's appends leave before its
// own fsync, and a commit index costs no fsync.

// countingLog is a memLog that counts its writes: Saves with entries,
// Saves without (a term or vote), and SaveCommits (a commit index alone,
// no fsync).
type countingLog struct {
	memLog
	saves, bareSaves, commitSaves int
}

func (l *countingLog) Save(hs raftcore.HardState, ents []raftcore.Entry) error {
	if len(ents) > 0 {
		l.saves++
	} else {
		l.bareSaves++
	}
	return l.memLog.Save(hs, ents)
}

func (l *countingLog) SaveCommit(hs raftcore.HardState) error {
	l.commitSaves++
	return l.memLog.Save(hs, nil)
}

func (l *countingLog) last() uint64 {
	i, _ := l.LastIndex()
	return i
}

// senderNet connects cores that send through a sender. Every message a
// member sends, early or in its effects, is checked against what its log
// holds at that moment, then queued for its destination.
type senderNet struct {
	t      fataler
	cores  map[uint64]*Core
	logs   map[uint64]*countingLog
	queues map[[2]uint64][]raftcore.Message // by (from, to): the transport is FIFO per pair
	// early records, for each member, the last entry index of every
	// MsgApp it handed to its sender, and whether its own log held that
	// entry at the time.
	early   map[uint64][]earlyApp
	replies map[uint64]Reply
	nextReq uint64
}

type earlyApp struct {
	last  uint64
	saved bool
}

// fataler is what senderNet needs of a *testing.T or *rapid.T.
type fataler interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func newSenderNet(t fataler, n int) *senderNet {
	s := &senderNet{t: t, cores: map[uint64]*Core{}, logs: map[uint64]*countingLog{},
		queues: map[[2]uint64][]raftcore.Message{}, early: map[uint64][]earlyApp{}, replies: map[uint64]Reply{}}
	var peers []raftcore.Peer
	for i := 1; i <= n; i++ {
		peers = append(peers, raftcore.Peer{ID: uint64(i)})
	}
	for i := 1; i <= n; i++ {
		id := uint64(i)
		log := &countingLog{memLog: memLog{raftcore.NewMemoryStorage()}}
		core, err := NewCore(CoreConfig{ID: id, ElectionTick: 10, HeartbeatTick: 1, SnapshotCount: 1000, Peers: peers,
			Rand: rand.New(rand.NewPCG(id, 3))}, log, newMapSM())
		if err != nil {
			t.Fatal(err)
		}
		core.SetSender(func(msgs []raftcore.Message) {
			for _, m := range msgs {
				if m.Type == raftcore.MsgApp && len(m.Entries) > 0 {
					last := m.Entries[len(m.Entries)-1].Index
					s.early[id] = append(s.early[id], earlyApp{last: last, saved: log.last() >= last})
				}
				s.send(m)
			}
		})
		s.cores[id], s.logs[id] = core, log
	}
	return s
}

// send checks that m promises nothing its sender's log does not hold,
// and queues it.
func (s *senderNet) send(m raftcore.Message) {
	log := s.logs[m.From]
	switch {
	case m.Type == raftcore.MsgAppResp && !m.Reject && log.last() < m.Index:
		s.t.Fatalf("member %d acknowledged index %d holding only up to %d", m.From, m.Index, log.last())
	case m.Type == raftcore.MsgVoteResp && !m.Reject:
		if hs := log.HardState(); hs.Vote != m.To || hs.Term < m.Term {
			s.t.Fatalf("member %d granted its vote to %d in term %d with hard state %+v saved", m.From, m.To, m.Term, hs)
		}
	}
	k := [2]uint64{m.From, m.To}
	s.queues[k] = append(s.queues[k], m)
}

func (s *senderNet) step(id uint64, ev Event) {
	s.cores[id].Step(ev)
	eff := s.cores[id].TakeEffects()
	for _, m := range eff.Messages {
		s.send(m)
	}
	for _, r := range eff.Replies {
		s.replies[r.ReqID] = r
	}
}

// deliver hands the oldest message from one member to another to its
// destination; it reports whether there was one.
func (s *senderNet) deliver(k [2]uint64) bool {
	q := s.queues[k]
	if len(q) == 0 {
		return false
	}
	s.queues[k] = q[1:]
	s.step(k[1], EvMessage{Msg: q[0]})
	return true
}

func (s *senderNet) pairs() [][2]uint64 {
	var ks [][2]uint64
	for _, k := range slices.SortedFunc(maps.Keys(s.queues), func(a, b [2]uint64) int {
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		return int(a[1]) - int(b[1])
	}) {
		if len(s.queues[k]) > 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

func (s *senderNet) settle() {
	for range 100000 {
		ks := s.pairs()
		if len(ks) == 0 {
			return
		}
		for _, k := range ks {
			s.deliver(k)
		}
	}
	s.t.Fatal("the network did not settle")
}

func (s *senderNet) tick() {
	for _, id := range slices.Sorted(maps.Keys(s.cores)) {
		s.step(id, EvTick{})
	}
	s.settle()
}

func (s *senderNet) leader() uint64 {
	for range 200 {
		for id, c := range s.cores {
			if c.Status().SoftState.State == raftcore.StateLeader {
				return id
			}
		}
		s.tick()
	}
	s.t.Fatal("no leader")
	return 0
}

func (s *senderNet) propose(id uint64, cmd string) uint64 {
	s.nextReq++
	s.step(id, EvPropose{ReqID: s.nextReq, Cmd: Raw([]byte(cmd))})
	return s.nextReq
}

// A leader hands its appends to the sender before it saves their entries
// (so the followers' fsyncs overlap its own), and each member pays one
// fsync per write: one Save with the entry, and the commit index that
// follows it through SaveCommit, with no fsync.
func TestCoreSenderOverlapsFsyncsAndSyncsOncePerWrite(t *testing.T) {
	s := newSenderNet(t, 3)
	lead := s.leader()
	s.propose(lead, "warm=up") // the first append after an election probes
	s.settle()
	s.tick()
	type counts struct{ saves, bare, commits int }
	before := map[uint64]counts{}
	for id, l := range s.logs {
		before[id] = counts{l.saves, l.bareSaves, l.commitSaves}
	}
	s.early = map[uint64][]earlyApp{}
	const writes = 20
	for i := range writes {
		req := s.propose(lead, fmt.Sprintf("k%d=v", i))
		s.settle()
		if r, ok := s.replies[req]; !ok || r.Err != nil {
			t.Fatalf("write %d: reply %+v, %v", i, r, ok)
		}
	}
	if got := len(s.early[lead]); got != 2*writes {
		t.Fatalf("the leader handed %d appends to its sender, want %d (one per write and follower)", got, 2*writes)
	}
	for _, a := range s.early[lead] {
		if a.saved {
			t.Fatalf("the leader sent the append of index %d after saving it: its fsync does not overlap the followers'", a.last)
		}
	}
	for id, l := range s.logs {
		b := before[id]
		if got := l.saves - b.saves; got != writes {
			t.Errorf("member %d saved entries %d times for %d writes", id, got, writes)
		}
		if got := l.bareSaves - b.bare; got != 0 {
			t.Errorf("member %d made %d fsyncs without entries (a commit index synced?)", id, got)
		}
		if l.commitSaves == b.commits {
			t.Errorf("member %d never recorded a commit index", id)
		}
	}
}

// Whatever the interleaving of ticks, proposals and deliveries, no member
// acknowledges entries or grants a vote before its log holds them.
func TestCoreSenderPromisesOnlyWhatIsSaved(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := newSenderNet(rt, 3)
		ids := []uint64{1, 2, 3}
		for range rapid.IntRange(1, 300).Draw(rt, "steps") {
			switch rapid.IntRange(0, 5).Draw(rt, "action") {
			case 0:
				s.step(rapid.SampledFrom(ids).Draw(rt, "tick"), EvTick{})
			case 1:
				s.propose(rapid.SampledFrom(ids).Draw(rt, "proposer"), "k=v")
			case 2:
				if ks := s.pairs(); len(ks) > 0 {
					k := rapid.SampledFrom(ks).Draw(rt, "drop")
					s.queues[k] = s.queues[k][1:]
				}
			default:
				if ks := s.pairs(); len(ks) > 0 {
					s.deliver(rapid.SampledFrom(ks).Draw(rt, "deliver"))
				}
			}
		}
	})
}
