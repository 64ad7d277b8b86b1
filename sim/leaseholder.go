package sim

import (
	"errors"
	"fmt"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/btreekv/mvcc"
	"github.com/cairndb/cairn/node/replica"
)

// leaseHolder is a client that holds leases: it grants one, attaches a
// few keys to it, and keeps it alive every third of its TTL through the
// member it reached last, which forwards the keep-alive to the leader, as
// a real client's keep-alive stream does (keepalive.go). Some holders
// give a lease up after a while (most just stop keeping it alive, so it
// expires; some revoke it), then grant the next. The nemesis may cut a
// holder off the cluster for a while, so that its lease expires while it
// tries.
type leaseHolder struct {
	idx int
	seq uint64
	// leases counts the leases granted, for their ids.
	leases int
	lease  int64
	ttl    int64 // seconds
	stage  holderStage
	// attached and want count the keys attached to the lease and the
	// keys to attach.
	attached, want int
	// quitAt is when the holder gives the lease up (0: never).
	quitAt int64
	// leader is the member that last renewed the lease (0: unknown).
	leader  uint64
	pending *holderReq
	// cut holds the members the holder cannot reach until cutUntil.
	cut      map[uint64]bool
	cutUntil int64
}

type holderStage uint8

const (
	holderIdle      holderStage = iota // no lease: grant one
	holderAttaching                    // attach keys to the lease
	holderKeeping                      // keep the lease alive
)

// holderReq is the request a holder waits for.
type holderReq struct {
	id     uint64
	member uint64
	kind   holderReqKind
	// answered is set when the member answered; result is the answer.
	answered bool
	result   holderResult
	// via and lease are the member that forwarded a keep-alive and its
	// lease, while the leader waits for a ReadIndex round (keepalive.go).
	via   uint64
	lease int64
}

type holderReqKind uint8

const (
	reqGrant holderReqKind = iota
	reqAttach
	reqRevoke
	reqKeepAlive
)

type holderResult uint8

const (
	resOK     holderResult = iota
	resGone                // the lease does not exist (any more)
	resFailed              // the request failed or may have: try again
)

const (
	// leaseReqBase numbers the holders' requests: leaseReqBase |
	// holder<<32 | seq.
	leaseReqBase = 1 << 58
	// holderTimeout is how long a holder waits for an answer.
	holderTimeout = 500
	// holders is how many lease holders a run has.
	holders = 3
)

// startHolders creates the run's lease holders.
func (w *World) startHolders() {
	for i := 0; i < holders; i++ {
		w.holders = append(w.holders, &leaseHolder{idx: i})
		w.schedule(int64(100+w.rng.IntN(500)), event{kind: evHolder, who: uint64(i)})
	}
}

func (w *World) holderOf(reqID uint64) *leaseHolder {
	i := int(reqID>>32) & 0xffff
	if reqID&leaseReqBase == 0 || i >= len(w.holders) {
		return nil
	}
	return w.holders[i]
}

// holderAct takes a holder's next step.
func (w *World) holderAct(h *leaseHolder) {
	if w.healed || h.pending != nil {
		return // once healed, every lease is left to expire
	}
	switch h.stage {
	case holderIdle:
		h.leases++
		h.lease = int64(h.idx+1)<<32 | int64(h.leases)
		h.ttl = replica.MinLeaseTTL + w.rng.Int64N(3)
		h.attached, h.want = 0, 1+w.rng.IntN(3)
		h.quitAt, h.leader = 0, 0
		if w.rng.IntN(4) != 0 {
			h.quitAt = w.now + w.rng.Int64N(2*h.ttl*1000)
		}
		w.holderPropose(h, reqGrant, &api.LeaseGrantRequest{ID: h.lease, TTL: h.ttl})
	case holderAttaching:
		key := fmt.Sprintf("lease/%x/%d", h.lease, h.attached)
		value := fmt.Sprintf("h%d-%d", h.idx, h.seq+1)
		w.holderPropose(h, reqAttach, &api.PutRequest{Key: []byte(key), Value: []byte(value), Lease: h.lease})
	case holderKeeping:
		if h.quitAt != 0 && w.now >= h.quitAt {
			if w.rng.IntN(4) == 0 {
				w.holderPropose(h, reqRevoke, &api.LeaseRevokeRequest{ID: h.lease})
				return
			}
			h.stage = holderIdle // stop renewing: the lease expires
			w.schedule(1, event{kind: evHolder, who: uint64(h.idx)})
			return
		}
		w.holderKeepAlive(h)
	}
}

// holderTarget is the member a holder sends to: the leader it knows, or
// any member that is up.
func (w *World) holderTarget(h *leaseHolder) *member {
	if h.leader != 0 {
		if m := w.member(h.leader); m.state == stateUp {
			return m
		}
	}
	return w.pickUp(false)
}

// holderSend starts a request and its timeout; it reports false (and
// retries later) when no member is up.
func (w *World) holderSend(h *leaseHolder, kind holderReqKind, m *member) bool {
	if m == nil {
		w.schedule(50, event{kind: evHolder, who: uint64(h.idx)})
		return false
	}
	h.seq++
	h.pending = &holderReq{id: leaseReqBase | uint64(h.idx)<<32 | h.seq, member: m.id, kind: kind}
	w.schedule(holderTimeout, event{kind: evHolderTimeout, who: uint64(h.idx), arg: h.pending.id})
	return true
}

// holderPropose sends a grant, an attaching put or a revoke through raft.
func (w *World) holderPropose(h *leaseHolder, kind holderReqKind, msg api.Message) {
	m := w.holderTarget(h)
	if !w.holderSend(h, kind, m) {
		return
	}
	if w.holderCut(h, m.id) {
		return // lost on the way: the holder times out
	}
	w.schedule(w.clientLatency(), event{kind: evRequest, who: m.id, arg: h.pending.id, req: msg})
}

// holderKeepAlive sends a keep-alive; it does not go through raft.
func (w *World) holderKeepAlive(h *leaseHolder) {
	m := w.holderTarget(h)
	if !w.holderSend(h, reqKeepAlive, m) || w.holderCut(h, m.id) {
		return
	}
	w.schedule(w.clientLatency(), event{kind: evKeepAlive, who: m.id, arg: h.pending.id, lease: h.lease})
}

// holderCut reports whether the holder's messages to or from member id are
// lost.
func (w *World) holderCut(h *leaseHolder, id uint64) bool {
	return h.cut[id] && w.now < h.cutUntil
}

// holderAnswer has member m answer a holder's request; the holder hears
// it after delay plus the network's latency, unless it is cut off.
func (w *World) holderAnswer(h *leaseHolder, m *member, reqID uint64, res holderResult, delay int64) {
	p := h.pending
	if p == nil || p.id != reqID || p.answered || w.holderCut(h, m.id) {
		return
	}
	p.answered, p.result = true, res
	w.schedule(delay+w.clientLatency(), event{kind: evHolderHears, who: uint64(h.idx), arg: reqID})
}

// holderReply turns a member's reply to a holder's proposal into its
// answer.
func (w *World) holderReply(m *member, r replica.Reply) {
	h := w.holderOf(r.ReqID)
	if h == nil {
		return
	}
	p := h.pending
	if p == nil || p.id != r.ReqID {
		// A late reply to a request the holder gave up on (a keep-alive's
		// ReadIndex round ending after it timed out carries no result):
		// nobody waits for it.
		return
	}
	if p.kind == reqKeepAlive {
		w.renewAt(m, p.via, r.ReqID, p.lease, true) // its ReadIndex round ended
		return
	}
	res := resOK
	if r.Err != nil {
		res = resFailed
	} else if _, err := replica.Response(r.Result); err != nil {
		switch {
		case errors.Is(err, mvcc.ErrLeaseNotFound), errors.Is(err, mvcc.ErrLeaseExists):
			res = resGone
		case w.auth.on && errors.Is(err, api.ErrUserEmpty):
			// Proposed without a user by a member that saw auth off,
			// applied once it was on: refused, try again.
			res = resFailed
		default:
			w.fail("holder %d: request %x failed: %v", h.idx, r.ReqID, err)
			return
		}
	}
	w.holderAnswer(h, m, r.ReqID, res, m.cost)
}

// holderHears takes the answer to the holder's request (timedOut: there
// was none in time) and decides what to do next.
func (w *World) holderHears(h *leaseHolder, reqID uint64, timedOut bool) {
	p := h.pending
	if p == nil || p.id != reqID || timedOut && p.answered {
		return
	}
	h.pending = nil
	res := p.result
	if timedOut {
		res = resFailed
		if m := w.member(p.member); m.state == stateUp && p.kind != reqKeepAlive {
			w.step(m, replica.EvCancel{ReqID: reqID})
		}
	}
	next := int64(1 + w.rng.IntN(20))
	switch p.kind {
	case reqGrant:
		if res == resOK {
			h.stage = holderAttaching
		}
		// Otherwise the holder cannot tell whether it was granted: it
		// leaves this id (to expire if it was granted) and grants
		// another.
	case reqAttach:
		switch res {
		case resOK:
			h.attached++
			if h.attached == h.want {
				h.stage = holderKeeping
			}
		case resGone:
			h.stage = holderIdle // it expired before the keys were attached
		}
	case reqRevoke:
		h.stage = holderIdle
	case reqKeepAlive:
		switch res {
		case resOK:
			h.leader = p.member
			next = h.ttl * 1000 / 3
		case resGone:
			h.stage = holderIdle
		default:
			h.leader = 0
		}
	}
	w.schedule(next, event{kind: evHolder, who: uint64(h.idx)})
}

// cutHolder cuts a lease holder off every member for a while (its own
// network fails: any member it reached would forward its keep-alives to
// the leader), long enough, sometimes, for its lease to expire. Or it
// isolates the leader from the other members and the holder from every
// member but the leader: the holder renews its lease with a leader that
// is about to be deposed, then with nobody.
func (w *World) cutHolder() {
	lead := w.leader()
	if lead == nil || len(w.holders) == 0 {
		return
	}
	h := w.holders[w.rng.IntN(len(w.holders))]
	h.cut, h.cutUntil = map[uint64]bool{}, w.now+1000+w.rng.Int64N(7000)
	if w.rng.IntN(2) == 0 {
		for _, m := range w.members {
			h.cut[m.id] = true
		}
		w.logFault("lease holder %d cut off every member until %dms", h.idx, h.cutUntil)
		return
	}
	w.partition(partIsolate, lead.id)
	for _, m := range w.members {
		h.cut[m.id] = m != lead
	}
	h.leader = lead.id
	w.logFault("lease holder %d reaches only leader %d until %dms", h.idx, lead.id, h.cutUntil)
}
