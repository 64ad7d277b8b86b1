// Package linearizability checks that cairn's KV API behaves as one copy of
// the data changed by one operation at a time (linearizability), using the
// porcupine checker.
//
// A test (the deterministic simulator, or a harness running real server
// processes) wraps every client operation in a Recorder:
//
//	rec := linearizability.NewRecorder(clock)
//	id := rec.Call(client, api.RequestOp{Put: &api.PutRequest{Key: k, Value: v}})
//	resp, err := kv.Put(ctx, ...)
//	switch {
//	case err == nil:
//		rec.Return(id, api.ResponseOp{Put: resp})
//	case ambiguous(err): // timeout, connection lost: it may or may not apply
//		rec.Unknown(id)
//	default: // rejected before it was proposed: it never applies
//		rec.Discard(id)
//	}
//
// and then checks the history against a model of the API:
//
//	err := linearizability.Check(rec.Operations(), linearizability.KVModel(), time.Minute, dir)
//
// KVModel checks single-key operations (get, put, delete, compare-and-swap)
// one key at a time, which is fast; MultiKeyModel checks ranges and
// multi-key transactions and the exact store revision in every response, on
// smaller histories. ChangeLog and CheckWatch check that watch streams
// deliver every change, in order, once.
package linearizability

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

// Never is the return time of an operation whose outcome is unknown: it may
// take effect at any time after its call, or never.
const Never int64 = math.MaxInt64

// Outcome is the output of one operation in a history: the response the
// client received, or Unknown when it never learned whether the operation
// took effect.
type Outcome struct {
	Response api.ResponseOp
	Unknown  bool
}

// OpID names an operation a Recorder has seen called.
type OpID int

// opState tracks where a recorded operation is in its life.
type opState uint8

const (
	opPending opState = iota
	opReturned
	opUnknown
	opDiscarded
)

type recorded struct {
	op    porcupine.Operation
	state opState
}

// Recorder collects the history of operations made by concurrent clients.
// It is safe for concurrent use. It keeps the requests and responses given
// to it, so callers must not modify them afterwards.
type Recorder struct {
	mu    sync.Mutex
	clock func() int64
	ops   []recorded
}

// NewRecorder returns a recorder that timestamps calls and returns with
// clock, which must never go backwards (the simulator passes its virtual
// clock). A nil clock uses NewCounterClock.
func NewRecorder(clock func() int64) *Recorder {
	if clock == nil {
		clock = NewCounterClock()
	}
	return &Recorder{clock: clock}
}

// NewCounterClock returns a clock that counts up by one on every reading.
// The Recorder reads its clock under its lock, so with this clock the
// timestamps follow the order in which clients called Call and Return.
func NewCounterClock() func() int64 {
	var n int64
	return func() int64 {
		n++
		return n
	}
}

// NewWallClock returns a clock of monotonic nanoseconds since its
// creation, for histories of real processes.
func NewWallClock() func() int64 {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}

// Call records that client is about to send req and returns the id to
// finish it with. Client ids should be small and start at 0 (they are the
// rows of the visualization).
func (r *Recorder) Call(client int, req api.RequestOp) OpID {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, recorded{op: porcupine.Operation{
		ClientId: client,
		Input:    req,
		Call:     r.clock(),
		Return:   Never,
		Output:   Outcome{Unknown: true},
	}})
	return OpID(len(r.ops) - 1)
}

// Return records that operation id completed with resp.
func (r *Recorder) Return(id OpID, resp api.ResponseOp) error {
	return r.finish(id, opReturned, func(op *porcupine.Operation) {
		op.Return = r.clock()
		op.Output = Outcome{Response: resp}
	})
}

// Unknown records that the client cannot tell whether operation id took
// effect (it timed out, or the connection broke after sending): it stays in
// the history, free to have taken effect at any time after its call, or
// never. Unknown writes are expensive to check: each one may fall anywhere
// after its call, so proving a violation can take time exponential in the
// number of unknown writes to one key (one store, for MultiKeyModel).
// Reads with unknown outcomes cost nothing (Check leaves them out). A test
// that can learn an unknown write's fate later (the simulator can look for
// its unique value in the committed log) should Discard those that never
// applied.
func (r *Recorder) Unknown(id OpID) error {
	return r.finish(id, opUnknown, func(*porcupine.Operation) {})
}

// Discard records that operation id certainly did not take effect (the
// server rejected it before proposing it); it is left out of the history.
// An operation first marked Unknown may be discarded once the test learns
// it never applied.
func (r *Recorder) Discard(id OpID) error {
	return r.finish(id, opDiscarded, func(*porcupine.Operation) {})
}

func (r *Recorder) finish(id OpID, to opState, update func(*porcupine.Operation)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 0 || int(id) >= len(r.ops) {
		return fmt.Errorf("linearizability: recorder: no operation %d", id)
	}
	rec := &r.ops[id]
	if rec.state != opPending && !(rec.state == opUnknown && to == opDiscarded) {
		return fmt.Errorf("linearizability: recorder: operation %d already finished", id)
	}
	rec.state = to
	update(&rec.op)
	return nil
}

// Operations returns the history so far. Operations still pending (their
// client crashed or the test ended first) are included with an unknown
// outcome; discarded ones are left out.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := make([]porcupine.Operation, 0, len(r.ops))
	for _, rec := range r.ops {
		if rec.state != opDiscarded {
			ops = append(ops, rec.op)
		}
	}
	return ops
}
