package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
)

// space simulates a store quota (--quota-backend-bytes) and the operator
// who answers the NOSPACE alarm, in one seed of three (QuotaChoice). A
// member plans each write with the quota and its store's file size, as
// the server does (Replica.Plan): a write that would grow a store past
// the quota makes the member propose the NOSPACE alarm and is refused
// (api.ErrNoSpace, certainly not applied); once the alarm is raised,
// every member refuses the writes that grow the store, while reads,
// deletes and compactions go on. The operator, every second, sees the
// alarm at the leader, compacts the history, gives the stores more room
// and disarms it (`ctl compact`, a larger quota, `ctl alarm disarm`), as
// etcd's documentation tells an operator to.
type space struct {
	rng *rand.Rand
	on  bool
	// quota is the store quota in bytes (0: none yet, or none any more
	// after the healing).
	quota int64
	// reqs numbers the members' alarm proposals and the operator's
	// requests (spaceReqBase | reqs).
	reqs uint64
	// operating says a NOSPACE alarm was seen and is not disarmed yet.
	operating bool
}

const (
	// spaceReqBase numbers the NOSPACE alarms members propose and the
	// operator's compactions and disarms.
	spaceReqBase = 1 << 54
	// spaceEvery is the operator's period.
	spaceEvery = 1000
)

// QuotaChoice says whether a run simulates a store quota.
type QuotaChoice uint8

const (
	// QuotaBySeed sets a quota in one seed of three.
	QuotaBySeed QuotaChoice = iota
	// QuotaAlways sets a quota in every run.
	QuotaAlways
	// QuotaNever sets none.
	QuotaNever
)

func (s *space) init(w *World) {
	// Its own source, so that the seeds without a quota run as they did;
	// the stream is one that leaves the quota off in the seeds of
	// docs/sim-tour.md (1, 14, 20, 22), whose stories it would change.
	s.rng = rand.New(rand.NewPCG(w.cfg.Seed, 0x5ad0))
	switch w.cfg.Quota {
	case QuotaBySeed:
		s.on = s.rng.IntN(3) == 0
	case QuotaAlways:
		s.on = true
	}
	if s.on {
		w.schedule(500+s.rng.Int64N(1500), event{kind: evSpace})
	}
}

// storeSize is the size of member m's store file, what the server
// compares with the quota.
func (m *member) storeSize() int64 {
	size, _ := replica.StoreSize(m.sm.kv.Store())
	return size
}

// largestStore is the size of the largest store of a member that is up.
func (w *World) largestStore() int64 {
	var most int64
	for _, m := range w.members {
		if m.state == stateUp {
			most = max(most, m.storeSize())
		}
	}
	return most
}

// raiseNoSpace has member m propose the NOSPACE alarm a write found its
// store past the quota for (replica.StepRaiseNoSpace), as the server
// does; the write itself is refused.
func (w *World) raiseNoSpace(m *member, alarm replica.Envelope) {
	s := &w.space
	s.reqs++
	w.step(m, replica.EvPropose{ReqID: spaceReqBase | s.reqs, Cmd: alarm})
}

// tendSpace is the operator's round. The first sets the quota near the
// largest store (a little below or above it, so that the stores reach it
// soon); later ones answer a NOSPACE alarm raised at the leader: compact
// at its revision, raise the quota past the largest store, and disarm
// every NOSPACE alarm.
func (w *World) tendSpace() {
	s := &w.space
	if !s.on {
		return
	}
	w.schedule(spaceEvery, event{kind: evSpace})
	if s.quota == 0 && !w.healed {
		if largest := w.largestStore(); largest > 0 {
			s.quota = max(largest-s.rng.Int64N(16<<10)+s.rng.Int64N(64<<10), 4096)
			w.logFault("the store quota is %d bytes (largest store %d)", s.quota, largest)
		}
		return
	}
	l := w.leader()
	if l == nil {
		return
	}
	var alarmed []uint64
	for _, a := range l.replica.State.Alarms() {
		if a.Alarm == api.AlarmNoSpace {
			alarmed = append(alarmed, a.MemberID)
		}
	}
	slices.Sort(alarmed)
	if len(alarmed) == 0 {
		s.operating = false
		return
	}
	if !s.operating {
		s.operating = true
		w.obs.cov.NoSpaceAlarms++
	}
	if rev := l.sm.kv.Store().Rev(); rev > 1 {
		s.reqs++
		if err := w.submit(l, spaceReqBase|s.reqs, &api.CompactionRequest{Revision: rev}); err != nil {
			return // refused (the CORRUPT alarm is raised): the next round tries again
		}
	}
	if s.quota > 0 {
		s.quota = max(s.quota, w.largestStore()) + 32<<10 + s.rng.Int64N(96<<10)
		w.logFault("operator: compact, the store quota is now %d bytes", s.quota)
	}
	for _, id := range alarmed {
		s.reqs++
		if err := w.submit(l, spaceReqBase|s.reqs, &api.AlarmRequest{Action: api.AlarmDeactivate, MemberID: id, Alarm: api.AlarmNoSpace}); err != nil {
			return
		}
	}
}

// liftQuota ends the quota at the healing: the operator disarms what is
// left, and nothing raises the alarm again.
func (s *space) liftQuota() {
	s.quota = 0
}
