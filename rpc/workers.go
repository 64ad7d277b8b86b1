package rpc

import (
	"context"
	"sync/atomic"
)

// maxIdleWorkers is how many unary handler goroutines wait for the next
// call when calls are few. Enough that a busy server, whose calls arrive
// and finish at the same pace, almost always finds one; few enough that
// their stacks (8 to 32 KiB each) do not weigh on a quiet member.
const maxIdleWorkers = 128

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
	tasks chan unaryTask // unbuffered: a send succeeds only into an idle worker
	idle  atomic.Int32
	done  <-chan struct{} // the server's closing: idle workers end
}

func newUnaryWorkers(done <-chan struct{}) *unaryWorkers {
	return &unaryWorkers{tasks: make(chan unaryTask), done: done}
}

// run has t run by an idle worker, or by a new one.
func (w *unaryWorkers) run(s *Server, t unaryTask) {
	select {
	case w.tasks <- t:
	default:
		go w.work(s, t)
	}
}

// work runs t, then the tasks handed to it while it waits idle, until the
// idle workers are enough or the server closes.
func (w *unaryWorkers) work(s *Server, t unaryTask) {
	for {
		s.runUnary(t.sess, t.id, t.call, t.ctx, t.h, t.req)
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		select {
		case t = <-w.tasks:
			w.idle.Add(-1)
		case <-w.done:
			w.idle.Add(-1)
			return
		}
	}
}
