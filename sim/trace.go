package sim

import "github.com/cairndb/cairn/raftcore"

// What a run did, as the rest of the simulator tells it: the hooks in this
// file are called from the event loop (runUntil), the network (send), the
// members (step), the nemesis and the clients. They feed two observers:
//
//   - the coverage counters (coverage.go), always on: a few integer
//     increments per message and per fault, which a sweep sums up;
//   - the timeline recorder (timeline.go), on only when Config.Timeline
//     is set: every hook returns at once on a nil check when it is off.
//
// Neither draws from the world's random source, schedules an event or
// changes a member: a run is the same, bit for bit, observed or not
// (TestTimelineKeepsTheRun checks the trace hash).

// observer is what the hooks feed.
type observer struct {
	cov Coverage
	// campaignTerm is the highest term each member asked votes for.
	campaignTerm map[uint64]uint64
	// lastLeader is the member most recently elected, for LeaderChanges.
	lastLeader uint64
	// tl is the timeline recorder, nil when off.
	tl *timeline
	// failedAt is when the first violation was found while running (set
	// with World.fatal).
	failedAt int64
}

// msgFate is what the network did with a message it was handed.
type msgFate uint8

const (
	fateSent      msgFate = iota // on its way
	fateDuplicate                // a second copy on its way
	fateCut                      // dropped: the link is cut
	fateLost                     // dropped: the lossy network lost it
)

// observeSend is called for every raft message a member puts on the wire;
// arrive is when it reaches its destination (its fate says whether it
// does).
func (w *World) observeSend(from uint64, msg *raftcore.Message, arrive int64, fate msgFate) {
	switch msg.Type {
	case raftcore.MsgVote:
		if fate != fateDuplicate && msg.Term > w.obs.campaignTerm[from] {
			if w.obs.campaignTerm == nil {
				w.obs.campaignTerm = map[uint64]uint64{}
			}
			w.obs.campaignTerm[from] = msg.Term
			w.obs.cov.Elections++
		}
	case raftcore.MsgSnap:
		if fate != fateDuplicate {
			w.obs.cov.SnapshotsSent++
		}
	}
	if w.obs.tl != nil {
		w.obs.tl.message(w.now, from, msg, arrive, fate)
	}
}

// observeStep is called after each step of a member, once the step's
// fsyncs are charged (m.busyUntil), with what its effects said of the
// leader.
func (w *World) observeStep(m *member, leaderChanged bool, leader uint64) {
	if leaderChanged && leader == m.id {
		w.obs.cov.LeadersElected++
		if w.obs.lastLeader != 0 && w.obs.lastLeader != m.id {
			w.obs.cov.LeaderChanges++
		}
		w.obs.lastLeader = m.id
	}
	if w.obs.tl != nil {
		w.obs.tl.sampleMember(w, m)
	}
}

// observeEvent is called after the event loop handled an event.
func (w *World) observeEvent() {
	if w.obs.tl != nil {
		w.obs.tl.afterEvent(w)
	}
}

// countFault counts a fault of the given kind if it happened: if the
// fault log grew past logged, the length it had before the nemesis acted
// (call it deferred, with the length at the start). logged < 0 counts it
// unconditionally.
func (w *World) countFault(kind string, logged int) {
	if logged >= 0 && len(w.faultLog) <= logged {
		return
	}
	if w.obs.cov.Faults == nil {
		w.obs.cov.Faults = map[string]int{}
	}
	w.obs.cov.Faults[kind]++
}

// observeFault is called for every line of the fault log.
func (w *World) observeFault(text string) {
	if w.obs.tl != nil {
		w.obs.tl.fault(w.now, text)
	}
}

// observeCall is called when a client sends a request to a member.
func (w *World) observeCall(c *client, m *member, reqID uint64) {
	if w.obs.tl != nil {
		w.obs.tl.callStart(w.now, c.id, m.id, reqID, c.pending.req)
	}
}

// observeFinish is called when a client's operation ends.
func (w *World) observeFinish(p *pendingOp, how outcome) {
	w.obs.cov.ClientOps++
	if how == unknown {
		w.obs.cov.Indeterminate++
	}
	if w.obs.tl != nil {
		w.obs.tl.callEnd(w.now, p, how)
	}
}
