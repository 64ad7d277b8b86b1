package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/btreekv/pagefile"
	"github.com/cairndb/cairn/internal/fsx"
	"github.com/cairndb/cairn/logstore"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// memberState is where a member is in its life.
type memberState uint8

const (
	stateUp      memberState = iota + 1
	stateDown                // crashed; a restart is scheduled
	stateStopped             // its core stopped on a storage error (disk full)
	stateDead                // its disk is corrupt: it never runs again
	stateRemoved             // removed from the cluster and shut down
)

func (s memberState) String() string {
	return [...]string{"?", "up", "down", "stopped", "dead", "removed"}[s]
}

// member is one cluster member: its disk survives crashes, everything
// else is rebuilt from the disk on restart.
type member struct {
	id uint64
	// initial members bootstrap the cluster; the others join it.
	initial     bool
	disk        *fsx.MemFS
	replica     *replica.Replica
	log         *logstore.Log
	sm          *appliedState
	core        *replica.Core
	state       memberState
	incarnation uint64

	// busyUntil is when the member finishes its current work (fsyncs
	// take virtual time); inputs arriving earlier wait until then.
	busyUntil int64
	// cost is the fsync time charged to the step in progress.
	cost int64
	// syncLatency is the range of one fsync's latency, in ms (slow disk).
	syncLatency [2]int64
	// crashAtSync > 0 crashes the member at its crashAtSync-th next fsync
	// (before it happens); crashInSnapshot arms that for the next
	// snapshot it receives.
	crashAtSync     int
	crashInSnapshot bool
	// diskFull says the disk was made to fill up; flip describes the
	// last bit flipped at rest, flipFiles lists the files damaged so far.
	// They explain a stop with an error that says so.
	diskFull  bool
	flip      string
	flipFiles []string
	// filledSinceStart says the disk was full at some point since the
	// member last started (it may still be: a crash keeps the quota): a
	// write that failed then leaves the store failed (it must be
	// reopened), and the member may notice only at its next write,
	// after the disk has room again.
	filledSinceStart bool
	// flipped records the durable log before a bit was flipped at rest,
	// to check after restart that nothing acknowledged was forgotten.
	flipped *durableLog
	// flipPending says a bit was flipped since the member last started:
	// it may refuse to start and be lost for good.
	flipPending bool
	// storeRepairPending says the member set its corrupt page file aside
	// and waits for a leader's copy of the store: down until it gets one.
	storeRepairPending bool
	// durable is what the log held at the last crash between steps (nil
	// after a crash in the middle of a write).
	durable *durableLog
	// lost describes the acknowledged data the member's disk lost last
	// (loss.go); lostUnnoticed says the member has not restarted since.
	lost          string
	lostUnnoticed bool
	// rotten says the rot fault chose the member, or its store took the
	// rot from a rotten leader (corrupt.go): it is at risk of having to be
	// repaired.
	rotten bool
	// receiving is the snapshot stream the member takes now, if any
	// (snapshot.go): one at a time.
	receiving *snapStream
	// confirm says whether a peer confirmed the member since it started
	// (confirm.go); unconfirmedReads counts the reads it refused until
	// then.
	confirm          *replica.PeerConfirmation
	unconfirmedReads int

	// primarySince is when the member's lessor last became the primary
	// (the member became leader), -1 while it is not.
	primarySince int64

	watchers []*watchStream
	// commit is the commit index the leader-churn nemesis last saw.
	commit uint64
}

// durableLog is what a member's log held when it went down.
type durableLog struct {
	lastIndex uint64
	hs        raftcore.HardState
}

// Where a member keeps its data on its disk.
const (
	logDir = "/m/log"
	dbPath = "/m/db"
)

// crashPoint is the panic value that unwinds a member's step when it
// crashes in the middle of an fsync.
type crashPoint struct{}

func (w *World) member(id uint64) *member { return w.members[id-1] }

// addMember creates the next member with an empty disk and starts it.
func (w *World) addMember(initial bool) (*member, error) {
	m := &member{id: uint64(len(w.members) + 1), initial: initial, disk: fsx.NewMem()}
	w.members = append(w.members, m)
	if err := w.start(m); err != nil {
		return nil, err
	}
	w.watchersFor(m)
	return m, nil
}

// start opens a member's log and store from its disk and starts its core.
func (w *World) start(m *member) (err error) {
	m.disk.OnSync = func(string) { w.onSync(m) }
	m.incarnation++
	// A member restarted on a disk that is still full (a crash keeps
	// the quota) may run out of space again at once.
	m.filledSinceStart = m.diskFull
	m.busyUntil, m.cost = w.now, 0
	m.receiving = nil
	crashed := w.protect(m, "start", func() {
		err = w.open(m)
	})
	if crashed {
		return nil
	}
	if err != nil {
		return err
	}
	m.state = stateUp
	m.sm.replaced = false // a restore while starting: the watchers connect to its store
	w.schedule(int64(w.rng.IntN(tickMillis)), event{kind: evTick, who: m.id, arg: m.incarnation})
	w.resumeWatchers(m)
	return nil
}

// storeOptions are the options of member m's store: in the runs that keep
// values in the raft log (Config.LogValues), every value stays there
// (replica/logvalues.go), and the collector moves values out once the
// log passes 8 segments.
func (w *World) storeOptions(m *member) mvcc.Options {
	opts := mvcc.Options{FS: w.fs(m)}
	if w.cfg.logValuesOn() {
		opts.MinLogValue, opts.MinRetainedLog = 1, 8<<16
	}
	return opts
}

// open opens a member's log and store from its disk and starts its core,
// with the server's own wiring (replica.Open): only the disk, the clock,
// the randomness and the mutations are the simulator's.
func (w *World) open(m *member) error {
	var peers []raftcore.Peer
	if m.initial {
		peers = w.initial
	}
	m.primarySince = -1
	r, err := replica.Open(replica.Config{
		// A log that lost acknowledged data is salvaged, and the member
		// repairs itself from the quorum (node/replica/repair.go).
		Log:       logstore.Options{FS: w.fs(m), Dir: logDir, Create: true, SegmentSize: 1 << 16, Salvage: true},
		StorePath: dbPath,
		Store:     w.storeOptions(m),
		Core: replica.CoreConfig{
			ID: m.id, ElectionTick: electionTicks, HeartbeatTick: 1, SnapshotCount: 50, CatchUpEntries: 10,
			Peers: peers, Rand: rand.New(rand.NewPCG(w.rng.Uint64(), m.id)),
			UnsafeSkipRepair: w.cfg.Mutation == NoRepair,
			UnsafeAnySender:  w.cfg.Mutation == NoSenderCheck,
			UnsafeAnyOrigin:  w.cfg.Mutation == NoOriginCheck,
		},
		Clock: w.leaseClock,
		Wrap: func(kv *replica.KVState) replica.StateMachine {
			m.sm = w.newAppliedState(m, kv)
			return m.sm
		},
		// A corrupt page file is repaired from the leader (storerepair.go).
		StoreRepair: w.storeRepair(m),
	})
	if err != nil {
		return fmt.Errorf("member %d: %w", m.id, err)
	}
	m.replica, m.log, m.core = r, r.Log, r.Core
	w.startConfirmation(m)
	return nil
}

// restart brings a down or stopped member back from its disk.
func (w *World) restart(m *member) {
	w.logFault("restart %d", m.id)
	m.state, m.flipPending = stateDown, false
	unnoticed := m.lostUnnoticed
	m.lostUnnoticed = false
	err := w.start(m)
	if err == nil {
		m.storeRepairPending = false
	}
	switch {
	case err == nil && m.state == stateUp:
		// Both checks, when both faults came before this start: a flip
		// left unchecked would be checked at a later restart, against
		// the state before this run changed it.
		if unnoticed && !m.core.Repair().Active() && w.cfg.Mutation != NoRepair {
			w.fail("member %d restarted after %s, and did not notice", m.id, m.lost)
		}
		if m.flipped != nil {
			w.checkFlipSurvived(m)
		}
	case err == nil:
	case errors.Is(err, errNoStoreCopy):
		// It repairs its store, and needs a leader: it tries again.
		w.logFault("member %d cannot repair its store yet: %v", m.id, err)
		m.storeRepairPending = true
		w.scheduleRestart(m)
	case m.onlyStoreFlipped() && replica.IsStoreCorrupt(err):
		w.fail("member %d refuses to start on a corrupt page file instead of repairing its store: %v", m.id, err)
		m.state = stateDead
	case m.flipExplains(err):
		// The injected damage was detected: the member refuses to run,
		// and is replaced (see nemesis).
		w.logFault("member %d refuses to start after %s: %v", m.id, m.flip, err)
		m.state = stateDead
	case m.diskFull && errors.Is(err, syscall.ENOSPC):
		// Opening writes too (a log cut back to its last whole record
		// gets its segment's size back): on a disk still full it cannot,
		// and tries again once the disk has room (freeDisk).
		w.logFault("member %d cannot restart on a full disk: %v", m.id, err)
		m.state = stateStopped
	default:
		w.fail("member %d cannot restart: %v", m.id, err)
	}
}

// checkFlipSurvived checks that a member restarted after a bit flip at
// rest still holds everything its log held durably before: a flipped bit
// must be detected, never taken for a torn write and cut off.
func (w *World) checkFlipSurvived(m *member) {
	before := m.flipped
	m.flipped = nil
	if m.log.Damage() != nil {
		return // it noticed, and repairs itself from the quorum
	}
	last, err := m.log.LastIndex()
	if err != nil {
		w.fail("member %d: log last index after restart: %v", m.id, err)
		return
	}
	hs, _, err := m.log.InitialState()
	if err != nil {
		w.fail("member %d: log state after restart: %v", m.id, err)
		return
	}
	if last < before.lastIndex || hs.Term < before.hs.Term || hs.Term == before.hs.Term && hs.Vote != before.hs.Vote {
		w.fail("member %d restarted after %s, but its log forgot durable state: last index %d -> %d, hard state %+v -> %+v",
			m.id, m.flip, before.lastIndex, last, before.hs, hs)
	}
}

// onSync charges an fsync's latency to the step in progress, and crashes
// the member there if a crash point is armed.
func (w *World) onSync(m *member) {
	if m.syncLatency[1] > 0 {
		m.cost += m.syncLatency[0] + w.rng.Int64N(m.syncLatency[1]-m.syncLatency[0]+1)
	}
	if m.crashAtSync > 0 {
		m.crashAtSync--
		if m.crashAtSync == 0 {
			panic(crashPoint{})
		}
	}
}

// protect runs f, part of member m's work. A crash point inside it
// crashes m (and protect reports true); any other panic is a bug, which
// fails the run.
func (w *World) protect(m *member, what string, f func()) (crashed bool) {
	defer func() {
		switch r := recover(); r.(type) {
		case nil:
		case crashPoint:
			m.durable = nil
			w.crash(m, fmt.Sprintf("in an fsync during %s", what), fsx.LoseUnsynced)
			crashed = true
		default:
			w.fail("member %d panicked during %s: %v\n%s", m.id, what, r, debug.Stack())
			m.state = stateDead
			crashed = true
		}
	}()
	f()
	return false
}

// step feeds a member an input and carries out the effects: messages go
// out and replies come back once its fsyncs are done.
func (w *World) step(m *member, ev replica.Event) {
	if m.state != stateUp {
		w.endInput(ev)
		return // lost: the client times out, raft retries
	}
	if w.now < m.busyUntil {
		// Received by this life of the member: lost if it ends first.
		w.schedule(m.busyUntil-w.now, event{kind: evInput, who: m.id, input: ev, arg: m.incarnation})
		return
	}
	what := fmt.Sprintf("%T", ev)
	installing := false
	if _, ok := ev.(snapshotArrival); ok {
		what = "snapshot install"
		if m.crashInSnapshot {
			m.crashInSnapshot, installing = false, true
			m.crashAtSync = 1 + w.rng.IntN(4)
		}
	}
	m.cost = 0
	if w.protect(m, what, func() {
		if ev, ok := w.receiveSnapshot(m, ev); ok {
			m.core.Step(ev)
		}
	}) {
		w.endInput(ev)
		return
	}
	if installing {
		m.crashAtSync = 0 // the install made fewer fsyncs than that
	}
	eff, streams, crashed := w.takeEffects(m)
	if crashed {
		return
	}
	if eff.LeaderChanged {
		w.leaderChanged(m, eff.Leader)
	}
	w.churn(m, eff)
	m.busyUntil = w.now + m.cost
	w.observeStep(m, eff.LeaderChanged, eff.Leader)
	w.sendBatches(m, eff.Messages, m.cost)
	for _, s := range streams {
		w.sendStream(m, s, m.cost)
	}
	// Replies of one step leave together; order them, since the core
	// may list them in map order (Core.fail does).
	slices.SortStableFunc(eff.Replies, func(a, b replica.Reply) int { return cmp.Compare(a.ReqID, b.ReqID) })
	for _, r := range eff.Replies {
		w.clientReply(m, r)
	}
	if m.sm.replaced {
		w.storeReplaced(m)
	}
	w.drainWatchers(m, false)
	if err := m.core.Err(); err != nil {
		w.stopped(m, err)
	}
}

// stopped handles a core that stopped itself on a storage error: right
// when its disk was made to fill up or was damaged, a bug otherwise. A
// member whose store's page file is damaged restarts and repairs it; one
// whose log is damaged never runs again (it is replaced); one whose disk
// filled up restarts once the nemesis frees space.
func (w *World) stopped(m *member, err error) {
	switch {
	case m.flipExplains(err) && replica.IsStoreCorrupt(err):
		// As a server does: it records that its store must be repaired,
		// stops, and its next start repairs it from the leader.
		w.logFault("member %d detected %s at run time: %v", m.id, m.flip, err)
		if merr := replica.MarkStoreCorrupt(m.disk, storeMarker, err.Error()); merr != nil {
			w.fail("member %d: %v", m.id, merr)
		}
		m.state = stateDown
		m.incarnation++
		w.endWatchers(m)
		w.scheduleRestart(m)
		return
	case m.flipExplains(err):
		w.logFault("member %d detected %s at run time: %v", m.id, m.flip, err)
		m.state = stateDead
	case m.filledSinceStart && errors.Is(err, syscall.ENOSPC):
		w.logFault("member %d stopped on a full disk: %v", m.id, err)
		m.state = stateStopped
		if !m.diskFull && !w.healed {
			// The disk has room again already: freeDisk will not
			// restart it.
			w.schedule(1, event{kind: evFreeDisk, who: m.id})
		}
	default:
		w.fail("member %d stopped with no injected fault to explain it: %v", m.id, err)
		m.state = stateDead
	}
	m.incarnation++
	w.endWatchers(m)
}

// flipExplains reports whether err reports the damage of a bit flipped at
// rest: it names the file, or it is the corruption error of the component
// that owns the file.
func (m *member) flipExplains(err error) bool {
	for _, name := range m.flipFiles {
		switch {
		case strings.Contains(err.Error(), name),
			strings.HasPrefix(name, logDir+"/") && errors.Is(err, logstore.ErrCorrupt),
			name == dbPath && errors.Is(err, pagefile.ErrCorrupt):
			return true
		}
	}
	return false
}

// crashBetweenSteps crashes a member that is not in the middle of a write:
// everything its log acknowledged is durable.
func (w *World) crashBetweenSteps(m *member, why string, mode fsx.CrashMode) {
	m.durable = nil
	last, err1 := m.log.LastIndex()
	hs, _, err2 := m.log.InitialState()
	if err1 == nil && err2 == nil {
		m.durable = &durableLog{lastIndex: last, hs: hs}
	}
	w.crash(m, why, mode)
}

// crash simulates a power failure of member m.
func (w *World) crash(m *member, why string, mode fsx.CrashMode) { w.crashWith(m, why, mode, w.rng) }

// crashWith is crash, drawing what is random from rng.
func (w *World) crashWith(m *member, why string, mode fsx.CrashMode, rng *rand.Rand) {
	w.logFault("crash %d %s (mode %d)", m.id, why, mode)
	m.state = stateDown
	m.incarnation++
	m.crashAtSync, m.crashInSnapshot = 0, false
	m.disk = m.disk.Crash(mode, rng)
	w.endWatchers(m)
	if !w.healed {
		w.schedule(200+int64(rng.IntN(3000)), event{kind: evRestart, who: m.id, arg: m.incarnation})
	}
}
