package sim

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"strings"

	"github.com/cairndb/cairn/api"
	"github.com/cairndb/cairn/node/peerwire"
	"github.com/cairndb/cairn/node/replica"
	"github.com/cairndb/cairn/raftcore"
)

// event is something that happens at a virtual time.
type event struct {
	at   int64
	seq  uint64 // tie-break: insertion order
	kind eventKind
	who  uint64 // the member or client it concerns
	// msg is the message RunRaft delivers (raftonly.go; the members of a
	// World exchange batches).
	msg *raftcore.Message
	// input is what evInput hands to a member; arg is a request id or an
	// incarnation, depending on the kind.
	input replica.Event
	arg   uint64
	// lease is the lease a keep-alive renews; via the member that
	// forwards it to the leader (evLeaseForward), or that sends a batch
	// (evDeliver; viaInc is its incarnation then, arg the receiver's) or
	// a stream (evStream).
	lease  int64
	via    uint64
	viaInc uint64
	// batch is an encoded batch of raft messages (evDeliver).
	batch []byte
	// stream is the store copy a frame of which arrives (evStream; arg
	// is the frame's index).
	stream *snapStream
	// req is the request evRequest carries to a member.
	req api.Message
	// hash is a member's answer in a corruption check (evHashAnswer).
	hash replica.MemberHash
}

type eventKind uint8

const (
	evTick          eventKind = iota + 1 // a member's raft tick
	evDeliver                            // a batch of raft messages reaches a member
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
	evStream                             // a frame of a store copy's stream reaches a member (snapshot.go)
	evSpace                              // the operator tends the store quota and disarms NOSPACE alarms (space.go)
)

var eventNames = map[eventKind]string{
	evTick: "tick", evDeliver: "deliver", evInput: "input", evClient: "client",
	evTimeout: "timeout", evNemesis: "nemesis", evRestart: "restart",
	evConfTimeout: "conf-timeout", evWatch: "watch", evFreeDisk: "free-disk", evReply: "reply",
	evLeaseTick: "lease-tick", evHolder: "holder", evHolderTimeout: "holder-timeout",
	evHolderHears: "holder-hears", evKeepAlive: "keep-alive", evLoss: "loss", evForge: "forge", evRequest: "request",
	evLeaseForward: "lease-forward", evAdmin: "auth-admin", evAdminRequest: "auth-request", evAdminTimeout: "auth-timeout",
	evCorruptCheck: "corrupt-check", evHashAsk: "hash-ask", evHashAnswer: "hash-answer", evCorruptJudge: "corrupt-judge",
	evRot: "rot", evOperator: "operator", evStream: "stream", evSpace: "space",
}

// String describes an event for the failure report.
func (e event) String() string {
	switch e.kind {
	case evDeliver:
		if e.msg != nil { // RunRaft's
			return fmt.Sprintf("%6dms deliver %s", e.at, describeRaftMessage(*e.msg))
		}
		var msgs []string
		for b, err := range peerwire.BatchMessages(e.batch) {
			m, _, derr := raftcore.DecodeMessage(b)
			if err = cmp.Or(err, derr); err != nil {
				msgs = append(msgs, err.Error())
				break
			}
			msgs = append(msgs, describeRaftMessage(m))
		}
		return fmt.Sprintf("%6dms deliver %d->%d: %s", e.at, e.via, e.who, strings.Join(msgs, "; "))
	case evStream:
		return fmt.Sprintf("%6dms stream %d->%d frame %d of %d", e.at, e.via, e.who, e.arg+1, len(e.stream.frames))
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

// describeRaftMessage describes a raft message for the failure report.
func describeRaftMessage(m raftcore.Message) string {
	return fmt.Sprintf("%s %d->%d term %d index %d logterm %d commit %d entries %d reject %v",
		m.Type, m.From, m.To, m.Term, m.Index, m.LogTerm, m.Commit, len(m.Entries), m.Reject)
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
	binary.LittleEndian.PutUint64(b[24:], e.bytesDigest())
	binary.LittleEndian.PutUint64(b[32:], e.arg)
	binary.LittleEndian.PutUint64(b[40:], uint64(e.lease))
	binary.LittleEndian.PutUint64(b[48:], w.trace)
	h.Write(b[:])
	w.trace = h.Sum64()
	w.tail[w.events%traceTail] = *e
	w.events++
}

// bytesDigest is a digest of the bytes an event carries (a batch, a
// stream's frame), for the trace.
func (e *event) bytesDigest() uint64 {
	b := e.batch
	if e.stream != nil {
		b = e.stream.frames[e.arg]
	}
	if b == nil {
		return 0
	}
	return uint64(crc32.Checksum(b, castagnoli))<<32 | uint64(len(b))
}

// castagnoli is the CRC-32C table: the processor computes that CRC.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)
