package rpc

import (
	"context"
	"sync/atomic"
	"time"
)

// How many unary handler goroutines wait idle for the next call. A member
// serving many clients runs hundreds of calls at once, in bursts (the
// replies of one raft batch go out together, and their clients call
// again together): between two bursts most of its workers are idle, and
// a worker that ends there is replaced in the next burst by a goroutine
// that grows its stack again. So up to maxIdleWorkers stay, and those
// above minIdleWorkers retire only once calls have been fewer for a while
// (retireInterval, below). An idle worker costs its stack: the runtime
// shrinks the stacks of idle goroutines at each collection, down to 2 KiB.
const (
	minIdleWorkers = 128
	maxIdleWorkers = 4096
)

// retireInterval is how often the workers above minIdleWorkers are looked
// at: if no worker had to be started since the last look (no call found
// every worker busy), half of them retire.
const retireInterval = 10 * time.Second

// unaryTask is one unary call for a worker to run.
type unaryTask struct {
	sess *session
	id   uint64
	call *serverCall
	ctx  context.Context
	h    UnaryHandler
	req  []byte
}

// unaryWorkers runs unary handlers on goroutines that outlive one call.
// A goroutine started per call begins on a small stack and grows it, by
// copying, two or three times in every call that goes through the server's
// services (10 to 15% of a member's CPU under many small calls); a worker
// keeps the stack it grew for the next call. When no worker is idle a new
// one starts, so a call never waits for another to finish.
type unaryWorkers struct {
	tasks chan unaryTask // unbuffered: a send succeeds only into an idle worker; a task without a handler retires it
	idle  atomic.Int32
	done  <-chan struct{} // the server's closing: idle workers end

	minIdle, maxIdle int32        // minIdleWorkers, maxIdleWorkers (tests set others)
	started          atomic.Int64 // workers started because none was idle
	startedSeen      atomic.Int64 // started at retire's last look
}

// newUnaryWorkers returns the workers of a server, and starts the
// goroutine that retires, every interval (if positive) until done, the
// idle ones a quieter server no longer needs.
func newUnaryWorkers(done <-chan struct{}, interval time.Duration) *unaryWorkers {
	w := &unaryWorkers{tasks: make(chan unaryTask), done: done, minIdle: minIdleWorkers, maxIdle: maxIdleWorkers}
	if interval > 0 {
		go w.retireEvery(interval)
	}
	return w
}

// retireEvery calls retire every interval until the server closes.
func (w *unaryWorkers) retireEvery(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.retire()
		case <-w.done:
			return
		}
	}
}

// retire ends half of the idle workers above minIdle (rounded up), unless
// a worker was started since its last call: then calls still outnumber
// the workers at times, and they all stay.
func (w *unaryWorkers) retire() {
	started := w.started.Load()
	if w.startedSeen.Swap(started) != started {
		return
	}
	excess := w.idle.Load() - w.minIdle
	for range (excess + 1) / 2 {
		select {
		case w.tasks <- unaryTask{}:
		default:
			return // the idle ones took calls meanwhile
		}
	}
}

// run has t run by an idle worker, or by a new one.
func (w *unaryWorkers) run(s *Server, t unaryTask) {
	select {
	case w.tasks <- t:
	default:
		w.started.Add(1)
		go w.work(s, t)
	}
}

// work runs t, then the tasks handed to it while it waits idle, until the
// idle workers are enough (maxIdle), it is retired, or the server closes.
func (w *unaryWorkers) work(s *Server, t unaryTask) {
	for {
		s.runUnary(t.sess, t.id, t.call, t.ctx, t.h, t.req)
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		select {
		case t = <-w.tasks:
			w.idle.Add(-1)
			if t.h == nil {
				return // retired
			}
		case <-w.done:
			w.idle.Add(-1)
			return
		}
	}
}
