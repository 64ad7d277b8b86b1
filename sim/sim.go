// Package sim runs whole cairn clusters deterministically: real members
// (the node core, the raft state machine, the write-ahead log and the MVCC
// store, each on its own simulated disk) over a virtual network that
// carries what the server's transport carries (raft batches and snapshot
// streams encoded by node/peerwire), on virtual time, driven by one event
// loop and one seeded random source.
// The same seed replays the same run, bit for bit.
//
// A run has a faulty period, in which a nemesis chosen per seed crashes
// members (losing or tearing unsynced writes, or in the middle of an
// fsync, or while a snapshot is installed, or all at once), partitions
// the network (symmetric, one-way, bridge, ring, or around a leader the
// moment it is elected or commits), drops, duplicates and delays
// batches of messages, breaks snapshot streams, slows and fills disks, flips bits at rest, compacts the
// history, transfers leadership, changes the membership and cuts lease
// holders off the leader, and forges peer traffic (forgery.go: messages
// from ids that were never members, terms past raftcore.MaxTerm, forwarded
// internal commands stamped by another member or term, snapshots from
// non-leaders or too large), while clients issue reads, writes, deletes and
// compare-and-swaps on single keys, and ranges, deletes and transfers
// (two-key transactions) on a group of keys, with timeouts, as users with
// different permissions in the seeds that turn auth on (auth.go), against
// a store quota the stores reach in the seeds that set one (space.go); lease holders
// grant leases, attach keys and keep them alive (each member runs the real
// lessor on virtual time, and its leader revokes what expires); watchers
// follow the changes. Then everything heals, and the run checks:
//
//   - liveness: a write commits within a bound after healing, and every
//     lease expires once its holder stops keeping it alive;
//   - the client history is linearizable (porcupine, through package
//     linearizability's GroupedKVModel, a key or a group of keys at a
//     time), including a final read of every key;
//   - a lease's revoke deletes exactly its keys, in one revision; no key
//     stays attached to a lease that is gone; no leader expires a lease
//     before TTL has passed since a renewal it could know of (lessor.go);
//   - no acknowledged write is missing from the committed history;
//   - every member applies the same entry at every index, in order, with
//     no gap (a hash chain over each member's applied stream);
//   - every member's store holds the same changes at every revision, and
//     the stores hash equal at the end;
//   - every watch stream delivers every change to its keys, in order,
//     once, across restarts of its member;
//   - with auth on, each member's auth state is the checker's own model's
//     at each index, and every client write it applies and every read it
//     serves is refused exactly when the model, as of that entry or that
//     applied index, refuses it (authmodel.go); a refused write changes
//     nothing;
//   - the corruption check the leader runs every 2 s, in the seeds that
//     run it, names no member unless a store it compared rotted (a fault
//     alters one silently), and names the rotten ones when the clean
//     outnumber them (corrupt.go);
//   - a forged message changes nothing in the member that receives it
//     (term, role, leader; a leader never steps down for a non-member's
//     vote), no member's term ever passes a sane bound, and no forged
//     command is ever applied.
//
// RunRaft is a smaller simulation of bare raftcore nodes, fast enough for
// a harsher nemesis. Both can run with a bug injected on purpose (Mutation,
// RaftConfig.Raft) so that tests check that the checks catch it.
//
// `go test ./sim -seed N` replays one seed, and `-timeline FILE` draws it as
// a page (timeline.go); see sim_test.go for sweeps and what they covered
// (coverage.go), and docs/sim-tour.md for a tour of four runs.
package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/linearizability"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// Config describes one simulated run.
type Config struct {
	// Seed decides everything random in the run.
	Seed uint64
	// Members is the initial cluster size (0: 3 or 5, chosen by the seed).
	Members int
	// Clients is how many clients issue operations concurrently.
	Clients int
	// Duration is the faulty part of the run, in virtual milliseconds.
	Duration int64
	// Keys is the size of the key space the clients use.
	Keys int
	// Faults enables the nemesis.
	Faults bool
	// LossFaults lets the nemesis make disks lose data they acknowledged
	// (loss.go), for seeds that draw them.
	LossFaults bool
	// Mutation breaks a safety rule on purpose (NoMutation normally).
	Mutation Mutation
	// VizDir is where a failed linearizability check writes porcupine's
	// visualization (os.TempDir() when empty).
	VizDir string
	// Timeline records the run for WriteTimeline (timeline.go).
	Timeline bool
	// Auth says whether the run turns auth on (auth.go): by default, one
	// seed in three does.
	Auth AuthChoice
	// CorruptCheck says whether the run runs the corruption check
	// (corrupt.go): by default, one seed in two does; Rot makes it rot a
	// store in every run with faults (by default, one in three).
	CorruptCheck CheckChoice
	Rot          bool
	// Quota says whether the run sets a store quota, which the stores
	// reach, and an operator who answers the NOSPACE alarm (space.go): by
	// default, one seed in three does.
	Quota QuotaChoice
	// LogValues says whether the members' stores keep values in the raft
	// log (node/replica/logvalues.go): by default, one seed in two does,
	// every value of it.
	LogValues LogValueChoice
}

// LogValueChoice says whether a run's stores keep values in the raft log.
type LogValueChoice uint8

const (
	// LogValuesBySeed keeps them there in one seed of two.
	LogValuesBySeed LogValueChoice = iota
	// LogValuesAlways keeps them there in every run.
	LogValuesAlways
	// LogValuesNever keeps every value in the page file.
	LogValuesNever
)

// logValuesOn decides whether the run's stores keep values in the raft
// log, from a source of its own, so that the rest of the run draws what
// it did before; the stream is one that leaves them out of the seeds of
// docs/sim-tour.md (1, 14, 20, 22), whose stories they would change.
func (c Config) logValuesOn() bool {
	switch c.LogValues {
	case LogValuesAlways:
		return true
	case LogValuesNever:
		return false
	}
	return rand.New(rand.NewPCG(c.Seed, 0x10d4)).IntN(2) == 0
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
	// LyingDisk makes every fsync return success without making anything
	// durable, so a crash makes a member forget what it acknowledged.
	LyingDisk
	// FastLeaseClock runs the lessors' clock twice as fast as time, so
	// leaders revoke leases at half their TTL.
	FastLeaseClock
	// NoDedup turns the duplicate filter off: every copy of a proposal
	// the network duplicated is applied.
	NoDedup
	// NoRepair starts a member whose disk lost data it acknowledged as
	// if it had lost nothing: it votes and counts toward commit with the
	// state it has left (replica.CoreConfig.UnsafeSkipRepair).
	NoRepair
	// NoOriginCheck lets a leader append a forwarded command that names
	// its origin (an internal command, a simple token issued) whatever
	// member and term it is stamped with: forged ones get applied
	// (replica.CoreConfig.UnsafeAnyOrigin).
	NoOriginCheck
	// NoSenderCheck makes raft take messages from any sender at any
	// term: from ids that were never members, and past raftcore.MaxTerm
	// (replica.CoreConfig.UnsafeAnySender).
	NoSenderCheck
	// NoStoreRepair opens a member without its store's repair
	// (replica.Config.StoreRepair): one whose page file is corrupt
	// refuses to start, and stays down for good.
	NoStoreRepair
	// NoReadAuth serves every read without checking the caller's
	// permissions (in runs with auth).
	NoReadAuth
	// NoWriteAuth applies every client write as root's, as a member that
	// skipped the permission check would (in runs with auth).
	NoWriteAuth
	// BlindCorruptCheck has every member answer the corruption check with
	// the leader's hash, as a check that compares nothing would.
	BlindCorruptCheck
)

// DefaultConfig is a run of 20 virtual seconds of faults.
func DefaultConfig(seed uint64) Config {
	return Config{Seed: seed, Clients: 4, Duration: 20_000, Keys: 5, Faults: true, LossFaults: true}
}

const (
	tickMillis     = 10  // one raft tick
	electionTicks  = 10  // raft's election timeout, in ticks
	requestTimeout = 600 // a client gives up after this long
	// livenessBound is how long after healing a write must commit.
	livenessBound = 10_000
	// settle is how long the healed cluster runs before the final checks.
	settle = 3000
	// checkTimeout bounds porcupine's search; a history it cannot decide
	// in that time fails the run.
	checkTimeout = 30 * time.Second
	// traceTail is how many of the last events a failure report shows.
	traceTail = 40
)

// mvccNow reads at the current revision.
var mvccNow = mvcc.RangeOptions{}

// World is one simulated run.
type World struct {
	cfg   Config
	rng   *rand.Rand
	now   int64
	seq   uint64
	queue eventQueue

	// members are indexed by id-1; removed and dead members stay.
	members []*member
	// initial are the voters the cluster was bootstrapped with.
	initial []raftcore.Peer
	net     network
	nemesis nemesis
	forger  forger
	losses  losses
	auth    simAuth
	corrupt corruptChecker
	// space is the store quota and its operator (space.go).
	space   space
	conf    confTracker
	applied appliedLog

	clients []*client
	holders []*leaseHolder
	leases  leaseBook
	rec     *linearizability.Recorder
	// completed counts client operations that returned a response.
	completed int
	probeDone bool

	trace uint64 // running hash of every event processed
	// tail holds the last traceTail events, for the failure report.
	tail     [traceTail]event
	events   uint64
	faultLog []string
	healed   bool
	// fatal is the first violation found while running; it ends the run.
	fatal error
	// obs counts what the run covers and records its timeline (trace.go).
	obs observer
}

// New builds a world; Run runs it.
func New(cfg Config) (*World, error) {
	w := &World{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x51))}
	w.rec = linearizability.NewRecorder(func() int64 { return w.now })
	if w.cfg.Members == 0 {
		w.cfg.Members = 3
		if w.rng.IntN(3) == 0 {
			w.cfg.Members = 5
		}
	}
	if cfg.Timeline {
		w.obs.tl = newTimeline(w)
	}
	w.net.init(w)
	w.applied.init()
	w.leases.init()
	for i := 1; i <= w.cfg.Members; i++ {
		w.initial = append(w.initial, raftcore.Peer{ID: uint64(i)})
	}
	for range w.cfg.Members {
		if _, err := w.addMember(true); err != nil {
			return nil, err
		}
	}
	for i := 0; i < w.cfg.Clients; i++ {
		w.clients = append(w.clients, &client{id: i})
		w.schedule(int64(100+w.rng.IntN(100)), event{kind: evClient, who: uint64(i)})
	}
	w.startHolders()
	w.auth.init(w)
	w.corrupt.init(w)
	w.space.init(w)
	w.schedule(leaseTick, event{kind: evLeaseTick})
	if w.cfg.Faults {
		w.nemesis.init(w)
		w.forger.init(w)
		w.schedule(500+int64(w.rng.IntN(1000)), event{kind: evNemesis})
		if w.cfg.LossFaults {
			w.losses.init(w)
		}
	}
	return w, nil
}

// Run runs the world: the faulty period, then healing, then the checks.
func (w *World) Run() error {
	w.runUntil(w.cfg.Duration)
	if w.fatal == nil {
		w.heal()
	}
	var committed int64
	checks := []func() error{
		w.checkProgress,
		func() error { committed = w.now; w.runUntil(w.now + settle); return nil },
		w.awaitOperator,
		w.finalReads,
		func() error { return w.checkLeasesExpire(committed) },
		w.checkConverged,
		w.checkRepaired,
		w.checkLinearizable,
		w.checkAcknowledgedWrites,
		w.checkWatches,
		w.checkTerms,
	}
	for _, check := range checks {
		if w.fatal != nil {
			return w.failure(w.fatal)
		}
		if err := check(); err != nil {
			return w.failure(err)
		}
	}
	if w.fatal != nil {
		return w.failure(w.fatal)
	}
	return nil
}

// fail records the first violation found while running.
func (w *World) fail(format string, args ...any) {
	if w.fatal == nil {
		w.fatal = fmt.Errorf("at %dms: "+format, append([]any{w.now}, args...)...)
		w.obs.failedAt = w.now
	}
}

// failure wraps a failed check with what is needed to understand and
// replay it: the seed, the fault schedule and the last events.
func (w *World) failure(err error) error {
	var tail []string
	n := min(w.events, traceTail)
	for i := w.events - n; i < w.events; i++ {
		tail = append(tail, w.tail[i%traceTail].String())
	}
	return fmt.Errorf("sim seed %d (%d members): %w\nnemesis: %s\nfaults:\n  %s\nlast %d events:\n  %s",
		w.cfg.Seed, w.cfg.Members, err, w.describeFaults(), strings.Join(w.faultLog, "\n  "), n, strings.Join(tail, "\n  "))
}

// TraceHash is a digest of every event the run processed: two runs of the
// same seed must agree.
func (w *World) TraceHash() uint64 { return w.trace }

// Now is the virtual time, in milliseconds since the run began.
func (w *World) Now() int64 { return w.now }

func (w *World) runUntil(t int64) {
	for w.fatal == nil && len(w.queue) > 0 && w.queue[0].at <= t {
		e := heap.Pop(&w.queue).(*event)
		w.now = e.at
		w.record(e)
		w.handle(e)
		w.observeEvent()
	}
	if w.fatal == nil {
		w.now = t
	}
}

func (w *World) handle(e *event) {
	switch e.kind {
	case evTick:
		m := w.member(e.who)
		if m.incarnation != e.arg {
			return // the ticker of an earlier life
		}
		w.step(m, replica.EvTick{})
		w.schedule(tickMillis, event{kind: evTick, who: e.who, arg: e.arg})
	case evDeliver:
		w.deliver(e)
	case evStream:
		w.streamArrives(e.stream, int(e.arg))
	case evInput:
		m := w.member(e.who)
		if e.arg != 0 && e.arg != m.incarnation {
			// Taken by an earlier life of the member, which crashed
			// before it got to it: a read planned on that life's store
			// must not be answered by the next one.
			w.endInput(e.input)
			return
		}
		w.step(m, e.input)
	case evRequest:
		w.serve(w.member(e.who), e.arg, e.req)
	case evClient:
		w.clientIssue(w.clients[e.who])
	case evTimeout:
		w.clientTimeout(w.clients[e.who], e.arg)
	case evNemesis:
		if !w.healed {
			w.nemesis.act(w)
			w.schedule(300+int64(w.rng.IntN(2000)), event{kind: evNemesis})
		}
	case evRestart:
		if m := w.member(e.who); m.state == stateDown && m.incarnation == e.arg {
			w.restart(m)
		}
	case evConfTimeout:
		w.conf.timeout(w, e.arg)
	case evWatch:
		w.pollWatchers(w.member(e.who), e.arg)
	case evReply:
		w.clientHears(w.clients[e.who], e.arg)
	case evFreeDisk:
		w.freeDisk(w.member(e.who))
	case evLeaseTick:
		w.expireLeases()
		w.schedule(leaseTick, event{kind: evLeaseTick})
	case evHolder:
		w.holderAct(w.holders[e.who])
	case evHolderTimeout:
		w.holderHears(w.holders[e.who], e.arg, true)
	case evHolderHears:
		w.holderHears(w.holders[e.who], e.arg, false)
	case evKeepAlive:
		w.keepAlive(w.member(e.who), e.arg, e.lease)
	case evLeaseForward:
		w.renewAt(w.member(e.who), e.via, e.arg, e.lease, false)
	case evForge:
		w.forger.act(w)
	case evAdmin:
		w.adminAct()
	case evAdminRequest:
		w.serveAuthChange(w.member(e.who), e.arg)
	case evAdminTimeout:
		w.adminTimeout(e.who, e.arg)
	case evCorruptCheck:
		w.startCorruptRound()
	case evHashAsk:
		w.answerHash(w.member(e.who), e.arg)
	case evHashAnswer:
		w.takeHash(e.arg, e.hash)
	case evCorruptJudge:
		w.judgeCorruptRound(e.arg)
	case evRot:
		w.rotStore()
	case evOperator:
		w.operate()
	case evSpace:
		w.tendSpace()
	case evLoss:
		if !w.healed {
			w.losses.act(w)
		}
	}
}

func (w *World) logFault(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	w.faultLog = append(w.faultLog, fmt.Sprintf("%6dms ", w.now)+text)
	w.observeFault(text)
}

// heal ends the faults: the network is whole, disks are fast and have
// room, and every member that can run is up.
func (w *World) heal() {
	w.healed = true
	w.net.heal()
	w.space.liftQuota()
	for _, h := range w.holders {
		h.cut = nil
	}
	for _, m := range w.members {
		m.disk.SetQuota(0)
		m.diskFull = false
		m.syncLatency = [2]int64{}
		m.crashAtSync, m.crashInSnapshot = 0, false
		if m.state == stateDown || m.state == stateStopped {
			w.restart(m)
		}
	}
	w.logFault("heal all")
}

// leader returns the member that is up and believes it leads with the
// highest term, or nil.
func (w *World) leader() *member {
	var best *member
	var term uint64
	for _, m := range w.members {
		if m.state != stateUp {
			continue
		}
		st := m.core.Status()
		if st.SoftState.State == raftcore.StateLeader && st.HardState.Term > term {
			best, term = m, st.HardState.Term
		}
	}
	return best
}

// checkProgress requires a write to commit within a bound after healing.
func (w *World) checkProgress() error {
	deadline := w.now + livenessBound
	put := &api.PutRequest{Key: []byte("liveness"), Value: []byte("ok")}
	for w.now < deadline && w.fatal == nil {
		w.runUntil(w.now + 100)
		if m := w.leader(); m != nil {
			if err := w.submit(m, probeReqID, put); err != nil {
				continue // refused for now (the CORRUPT alarm is raised): try again
			}
			w.runUntil(w.now + 1000)
			if w.probeDone {
				return nil
			}
		}
	}
	if w.fatal != nil {
		return nil
	}
	return fmt.Errorf("liveness: no write committed within %dms of healing; members: %s", livenessBound, w.describeMembers())
}

// describeMembers summarizes each member's state, for error messages.
func (w *World) describeMembers() string {
	var parts []string
	for _, m := range w.members {
		s := fmt.Sprintf("%d:%s", m.id, m.state)
		if m.state == stateUp {
			st := m.core.Status()
			s += fmt.Sprintf("(%s term %d commit %d applied %d lead %d)", st.SoftState.State, st.HardState.Term, st.HardState.Commit, st.Applied, st.SoftState.Lead)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ") + fmt.Sprintf("; committed voters %v learners %v", w.conf.voters, w.conf.learners)
}
