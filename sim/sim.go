// Package sim runs whole cairn clusters deterministically: real members
// (the node core, the raft state machine, the write-ahead log and the MVCC
// store, each on its own simulated disk) over a virtual network, on
// virtual time, driven by one event loop and one seeded random source.
// The same seed replays the same run, bit for bit.
//
// A run injects faults — crashes that lose unsynced writes or tear them,
// partitions, message loss, duplication and delay — while clients issue
// reads, writes and compare-and-swaps with timeouts. Afterwards the faults
// heal and the run checks that the history of client operations is
// linearizable (porcupine), that the cluster still makes progress, and
// that every member's store ends identical.
package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/node"
	"github.com/cairndb/cairn/raftcore"
)

// Config describes one simulated run.
type Config struct {
	Seed    uint64
	Members int
	Clients int
	// Duration is the faulty part of the run, in virtual milliseconds.
	Duration int64
	// Keys is the size of the key space the clients use.
	Keys int
	// Faults enables crashes, partitions and message loss.
	Faults bool
	// Mutation breaks a safety rule on purpose (NoMutation normally).
	Mutation Mutation
	// VizDir is where a failed linearizability check writes porcupine's
	// visualization (os.TempDir() when empty).
	VizDir string
}

// Mutation names a bug the simulator can inject, so that a test can check
// that the checks catch it.
type Mutation uint8

const (
	// NoMutation runs the real code unchanged.
	NoMutation Mutation = iota
	// StaleReads serves every read from the chosen member's local store at
	// once, without a ReadIndex round: serializable reads passed off as
	// linearizable. A lagging follower or a deposed leader then answers
	// with old data.
	StaleReads
)

// DefaultConfig is a 3-member run of 20 virtual seconds with faults.
func DefaultConfig(seed uint64) Config {
	return Config{Seed: seed, Members: 3, Clients: 4, Duration: 20_000, Keys: 5, Faults: true}
}

const (
	tickMillis     = 10  // one raft tick
	requestTimeout = 600 // a client gives up after this long
	minLatency     = 1
	maxLatency     = 8
	// checkTimeout bounds porcupine's search; a run that needs more is
	// reported as a failure (the history is too hard to decide).
	checkTimeout = 30 * time.Second
	// traceTail is how many of the last events a failure report shows.
	traceTail = 40
)

// mvccNow reads at the current revision.
var mvccNow = mvcc.RangeOptions{}

// event is something that happens at a virtual time.
type event struct {
	at   int64
	seq  uint64 // tie-break: insertion order
	kind eventKind
	who  uint64 // member or client
	msg  raftcore.Message
}

type eventKind uint8

const (
	evTick eventKind = iota
	evDeliver
	evClient
	evTimeout
	evFault
	evRestart
)

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type member struct {
	id   uint64
	disk *fsx.MemFS
	log  *logstore.Log
	kv   *node.KVState
	core *node.Core
	up   bool
}

// World is one simulated run.
type World struct {
	cfg     Config
	rng     *rand.Rand
	now     int64
	seq     uint64
	queue   eventQueue
	members []*member
	peers   []raftcore.Peer
	// group is each member's side of a partition (0 when healed).
	group    map[uint64]int
	dropRate float64
	clients  []*client
	rec      *linearizability.Recorder
	// completed counts client operations that returned a response.
	completed int
	probeDone bool
	trace     uint64 // running hash of every event processed
	// tail holds the last traceTail events, for the failure report.
	tail     [traceTail]event
	events   uint64
	faultLog []string
	healed   bool
}

// New builds a world; Run runs it.
func New(cfg Config) (*World, error) {
	w := &World{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x51)), group: map[uint64]int{}}
	w.rec = linearizability.NewRecorder(func() int64 { return w.now })
	for i := 1; i <= cfg.Members; i++ {
		w.peers = append(w.peers, raftcore.Peer{ID: uint64(i)})
	}
	for i := 1; i <= cfg.Members; i++ {
		m := &member{id: uint64(i), disk: fsx.NewMem()}
		w.members = append(w.members, m)
		if err := w.start(m); err != nil {
			return nil, err
		}
		w.schedule(int64(w.rng.IntN(tickMillis)), evTick, m.id, raftcore.Message{})
	}
	for i := 0; i < cfg.Clients; i++ {
		c := &client{id: i}
		w.clients = append(w.clients, c)
		w.schedule(int64(100+w.rng.IntN(100)), evClient, uint64(i), raftcore.Message{})
	}
	if cfg.Faults {
		w.schedule(500+int64(w.rng.IntN(1000)), evFault, 0, raftcore.Message{})
	}
	return w, nil
}

func (w *World) start(m *member) error {
	var err error
	if m.log, err = logstore.Open(logstore.Options{FS: m.disk, Dir: "/m/log", Create: true, SegmentSize: 1 << 16}); err != nil {
		return fmt.Errorf("member %d: open log: %w", m.id, err)
	}
	if m.kv, err = node.OpenKVState(m.disk, filepath.Join("/m", "db")); err != nil {
		return fmt.Errorf("member %d: open store: %w", m.id, err)
	}
	m.core, err = node.NewCore(node.CoreConfig{
		ID: m.id, ElectionTick: 10, HeartbeatTick: 1, SnapshotCount: 50, CatchUpEntries: 10,
		Peers: w.peers, Rand: rand.New(rand.NewPCG(w.rng.Uint64(), m.id)),
	}, m.log, m.kv)
	if err != nil {
		return fmt.Errorf("member %d: start: %w", m.id, err)
	}
	m.up = true
	return nil
}

func (w *World) schedule(after int64, kind eventKind, who uint64, msg raftcore.Message) {
	w.seq++
	heap.Push(&w.queue, &event{at: w.now + after, seq: w.seq, kind: kind, who: who, msg: msg})
}

func (w *World) member(id uint64) *member { return w.members[id-1] }

// Run runs the world: the faulty period, then healing, then the checks.
func (w *World) Run() error {
	w.runUntil(w.cfg.Duration)
	w.heal()
	// Liveness: after healing the cluster must serve a write.
	if err := w.checkProgress(); err != nil {
		return w.failure(err)
	}
	w.runUntil(w.now + 3000)
	if err := w.checkLinearizable(); err != nil {
		return w.failure(err)
	}
	if err := w.checkStoresEqual(); err != nil {
		return w.failure(err)
	}
	return nil
}

// failure wraps a failed check with what is needed to understand and
// replay it: the seed, the fault schedule and the last events.
func (w *World) failure(err error) error {
	var tail []string
	n := min(w.events, traceTail)
	for i := w.events - n; i < w.events; i++ {
		tail = append(tail, w.tail[i%traceTail].String())
	}
	return fmt.Errorf("sim seed %d: %w\nfaults:\n  %s\nlast %d events:\n  %s",
		w.cfg.Seed, err, strings.Join(w.faultLog, "\n  "), n, strings.Join(tail, "\n  "))
}

// TraceHash is a digest of every event the run processed: two runs of the
// same seed must agree.
func (w *World) TraceHash() uint64 { return w.trace }

func (w *World) runUntil(t int64) {
	for len(w.queue) > 0 && w.queue[0].at <= t {
		e := heap.Pop(&w.queue).(*event)
		w.now = e.at
		w.record(e)
		w.handle(e)
	}
	w.now = t
}

func (w *World) record(e *event) {
	h := fnv.New64a()
	var b [40]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(e.at))
	binary.LittleEndian.PutUint64(b[8:], uint64(e.kind))
	binary.LittleEndian.PutUint64(b[16:], e.who)
	binary.LittleEndian.PutUint64(b[24:], uint64(e.msg.Type)|e.msg.Index<<8)
	binary.LittleEndian.PutUint64(b[32:], w.trace)
	h.Write(b[:])
	w.trace = h.Sum64()
	w.tail[w.events%traceTail] = *e
	w.events++
}

// String describes an event for the failure report.
func (e event) String() string {
	switch e.kind {
	case evTick:
		return fmt.Sprintf("%6dms tick %d", e.at, e.who)
	case evDeliver:
		return fmt.Sprintf("%6dms deliver %s %d->%d term %d index %d commit %d reject %v",
			e.at, e.msg.Type, e.msg.From, e.msg.To, e.msg.Term, e.msg.Index, e.msg.Commit, e.msg.Reject)
	case evClient:
		return fmt.Sprintf("%6dms client %d issues", e.at, e.who)
	case evTimeout:
		return fmt.Sprintf("%6dms client %d times out request %x", e.at, e.who, e.msg.Index)
	case evFault:
		return fmt.Sprintf("%6dms nemesis", e.at)
	case evRestart:
		return fmt.Sprintf("%6dms restart %d", e.at, e.who)
	}
	return fmt.Sprintf("%6dms event %d", e.at, e.kind)
}

func (w *World) handle(e *event) {
	switch e.kind {
	case evTick:
		if m := w.member(e.who); m.up {
			w.step(m, node.EvTick{})
		}
		w.schedule(tickMillis, evTick, e.who, raftcore.Message{})
	case evDeliver:
		if m := w.member(e.who); m.up {
			w.step(m, node.EvMessage{Msg: e.msg})
		}
	case evClient:
		w.clientIssue(w.clients[e.who])
	case evTimeout:
		w.clientTimeout(w.clients[e.who], e.msg.Index)
	case evFault:
		if !w.healed {
			w.injectFault()
			w.schedule(300+int64(w.rng.IntN(2000)), evFault, 0, raftcore.Message{})
		}
	case evRestart:
		if m := w.member(e.who); !m.up {
			w.logFault("restart %d", m.id)
			if err := w.start(m); err != nil {
				panic(fmt.Sprintf("sim seed %d: %v", w.cfg.Seed, err))
			}
		}
	}
}

// step feeds a member an event and carries out the effects.
func (w *World) step(m *member, ev node.Event) {
	m.core.Step(ev)
	if err := m.core.Err(); err != nil {
		panic(fmt.Sprintf("sim seed %d: member %d failed: %v", w.cfg.Seed, m.id, err))
	}
	eff := m.core.TakeEffects()
	for _, msg := range eff.Messages {
		w.send(m, msg)
	}
	for _, r := range eff.Replies {
		w.clientReply(m, r)
	}
}

func (w *World) send(from *member, msg raftcore.Message) {
	to := msg.To
	if to < 1 || int(to) > len(w.members) {
		return
	}
	lost := w.group[from.id] != w.group[to] || w.rng.Float64() < w.dropRate
	if msg.Type == raftcore.MsgSnap {
		// The transport knows whether a snapshot got through.
		defer w.step(from, node.EvSnapshotStatus{To: to, Failed: lost})
	}
	if lost {
		return
	}
	delay := int64(minLatency + w.rng.IntN(maxLatency-minLatency+1))
	w.schedule(delay, evDeliver, to, msg)
	if w.dropRate > 0 && w.rng.Float64() < w.dropRate/2 && msg.Type != raftcore.MsgProp {
		w.schedule(delay+int64(w.rng.IntN(20)), evDeliver, to, msg) // a duplicate
	}
}

func (w *World) logFault(format string, args ...any) {
	w.faultLog = append(w.faultLog, fmt.Sprintf("%6dms ", w.now)+fmt.Sprintf(format, args...))
}

// injectFault picks one fault.
func (w *World) injectFault() {
	switch w.rng.IntN(5) {
	case 0, 1: // crash a member (at most a minority down at once)
		down := 0
		for _, m := range w.members {
			if !m.up {
				down++
			}
		}
		if down >= (len(w.members)-1)/2 {
			return
		}
		m := w.members[w.rng.IntN(len(w.members))]
		if !m.up {
			return
		}
		mode := fsx.LoseUnsynced
		if w.rng.IntN(2) == 0 {
			mode = fsx.TearUnsynced
		}
		w.logFault("crash %d (mode %d)", m.id, mode)
		m.up = false
		m.disk = m.disk.Crash(mode, w.rng)
		w.schedule(200+int64(w.rng.IntN(3000)), evRestart, m.id, raftcore.Message{})
	case 2: // partition
		for _, m := range w.members {
			w.group[m.id] = w.rng.IntN(2)
		}
		w.logFault("partition %v", w.group)
	case 3: // lossy network
		w.dropRate = w.rng.Float64() * 0.2
		w.logFault("drop rate %.2f", w.dropRate)
	case 4:
		w.group = map[uint64]int{}
		w.dropRate = 0
		w.logFault("heal network")
	}
}

// heal ends the faults: the network is whole and every member is up.
func (w *World) heal() {
	w.healed = true
	w.group = map[uint64]int{}
	w.dropRate = 0
	for _, m := range w.members {
		if !m.up {
			if err := w.start(m); err != nil {
				panic(fmt.Sprintf("sim seed %d: %v", w.cfg.Seed, err))
			}
		}
	}
	w.logFault("heal all")
}

// checkProgress requires a write to commit within a bound after healing.
func (w *World) checkProgress() error {
	deadline := w.now + 10_000
	for w.now < deadline {
		w.runUntil(w.now + 100)
		for _, m := range w.members {
			if m.core.Status().SoftState.State == raftcore.StateLeader {
				data, _ := node.EncodeRequest(&api.PutRequest{Key: []byte("liveness"), Value: []byte("ok")})
				w.step(m, node.EvPropose{ReqID: probeReqID, Data: data})
				w.runUntil(w.now + 1000)
				if w.probeDone {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("liveness: no write committed within 10s of healing")
}

// checkStoresEqual compares the members' stores once they agree on the
// revision.
func (w *World) checkStoresEqual() error {
	type state struct {
		rev  int64
		hash uint32
	}
	var first *state
	for _, m := range w.members {
		h, _, err := m.kv.Store().Hash(0)
		if err != nil {
			return fmt.Errorf("member %d: hash: %w", m.id, err)
		}
		s := state{rev: m.kv.Store().Rev(), hash: h}
		if first == nil {
			first = &s
			continue
		}
		if s != *first {
			return fmt.Errorf("stores differ: member %d at rev %d hash %x, member 1 at rev %d hash %x", m.id, s.rev, s.hash, first.rev, first.hash)
		}
	}
	return nil
}
