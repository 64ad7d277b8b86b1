package rpc

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// The write path: every goroutine that sends a frame encodes it straight
// into the session's queue buffer; one writer goroutine per connection
// swaps the buffer out and hands it to the connection in a single Write.
// While that Write runs, new frames pile up in the other buffer, so under
// load many frames share one system call — that is where throughput comes
// from.
//
// A connection with a lone sender pays for exactly one Write per frame,
// and the sender makes it itself (a direct write): when a data frame finds
// the queue empty, nobody writing, and no other call or stream in flight
// on this side of the connection (see lone), its sender takes the queue's
// buffer and writes it, instead of waking the writer goroutine and waiting
// for the scheduler to run it. That hand-off costs tens of microseconds on
// a busy machine: on every request and response of a client that sends
// one request at a time, and on every raft message between members (one
// stream per connection). With several calls in flight the writer's yield
// is worth its cost — their frames share one Write — so they queue as
// before. Frames that arrive during a direct write queue up, and the
// direct writer wakes the writer goroutine for them when it is done: one
// goroutine writes at a time, so frames reach the connection in the order
// they were queued. Control frames never write directly: the reader
// goroutine sends them and must never block in a Write.

// queueLimit is how many queued bytes make data frames wait for the
// writer (control frames never wait; see push).
const queueLimit = 1 << 20

// maxSpare is the largest buffer kept for reuse after a write.
const maxSpare = 4 << 20

// idleBufferMax is the largest write buffer a connection keeps once it
// has written nothing for a keepalive tick (see trimIdle).
const idleBufferMax = 4 << 10

// goAwayGrace bounds how long a going-away connection waits for its queue
// to drain before it is closed anyway.
const goAwayGrace = time.Second

type writeQueue struct {
	mu       sync.Mutex
	space    sync.Cond // signalled when the writer takes the buffer, or on close
	buf      []byte    // frames waiting for the writer
	spare    []byte    // the other buffer, empty, for reuse
	closed   bool
	writing  bool   // a goroutine (the writer, or a direct writer) is writing a batch
	drain    bool   // close the connection once the queue is empty
	drainErr *Error // ... with this reason
	wrote    bool   // a batch was written since the last trimIdle
	wake     chan struct{}
}

// trimIdle drops the large buffers of a connection that has written
// nothing since the last call (the keepalive loop calls it every tick):
// a connection keeps the buffers of its largest batches while it is busy,
// not for the rest of its life.
func (q *writeQueue) trimIdle() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.wrote && !q.writing && len(q.buf) == 0 {
		if cap(q.buf) > idleBufferMax {
			q.buf = nil
		}
		if cap(q.spare) > idleBufferMax {
			q.spare = nil
		}
	}
	q.wrote = false
}

func (q *writeQueue) init() {
	q.space.L = &q.mu
	q.wake = make(chan struct{}, 1)
}

func (q *writeQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.space.Broadcast()
	q.mu.Unlock()
}

// push queues a frame for the writer. Data frames (wait=true: requests,
// responses, stream messages) wait while the queue holds queueLimit bytes,
// which bounds the memory a fast producer can pin. Control frames (pong,
// window, cancel) never wait: the reader goroutine sends them and must
// never block, or two peers with full queues could deadlock. A data frame
// of a lone sender is written at once on the caller's goroutine (see the
// top of this file). It fails only when the connection is dead.
func (s *session) push(f *frame, wait bool) error {
	q := &s.out
	q.mu.Lock()
	for wait && len(q.buf) >= queueLimit && !q.closed {
		q.space.Wait()
	}
	if q.closed || (q.drain && wait) {
		// Dead, or going away: nothing more than control frames goes out
		// after the goaway, so the peer's calls fail as Unavailable.
		q.mu.Unlock()
		if err := s.err(); err != nil {
			return err
		}
		return errorf(CodeUnavailable, "connection to %s is closing", s.peer)
	}
	first := len(q.buf) == 0
	q.buf = appendFrame(q.buf, f)
	if wait && first && !q.writing && s.lone() {
		return s.writeDirect() // unlocks q.mu
	}
	flooded := len(q.buf) > s.hardQueueLimit()
	q.mu.Unlock()
	if flooded {
		// Only control frames get past queueLimit, and a peer that keeps
		// provoking them (pings, refused calls) without reading our
		// answers would grow the queue without end.
		s.protocolViolation(fmt.Errorf("peer is not reading: write queue over %d bytes", s.hardQueueLimit()))
		return s.err()
	}
	if first {
		s.wakeWriter()
	}
	return nil
}

// hardQueueLimit is the queue size that means the peer has stopped
// reading: a full queue of data frames, one more large frame, and room for
// many control frames on top.
func (s *session) hardQueueLimit() int {
	return 2*queueLimit + s.opts.maxBody + FrameOverhead
}

// pushOpen registers e under the next stream id (stored in *id) and
// queues f, its opening frame, with that id — both under the queue lock,
// so ids reach the wire in increasing order however many goroutines open
// calls at once (the server insists on it).
func (s *session) pushOpen(e entry, id *uint64, f *frame) error {
	q := &s.out
	q.mu.Lock()
	for len(q.buf) >= queueLimit && !q.closed {
		q.space.Wait()
	}
	if q.drain {
		q.mu.Unlock()
		return errorf(CodeUnavailable, "connection to %s is closing", s.peer)
	}
	if err := s.register(e, id); err != nil {
		q.mu.Unlock()
		return err
	}
	f.stream = *id
	first := len(q.buf) == 0
	q.buf = appendFrame(q.buf, f)
	if first && !q.writing && s.lone() {
		_ = s.writeDirect() // unlocks q.mu; a failed write fails e with the session
		return nil
	}
	q.mu.Unlock()
	if first {
		s.wakeWriter()
	}
	return nil
}

// lone reports whether at most one call or stream is in flight on the
// connection on this side — one handler running on a server, one call or
// stream open on a client — so that the frame being queued is the only
// one any goroutine of this connection is about to send.
func (s *session) lone() bool {
	if s.server != nil {
		return s.active.Load() <= 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries) <= 1
}

// writeDirect writes the queue's buffer on the calling goroutine; the
// caller holds q.mu, has just queued a frame into the empty buffer and
// checked that nobody is writing. It returns with q.mu unlocked, after
// the Write, and wakes the writer goroutine for the frames queued
// meanwhile. An error is the session's: the connection is closed.
func (s *session) writeDirect() error {
	q := &s.out
	batch := q.buf
	q.buf, q.spare = q.spare, nil
	q.writing = true
	q.space.Broadcast()
	q.mu.Unlock()

	_, err := s.conn.Write(batch)

	q.mu.Lock()
	q.writing, q.wrote = false, true
	if cap(batch) <= maxSpare && q.spare == nil {
		q.spare = batch[:0]
	}
	more := len(q.buf) > 0 || q.drain
	q.mu.Unlock()
	if err != nil {
		if s.err() == nil {
			s.close(unavailable(err, "writing to %s", s.peer))
		}
		return s.err()
	}
	if more {
		s.wakeWriter()
	}
	return nil
}

func (s *session) wakeWriter() {
	select {
	case s.out.wake <- struct{}{}:
	default:
	}
}

// writeLoop is the writer goroutine.
func (s *session) writeLoop() {
	defer s.wg.Done()
	q := &s.out
	for {
		select {
		case <-q.wake:
		case <-s.done:
			return
		}
		// Let the goroutines that are ready to send (handlers finishing,
		// callers starting) add their frames before we take the batch: a
		// yield costs little when no one else is runnable and saves
		// system calls when many are.
		runtime.Gosched()
		for {
			q.mu.Lock()
			if q.writing {
				// A direct write is under way; its writer wakes us
				// when it is done if more frames are waiting.
				q.mu.Unlock()
				break
			}
			if len(q.buf) == 0 {
				drain, why := q.drain, q.drainErr
				q.mu.Unlock()
				if drain {
					s.close(why)
					return
				}
				break
			}
			batch := q.buf
			q.buf, q.spare = q.spare, nil
			q.writing = true
			q.space.Broadcast()
			q.mu.Unlock()

			_, err := s.conn.Write(batch)
			q.mu.Lock()
			q.writing, q.wrote = false, true
			if cap(batch) <= maxSpare {
				q.spare = batch[:0]
			}
			q.mu.Unlock()
			if err != nil {
				if s.err() == nil {
					s.close(unavailable(err, "writing to %s", s.peer))
				}
				return
			}
		}
	}
}

// goAway tells the peer the connection is closing (why), then closes it
// once the queue has drained, or after goAwayGrace at the latest.
func (s *session) goAway(why *Error) {
	if s.push(&frame{kind: kindGoAway, code: why.Code, body: []byte(why.Message)}, false) != nil {
		return // already dead
	}
	q := &s.out
	q.mu.Lock()
	q.drain, q.drainErr = true, why
	q.mu.Unlock()
	s.wakeWriter()
	time.AfterFunc(goAwayGrace, func() { s.close(why) })
}
