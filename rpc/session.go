package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/internal/lazydeadline"
)

// session is one connection, on either side. It owns three goroutines: the
// reader (decodes frames and dispatches them, never blocking on the
// application), the writer (drains the write queue, see writer.go) and
// the keepalive ticker (keepalive.go). Live calls and streams are entries
// in a table keyed by stream id.
type session struct {
	conn   net.Conn
	rd     *connReader
	opts   connOptions
	server *Server // nil on the client side
	peer   string  // the remote address, for messages

	mu         sync.Mutex
	entries    map[uint64]entry
	nextID     uint64 // client: the next stream id to hand out (odd)
	lastPeerID uint64 // server: the highest id the client has used
	dead       *Error // why the session ended; set once, then done is closed

	done   chan struct{}
	ctx    context.Context // parent of handler contexts; canceled on close
	cancel context.CancelFunc

	epoch    time.Time    // lastRecv counts from here (monotonic clock)
	lastRecv atomic.Int64 // nanoseconds since epoch when the last frame arrived
	active   atomic.Int64 // server: handlers running now
	out      writeQueue
	wg       sync.WaitGroup // the writer and keepalive goroutines
}

// entry is a live call or stream in the session's table. Whoever removes
// an entry from the table is the one that completes it: the reader (a
// final frame), the owner (cancel, handler done) or close (connection
// death, which empties the whole table and calls fail on each).
type entry interface {
	// handle processes a frame for this entry on the reader goroutine; it
	// must not block. An error is a protocol violation by the peer.
	handle(f *frame) error
	// fail ends the entry because the connection died.
	fail(err *Error)
}

// newSession starts the session of a connection whose handshake is done;
// br is the handshake's reader, which may hold bytes read past the hello.
func newSession(parent context.Context, conn net.Conn, br *bufio.Reader, opts connOptions, srv *Server, peer string) *session {
	buffers := &readBuffers{} // a client's: its own, unbounded
	if srv != nil {
		buffers = srv.buffers
	}
	s := &session{
		conn:    conn,
		rd:      newConnReader(br, buffers),
		opts:    opts,
		server:  srv,
		peer:    peer,
		entries: make(map[uint64]entry),
		nextID:  1,
		done:    make(chan struct{}),
		epoch:   time.Now(),
	}
	s.ctx, s.cancel = context.WithCancel(parent)
	s.out.init()
	return s
}

// start launches the writer and keepalive goroutines; the caller runs
// readLoop (the server in its connection goroutine, the client in a new
// one).
func (s *session) start() {
	s.wg.Add(2)
	go s.writeLoop()
	go s.keepAliveLoop()
}

// readLoop reads and dispatches frames until the connection ends.
func (s *session) readLoop() {
	defer s.rd.release()
	fr := frameReader{r: s.rd, maxBody: s.opts.maxBody, done: s.done}
	if s.server != nil {
		fr.budget, fr.waiting = s.server.budget, s.server.budgetSpent
	}
	// One frame for the whole loop, not one allocation per frame:
	// dispatch and the entries it calls copy out what they keep (the
	// body, the code), never the frame itself.
	var f frame
	for {
		var err error
		f, err = fr.read()
		if err != nil {
			s.readFailed(err)
			return
		}
		s.lastRecv.Store(int64(time.Since(s.epoch)))
		if err := s.dispatch(&f); err != nil {
			if s.err() != nil {
				// The session ended meanwhile (a write failed: the peer
				// left with calls in flight, or it was closed), and this
				// frame was already read: it goes with the connection.
				return
			}
			s.protocolViolation(err)
			return
		}
	}
}

// readFailed closes the session after a read error: a clean close by the
// peer, a local close, a broken connection or a malformed frame.
func (s *session) readFailed(err error) {
	switch {
	case errors.Is(err, errMalformed):
		s.protocolViolation(err)
	case s.err() != nil:
		// closed locally (Close, keepalive timeout, goaway): keep that reason
	case errors.Is(err, io.EOF):
		s.close(errorf(CodeUnavailable, "connection closed by %s", s.peer))
	default:
		s.close(unavailable(err, "reading from %s", s.peer))
	}
}

// protocolViolation logs a peer's misbehaviour and closes the connection.
func (s *session) protocolViolation(err error) {
	s.opts.logger.Warn("rpc: protocol violation; closing connection", "peer", s.peer, "err", err)
	s.close(unavailable(err, "protocol violation on the connection to %s", s.peer))
}

// dispatch routes one frame. An error means the peer broke the protocol.
func (s *session) dispatch(f *frame) error {
	switch f.kind {
	case kindPing:
		_ = s.push(&frame{kind: kindPong, ping: f.ping}, false)
		return nil
	case kindPong:
		return nil // its arrival already reset the keepalive clock
	}
	if s.server != nil {
		switch f.kind {
		case kindRequest, kindOpen:
			return s.server.accept(s, f)
		case kindResponse, kindError, kindGoAway:
			return fmt.Errorf("a client sent a %s frame", f.kind)
		}
	} else {
		switch f.kind {
		case kindRequest, kindOpen:
			return fmt.Errorf("the server sent a %s frame: servers never open streams", f.kind)
		case kindGoAway:
			s.close(errorf(CodeUnavailable, "server %s is going away: %s", s.peer, f.body))
			return nil
		}
	}
	s.mu.Lock()
	e := s.entries[f.stream]
	var stale bool // an id this connection used before: the entry has finished
	if s.server != nil {
		stale = f.stream%2 == 1 && f.stream <= s.lastPeerID
	} else {
		stale = f.stream%2 == 1 && f.stream < s.nextID
	}
	s.mu.Unlock()
	if e != nil {
		return e.handle(f)
	}
	if !stale {
		return fmt.Errorf("%s frame for stream %d, which was never opened", f.kind, f.stream)
	}
	return nil // a late frame for a call or stream that has finished here
}

// register gives e the next stream id (client side), storing it in *id
// before e is visible to the reader, and adds e to the table.
func (s *session) register(e entry, id *uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return s.dead
	}
	*id = s.nextID
	s.nextID += 2
	s.entries[*id] = e
	return nil
}

// claimPeerID checks that a stream id the client is opening is new (odd
// and above every id it used before) and, if e is not nil, adds e to the
// table under it.
func (s *session) claimPeerID(id uint64, e entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id%2 == 0 || id <= s.lastPeerID {
		return fmt.Errorf("client opened stream %d: ids must be odd and increasing (last was %d)", id, s.lastPeerID)
	}
	s.lastPeerID = id
	if s.dead != nil {
		return s.dead
	}
	if e != nil {
		s.entries[id] = e
	}
	return nil
}

// remove takes e out of the table if it is still there under id, and
// reports whether it was (so the caller is the one to complete it).
func (s *session) remove(id uint64, e entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries[id] == e && e != nil {
		delete(s.entries, id)
		return true
	}
	return false
}

// err returns why the session died, or nil while it is alive.
func (s *session) err() *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// close ends the session (once): records why, closes the connection and
// the write queue, cancels handler contexts and fails every live entry.
func (s *session) close(why *Error) {
	s.mu.Lock()
	if s.dead != nil {
		s.mu.Unlock()
		return
	}
	s.dead = why
	entries := s.entries
	s.entries = nil
	s.mu.Unlock()

	close(s.done)
	s.cancel()
	s.conn.Close()
	s.out.close()
	for _, e := range entries {
		e.fail(why)
	}
	s.opts.logger.Debug("rpc: connection closed", "peer", s.peer, "why", why.Message)
}

// handlerContext derives a handler's context from the session's, with the
// caller's timeout if it sent one. The timeout's timer starts only if the
// handler waits on its context (lazydeadline): most calls answer without.
func handlerContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	if timeout <= 0 {
		return ctx, cancel
	}
	bounded := lazydeadline.New(ctx, time.Now().Add(timeout), nil)
	return bounded, func() {
		bounded.Release()
		cancel()
	}
}
