package raftcore

import "fmt"

// progressState is how the leader currently replicates to one follower.
type progressState uint8

const (
	// stateProbe: the leader does not know where the follower's log
	// matches. It sends one append at a time (then waits for an answer or
	// the next heartbeat) and walks Next back on each rejection.
	stateProbe progressState = iota
	// stateReplicate: the logs match up to Match; the leader streams
	// appends optimistically, bounded by the inflight window.
	stateReplicate
	// stateSnapshot: the follower needs entries the leader has compacted;
	// a snapshot is on its way and appends wait until it lands.
	stateSnapshot
)

func (s progressState) String() string {
	switch s {
	case stateProbe:
		return "Probe"
	case stateReplicate:
		return "Replicate"
	case stateSnapshot:
		return "Snapshot"
	}
	return fmt.Sprintf("progressState(%d)", uint8(s))
}

// progress is the leader's view of one member (itself included).
type progress struct {
	// match is the highest index known to be durable on the member;
	// next is the index of the next entry to send.
	match, next uint64
	state       progressState
	// probeSent pauses a probing follower after one append until it
	// answers or the next heartbeat.
	probeSent bool
	// pendingSnapshot is the index of the snapshot being sent.
	pendingSnapshot uint64
	// recentActive records that the member answered during the current
	// election timeout (check-quorum).
	recentActive bool
	// ackedSeq is the highest heartbeat round the member acknowledged
	// (ReadIndex confirmation).
	ackedSeq  uint64
	isLearner bool
	// repair is where the member is, as far as its answers in this term
	// tell, in repairing state its storage lost (repair.go).
	repair peerRepair
	// repairAttempt is the highest repair number (Message.RepairAttempt)
	// of the member's repair reads and marked answers in this term: those
	// with a lower one are stale (repair.go, step 6).
	repairAttempt uint64
	inflights     *inflights
}

func (pr *progress) String() string {
	return fmt.Sprintf("%s match=%d next=%d inflight=%d", pr.state, pr.match, pr.next, pr.inflights.count)
}

func (pr *progress) resetState(state progressState) {
	pr.probeSent = false
	pr.pendingSnapshot = 0
	pr.state = state
	pr.inflights.reset()
}

func (pr *progress) becomeProbe() {
	// After a snapshot, the follower's log is at least the snapshot.
	if pr.state == stateSnapshot {
		pending := pr.pendingSnapshot
		pr.resetState(stateProbe)
		pr.next = max(pr.match+1, pending+1)
		return
	}
	pr.resetState(stateProbe)
	pr.next = pr.match + 1
}

func (pr *progress) becomeReplicate() {
	pr.resetState(stateReplicate)
	pr.next = pr.match + 1
}

func (pr *progress) becomeSnapshot(snapIndex uint64) {
	pr.resetState(stateSnapshot)
	pr.pendingSnapshot = snapIndex
}

// maybeUpdate records that the member's log matches up to n. It reports
// whether that was news.
func (pr *progress) maybeUpdate(n uint64) bool {
	updated := false
	if pr.match < n {
		pr.match = n
		updated = true
		pr.probeSent = false
	}
	pr.next = max(pr.next, n+1)
	return updated
}

// sentEntries records an append of entries ending at last, of size bytes.
func (pr *progress) sentEntries(last uint64, count int, bytes uint64) {
	switch pr.state {
	case stateReplicate:
		if count > 0 {
			pr.next = last + 1
			pr.inflights.add(last, bytes)
		}
	case stateProbe:
		pr.probeSent = true
	default:
		panic(fmt.Sprintf("raftcore: sending entries in state %s", pr.state))
	}
}

// maybeDecrTo handles a rejected append of the entry after rejected; hint
// is the highest index at which the logs may match. It reports whether the
// rejection was news (not an answer to an older, superseded append).
func (pr *progress) maybeDecrTo(rejected, hint uint64) bool {
	if pr.state == stateReplicate {
		// A stale rejection: we already know the logs match beyond it.
		if rejected <= pr.match {
			return false
		}
		// Back to what we know for sure; the caller moves to probing.
		pr.next = pr.match + 1
		return true
	}
	// Probing: only the answer to the one outstanding append counts.
	if pr.next-1 != rejected {
		return false
	}
	pr.next = max(min(rejected, hint+1), pr.match+1)
	pr.probeSent = false
	return true
}

// isPaused reports whether the leader must not send appends now.
func (pr *progress) isPaused() bool {
	switch pr.state {
	case stateProbe:
		return pr.probeSent
	case stateReplicate:
		return pr.inflights.full()
	default:
		return true
	}
}

// inflights is the window of appends sent to a replicating follower and
// not yet acknowledged, bounded in count and in bytes: the flow control
// that keeps a slow follower from being flooded.
type inflights struct {
	// A ring buffer of the last index of each append, with its size.
	start, count int
	bytes        uint64
	maxCount     int
	maxBytes     uint64 // 0: no byte limit
	buffer       []inflight
}

type inflight struct {
	index uint64
	bytes uint64
}

func newInflights(maxCount int, maxBytes uint64) *inflights {
	return &inflights{maxCount: maxCount, maxBytes: maxBytes}
}

func (in *inflights) add(index, bytes uint64) {
	if in.full() {
		panic("raftcore: inflight window overflow")
	}
	if in.buffer == nil {
		// Grow lazily: most followers of an idle cluster never fill it.
		in.buffer = make([]inflight, in.maxCount)
	}
	next := (in.start + in.count) % in.maxCount
	in.buffer[next] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// freeLE frees the appends that ended at or before index.
func (in *inflights) freeLE(index uint64) {
	for in.count > 0 && in.buffer[in.start].index <= index {
		in.bytes -= in.buffer[in.start].bytes
		in.start = (in.start + 1) % in.maxCount
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

func (in *inflights) full() bool {
	return in.count == in.maxCount || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

func (in *inflights) reset() {
	in.start, in.count, in.bytes = 0, 0, 0
}
