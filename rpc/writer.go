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
// from — and an idle connection pays for exactly one Write per frame.

// queueLimit is how many queued bytes make data frames wait for the
// writer (control frames never wait; see push).
const queueLimit = 1 << 20

// maxSpare is the largest buffer kept for reuse after a write.
const maxSpare = 4 << 20

// goAwayGrace bounds how long a going-away connection waits for its queue
// to drain before it is closed anyway.
const goAwayGrace = time.Second

type writeQueue struct {
	mu       sync.Mutex
	space    sync.Cond // signalled when the writer takes the buffer, or on close
	buf      []byte    // frames waiting for the writer
	spare    []byte    // the other buffer, empty, for reuse
	closed   bool
	drain    bool   // close the connection once the queue is empty
	drainErr *Error // ... with this reason
	wake     chan struct{}
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
// never block, or two peers with full queues could deadlock. It fails
// only when the connection is dead.
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
	defer q.mu.Unlock()
	for len(q.buf) >= queueLimit && !q.closed {
		q.space.Wait()
	}
	if q.drain {
		return errorf(CodeUnavailable, "connection to %s is closing", s.peer)
	}
	if err := s.register(e, id); err != nil {
		return err
	}
	f.stream = *id
	first := len(q.buf) == 0
	q.buf = appendFrame(q.buf, f)
	if first {
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
			q.space.Broadcast()
			q.mu.Unlock()

			if _, err := s.conn.Write(batch); err != nil {
				if s.err() == nil {
					s.close(unavailable(err, "writing to %s", s.peer))
				}
				return
			}
			if cap(batch) <= maxSpare {
				q.mu.Lock()
				q.spare = batch[:0]
				q.mu.Unlock()
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
