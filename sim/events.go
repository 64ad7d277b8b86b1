package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// event is something that happens at a virtual time.
type event struct {
	at   int64
	seq  uint64 // tie-break: insertion order
	kind eventKind
	who  uint64 // the member or client it concerns
	msg  raftcore.Message
	// input is what evInput hands to a member; arg is a request id or an
	// incarnation, depending on the kind.
	input replica.Event
	arg   uint64
	// lease is the lease a keep-alive renews; via the member that
	// forwards it to the leader (evLeaseForward).
	lease int64
	via   uint64
	// req is the request evRequest carries to a member.
	req api.Message
	// hash is a member's answer in a corruption check (evHashAnswer).
	hash replica.MemberHash
}

type eventKind uint8

const (
	evTick          eventKind = iota + 1 // a member's raft tick
	evDeliver                            // a raft message reaches a member
	evInput                              // an input reaches a member (request, transport report)
	evClient                             // a client issues its next operation
	evTimeout                            // a client gives up on request arg
	evNemesis                            // the nemesis acts
	evRestart                            // a crashed member (incarnation arg) restarts
	evConfTimeout                        // the membership change arg is retried
	evWatch                              // watchers of a member are drained and synced
	evFreeDisk                           // a member's full disk gets room again
	evReply                              // a client hears the answer to request arg
	evLeaseTick                          // leaders revoke their expired leases
	evHolder                             // a lease holder takes its next step
	evHolderTimeout                      // a lease holder gives up on request arg
	evHolderHears                        // a lease holder hears the answer to request arg
	evKeepAlive                          // a keep-alive (request arg, of lease) reaches a member
	evLoss                               // a disk loses acknowledged data (loss.go)
	evForge                              // the forger injects a message (forgery.go)
	evRequest                            // a client's request (arg, req) reaches a member
	evLeaseForward                       // a keep-alive (request arg, of lease) forwarded by via reaches the leader
	evAdmin                              // the auth administrator sends its next command
	evAdminRequest                       // the administrator's request arg reaches a member
	evAdminTimeout                       // the administrator gives up on request arg, sent to a member
	evCorruptCheck                       // the leader starts a round of the corruption check
	evHashAsk                            // the leader's question of round arg reaches a member
	evHashAnswer                         // a member's hash (round arg) reaches the leader
	evCorruptJudge                       // the leader judges the answers of round arg
	evRot                                // a member's store is set to rot (corrupt.go)
	evOperator                           // the operator replaces rotten members and disarms CORRUPT alarms
)

var eventNames = map[eventKind]string{
	evTick: "tick", evDeliver: "deliver", evInput: "input", evClient: "client",
	evTimeout: "timeout", evNemesis: "nemesis", evRestart: "restart",
	evConfTimeout: "conf-timeout", evWatch: "watch", evFreeDisk: "free-disk", evReply: "reply",
	evLeaseTick: "lease-tick", evHolder: "holder", evHolderTimeout: "holder-timeout",
	evHolderHears: "holder-hears", evKeepAlive: "keep-alive", evLoss: "loss", evForge: "forge", evRequest: "request",
	evLeaseForward: "lease-forward", evAdmin: "auth-admin", evAdminRequest: "auth-request", evAdminTimeout: "auth-timeout",
	evCorruptCheck: "corrupt-check", evHashAsk: "hash-ask", evHashAnswer: "hash-answer", evCorruptJudge: "corrupt-judge",
	evRot: "rot", evOperator: "operator",
}

// String describes an event for the failure report.
func (e event) String() string {
	switch e.kind {
	case evDeliver:
		m := e.msg
		return fmt.Sprintf("%6dms deliver %s %d->%d term %d index %d logterm %d commit %d entries %d reject %v",
			e.at, m.Type, m.From, m.To, m.Term, m.Index, m.LogTerm, m.Commit, len(m.Entries), m.Reject)
	case evInput:
		return fmt.Sprintf("%6dms input %T%+v to %d", e.at, e.input, e.input, e.who)
	case evTimeout:
		return fmt.Sprintf("%6dms client %d times out request %x", e.at, e.who, e.arg)
	case evKeepAlive:
		return fmt.Sprintf("%6dms keep-alive of lease %x reaches %d", e.at, e.lease, e.who)
	case evLeaseForward:
		return fmt.Sprintf("%6dms keep-alive of lease %x forwarded by %d reaches %d", e.at, e.lease, e.via, e.who)
	case evRequest:
		return fmt.Sprintf("%6dms request %x %T%+v to %d", e.at, e.arg, e.req, e.req, e.who)
	}
	return fmt.Sprintf("%6dms %s %d", e.at, eventNames[e.kind], e.who)
}

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

// schedule queues an event after a delay from now.
func (w *World) schedule(after int64, e event) {
	w.seq++
	e.at, e.seq = w.now+after, w.seq
	heap.Push(&w.queue, &e)
}

// record folds an event into the trace hash and the tail of recent events.
func (w *World) record(e *event) {
	h := fnv.New64a()
	var b [56]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(e.at))
	binary.LittleEndian.PutUint64(b[8:], uint64(e.kind))
	binary.LittleEndian.PutUint64(b[16:], e.who)
	binary.LittleEndian.PutUint64(b[24:], uint64(e.msg.Type)|e.msg.Index<<8)
	binary.LittleEndian.PutUint64(b[32:], e.arg)
	binary.LittleEndian.PutUint64(b[40:], uint64(e.lease))
	binary.LittleEndian.PutUint64(b[48:], w.trace)
	h.Write(b[:])
	w.trace = h.Sum64()
	w.tail[w.events%traceTail] = *e
	w.events++
}
