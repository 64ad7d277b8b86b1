package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// The corruption check on virtual time, as node/corrupt.go runs it on the
// server's clock: every corruptCheckEvery the leader asks every other
// member, over the simulated network, for its hash at the leader's
// revision (Replica.HashFor: at its own revision if it is behind), waits
// corruptRoundTime for the answers, compares them with its own hashes at
// the same revisions (Replica.JudgeHashes), and raises the CORRUPT alarm
// on every member named (replica.CorruptAlarm). Half the seeds run it (it
// flushes the stores it hashes, which changes what a crash keeps: the
// others run as they did before it was simulated).
//
// In a third of those, a fault rots one member's store silently: it
// applies one put (of a key no client reads, under rotPrefix) with another
// value than the log holds, as a member whose memory flipped a bit would;
// nothing on its disk is damaged, and every checksum holds. The checks
// then require of every round that
//
//   - it names no member unless a member of the same comparison holds a
//     rotten store (then, when no hash is shared by most, everyone is
//     named: the real rule);
//   - it names every member whose rotten store it compared at a revision
//     at or past the rot and after the compacted revision (before, or
//     compacted past it, the hashes cannot differ).
//
// A rot spreads as real corruption does: a rotten leader's snapshot or
// store copy is rotten too. Once the alarm is raised, an operator has
// every rotten store repaired from a clean leader (operate), then disarms
// the alarms (`ctl alarm disarm`): meanwhile every member refuses the
// clients' reads and writes.
type corruptChecker struct {
	on  bool
	rng *rand.Rand
	// round numbers the rounds; leader, rev and answers are the current
	// one's (leader 0: none under way).
	round   uint64
	leader  uint64
	rev     int64
	answers []replica.MemberHash
	// rottenAnswer holds, for the members that answered this round with a
	// rotten store, the revision it rotted at.
	rottenAnswer map[uint64]int64
	// reqs numbers the alarm proposals.
	reqs uint64
	// rot says this run rots a store; target is the member whose store
	// rots when it applies the put of rotKey (armed: not yet), rotten
	// the revision each member's store rotted at (absent: not rotten).
	rot    bool
	target uint64
	armed  bool
	rotKey string
	rotten map[uint64]int64
	// detected says a round named a rotten member; operating says the
	// operator is at work (operate).
	detected  bool
	operating bool
}

const (
	// corruptCheckEvery is the leader's period; corruptRoundTime how long
	// it waits for the answers.
	corruptCheckEvery = 2000
	corruptRoundTime  = 200
	// corruptReqBase numbers the alarm proposals, the rot's put and the
	// operator's disarms.
	corruptReqBase = 1 << 55
	// rotPrefix is the key the rot fault puts: no client reads or watches
	// it; rottenValue is what the rotten store holds instead.
	rotPrefix   = "sim-rot/"
	rottenValue = "rotten"
)

func (c *corruptChecker) init(w *World) {
	// Its own source, so that the seeds without the check run as they did;
	// the stream is one that leaves the check off in the seeds of
	// docs/sim-tour.md (1, 14, 20, 22), whose stories it would change.
	c.rng = rand.New(rand.NewPCG(w.cfg.Seed, 0xe2))
	switch w.cfg.CorruptCheck {
	case CheckBySeed:
		c.on = c.rng.IntN(2) == 0
	case CheckAlways:
		c.on = true
	}
	if !c.on {
		return
	}
	c.rottenAnswer, c.rotten = map[uint64]int64{}, map[uint64]int64{}
	w.schedule(corruptCheckEvery+c.rng.Int64N(500), event{kind: evCorruptCheck})
	c.rot = w.cfg.Faults && (w.cfg.Rot || c.rng.IntN(3) == 0)
	if c.rot {
		w.schedule(2000+c.rng.Int64N(max(w.cfg.Duration-8000, 1000)), event{kind: evRot})
	}
}

// CheckChoice says whether a run runs the corruption check.
type CheckChoice uint8

const (
	// CheckBySeed runs it in one seed of two.
	CheckBySeed CheckChoice = iota
	// CheckAlways runs it in every run.
	CheckAlways
	// CheckNever never runs it.
	CheckNever
)

// startCorruptRound has the leader ask every other member for its hash.
func (w *World) startCorruptRound() {
	c := &w.corrupt
	w.schedule(corruptCheckEvery, event{kind: evCorruptCheck})
	l := w.leader()
	if l == nil || c.leader != 0 {
		return
	}
	rev := l.sm.kv.Store().Rev()
	if rev < 1 {
		return
	}
	c.round++
	c.leader, c.rev, c.answers = l.id, rev, nil
	clear(c.rottenAnswer)
	for _, id := range append(slices.Clone(w.conf.voters), w.conf.learners...) {
		if id == l.id {
			continue
		}
		if latency, ok := w.peerLatency(l.id, id); ok {
			w.schedule(latency, event{kind: evHashAsk, who: id, arg: c.round})
		}
	}
	w.schedule(corruptRoundTime, event{kind: evCorruptJudge, arg: c.round})
}

// answerHash has member m answer the leader's question of round.
func (w *World) answerHash(m *member, round uint64) {
	c := &w.corrupt
	if round != c.round || c.leader == 0 || m.state != stateUp {
		return
	}
	var h replica.MemberHash
	var err error
	if w.protect(m, "hash", func() { h, err = m.replica.HashFor(c.rev) }) || err != nil {
		w.hashFailed(m, err)
		return // no answer: left out of this round
	}
	if latency, ok := w.peerLatency(m.id, c.leader); ok {
		w.schedule(latency, event{kind: evHashAnswer, who: c.leader, arg: round, hash: h})
		if rev, ok := c.rotten[m.id]; ok {
			c.rottenAnswer[m.id] = rev
		}
	}
}

// takeHash records an answer that reached the leader.
func (w *World) takeHash(round uint64, h replica.MemberHash) {
	if c := &w.corrupt; round == c.round && c.leader != 0 {
		c.answers = append(c.answers, h)
	}
}

// judgeCorruptRound ends a round: the leader judges the answers, and the
// checks judge its judgement.
func (w *World) judgeCorruptRound(round uint64) {
	c := &w.corrupt
	if round != c.round || c.leader == 0 {
		return
	}
	l := w.member(c.leader)
	c.leader = 0
	if l.state != stateUp {
		return
	}
	var bad []uint64
	var groups [][]replica.MemberHash
	var hashErr error
	if w.cfg.Mutation == BlindCorruptCheck {
		for i, h := range c.answers {
			if own, err := l.replica.HashAt(h.Rev); err == nil {
				c.answers[i].Hash = own.Hash
			}
		}
	}
	if w.protect(l, "corruption check", func() { bad, groups, hashErr = l.replica.JudgeHashes(c.answers) }) {
		return
	}
	w.hashFailed(l, hashErr)
	if len(groups) == 0 || l.state != stateUp {
		return
	}
	w.obs.cov.CorruptRounds++
	if rev, ok := c.rotten[l.id]; ok {
		c.rottenAnswer[l.id] = rev
	}
	for _, g := range groups {
		w.checkCorruptGroup(l, g, replica.Disagreeing(g))
	}
	for _, id := range bad {
		if slices.Contains(l.replica.State.Alarms(), api.AlarmMember{MemberID: id, Alarm: api.AlarmCorrupt}) {
			continue
		}
		cmd, err := replica.CorruptAlarm(id)
		if err != nil {
			w.fail("corrupt alarm: %v", err)
			return
		}
		c.reqs++
		w.logFault("leader %d raises the CORRUPT alarm on member %d: %s", l.id, id, replica.DescribeHashes(groups))
		w.obs.cov.CorruptAlarms++
		w.step(l, replica.EvPropose{ReqID: corruptReqBase | c.reqs, Cmd: cmd})
	}
	if len(bad) > 0 && !c.operating {
		c.operating = true
		w.schedule(500, event{kind: evOperator})
	}
}

// hashFailed stops member m, as the server stops, when hashing its store
// found a page of it corrupt (stopped: its next start repairs it).
func (w *World) hashFailed(m *member, err error) {
	if err != nil && replica.IsStoreCorrupt(err) && m.state == stateUp {
		w.stopped(m, fmt.Errorf("corruption check: %w", err))
	}
}

// checkCorruptGroup requires the leader's judgement of one group of
// hashes (bad: whom it named in it) to name nobody unless a store in the
// group rotted, and, when the clean stores outnumber the rotten ones, to
// name every store in it that rotted at a revision it compared.
func (w *World) checkCorruptGroup(l *member, g []replica.MemberHash, bad []uint64) {
	c := &w.corrupt
	var rotten []uint64
	for _, h := range g {
		if rev, ok := c.rottenAnswer[h.ID]; ok && rev <= h.Rev && rev > h.CompactRev {
			rotten = append(rotten, h.ID)
		}
	}
	// The hash most members share is taken as the right one: a rotten
	// store must be named when the clean ones outnumber the rotten.
	mustName := 2*len(rotten) < len(g)
	for _, h := range g {
		named := slices.Contains(bad, h.ID)
		switch {
		case named && len(rotten) == 0:
			w.fail("the corruption check by leader %d named member %d, and no fault altered any store it compared: %s",
				l.id, h.ID, replica.DescribeHashes([][]replica.MemberHash{g}))
		case !named && slices.Contains(rotten, h.ID) && mustName:
			w.fail("the corruption check by leader %d did not name member %d, whose store rotted at revision %d: %s",
				l.id, h.ID, c.rottenAnswer[h.ID], replica.DescribeHashes([][]replica.MemberHash{g}))
		case named && slices.Contains(rotten, h.ID) && !c.detected:
			c.detected = true
			w.obs.cov.RotDetected++
		}
	}
}

// operate is the operator's response to a CORRUPT alarm, every 500ms
// until no alarm is left: it has each member whose store rotted (the
// target, and any that took a snapshot or a store copy from it since)
// repair its store from the leader, as one with a corrupt page does
// (replica.MarkStoreCorrupt, then a restart), one at a time while the
// voters keep a quorum, the rotten leader first; once no store is rotten
// it disarms the alarms (`ctl alarm disarm`). Meanwhile every member
// refuses the clients' reads and writes.
func (w *World) operate() {
	c := &w.corrupt
	w.schedule(500, event{kind: evOperator})
	l := w.leader()
	if l == nil {
		return
	}
	var alarmed []uint64
	for _, a := range l.replica.State.Alarms() {
		if a.Alarm == api.AlarmCorrupt {
			alarmed = append(alarmed, a.MemberID)
		}
	}
	for id := range c.rotten {
		if st := w.member(id).state; st == stateDead || st == stateRemoved {
			delete(c.rotten, id) // it serves nothing any more
		}
	}
	if len(alarmed) == 0 && len(c.rotten) == 0 {
		c.operating = false
		return
	}
	if len(c.rotten) > 0 {
		if c.isRotten(l.id) {
			w.repairRotten(l)
			return
		}
		for _, m := range w.members {
			if c.isRotten(m.id) && m.state == stateUp {
				w.repairRotten(m)
			}
		}
		return
	}
	for _, id := range alarmed {
		c.reqs++
		if err := w.submit(l, corruptReqBase|c.reqs, &api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: id, Alarm: api.AlarmCorrupt}); err != nil {
			w.fail("operator: disarm the CORRUPT alarm on member %d: %v", id, err)
			return
		}
	}
}

// repairRotten stops member m, whose store rotted, to repair its store
// from the leader at its next start, if the voters keep a quorum without
// it.
func (w *World) repairRotten(m *member) {
	if !w.canLose(m) {
		return
	}
	w.logFault("operator: member %d repairs its rotten store from the leader", m.id)
	var err error
	if w.protect(m, "marking its store for repair", func() {
		err = replica.MarkStoreCorrupt(m.disk, storeMarker, "the corruption check found its store rotten")
	}) {
		return // the power failed in the marker's fsync: the operator tries again once it is back
	}
	if err != nil {
		w.fail("member %d: %v", m.id, err)
		return
	}
	m.incarnation++
	w.endWatchers(m)
	w.scheduleRestart(m)
}

// rotStore arms the rot fault: a member that may be lost for good will
// apply the next put of a fresh key under rotPrefix with another value;
// the leader proposes that put now.
func (w *World) rotStore() {
	c := &w.corrupt
	if w.healed || c.armed || c.rotKey != "" {
		return
	}
	l := w.leader()
	var targets []*member
	for _, m := range w.members {
		if m.state == stateUp && (w.conf.isVoter(m.id) || w.conf.isLearner(m.id)) && w.canLoseForGood(m) {
			targets = append(targets, m)
		}
	}
	if l == nil || len(targets) == 0 {
		w.schedule(300, event{kind: evRot})
		return
	}
	x := targets[c.rng.IntN(len(targets))]
	key := fmt.Sprintf("%s%d", rotPrefix, c.rng.IntN(1000))
	c.reqs++
	if err := w.submit(l, corruptReqBase|c.reqs, &api.PutRequest{Key: []byte(key), Value: []byte("clean")}); err != nil {
		// Refused (the CORRUPT alarm is raised): no rot this time.
		w.schedule(300, event{kind: evRot})
		return
	}
	x.rotten = true // at risk of having to be repaired from now on
	c.target, c.armed, c.rotKey = x.id, true, key
	w.logFault("member %d's store will rot when it applies the put of %s", x.id, c.rotKey)
	w.countFault("rot-store", -1)
}

// rotting returns the command member s applies at index in place of data
// (as Apply gets it): data, unless it is the rot fault's put and s its
// target, which then applies it with another value (and reports true: its
// store is rotten from the revision the put makes, if it makes one).
func (w *World) rotting(s *appliedState, index uint64, data []byte) ([]byte, bool) {
	c := &w.corrupt
	if !c.armed || s.m.id != c.target {
		return data, false
	}
	e, err := replica.OpenCommand(data)
	if err != nil || e.Kind != replica.KindPut {
		return data, false
	}
	req, err := e.Request()
	put, ok := req.(*api.PutRequest)
	if err != nil || !ok || string(put.Key) != c.rotKey {
		return data, false
	}
	put.Value = []byte(rottenValue)
	rotted, err := replica.NewCommand(put)
	if err != nil {
		w.fail("rot: %v", err)
		return data, false
	}
	rotted.Who, rotted.User, rotted.Member, rotted.Term = e.Who, e.User, e.Member, e.Term
	c.armed = false
	c.rotten[s.m.id] = s.rev + 1 // the revision the put makes
	w.logFault("member %d's store rots: it applies the put of %s at index %d with another value", s.m.id, c.rotKey, index)
	return rotted.Marshal()[entryHeader:], true
}

// noteRot records whether member s's store, as it was just opened or
// replaced (why), holds the rotten put: the target's after a restart
// that kept it, or a copy of a rotten leader's store (a snapshot, a
// store repair) — a rot spreads as real corruption does.
func (w *World) noteRot(s *appliedState, why string) {
	c := &w.corrupt
	if c.rotKey == "" {
		return
	}
	kv, ok := s.keys[c.rotKey]
	_, was := c.rotten[s.m.id]
	switch {
	case ok && string(kv.Value) == rottenValue:
		c.rotten[s.m.id] = kv.ModRevision
		s.m.rotten = true
		if !was {
			w.logFault("member %d's store holds the rotten put (%s)", s.m.id, why)
		}
	case was:
		delete(c.rotten, s.m.id)
		w.logFault("member %d's store no longer holds the rotten put (%s)", s.m.id, why)
	}
}

// isRotten reports whether member id's store rotted (its changes are not
// compared with the others', nor its final hash).
func (c *corruptChecker) isRotten(id uint64) bool {
	_, ok := c.rotten[id]
	return ok
}

// awaitOperator lets the operator finish replacing a rotten member and
// disarming the alarms before the final reads, which the alarm refuses.
func (w *World) awaitOperator() error {
	for deadline := w.now + 5000; (w.corrupt.operating || w.space.operating) && w.now < deadline && w.fatal == nil; {
		w.runUntil(w.now + 100)
	}
	if w.corrupt.operating && w.fatal == nil {
		return fmt.Errorf("the CORRUPT alarm is still raised 5s after the settling; members: %s", w.describeMembers())
	}
	if w.space.operating && w.fatal == nil {
		return fmt.Errorf("the NOSPACE alarm is still raised 5s after the settling; members: %s", w.describeMembers())
	}
	return nil
}
