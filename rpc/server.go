package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// UnaryHandler serves one request/response call. ctx carries the
// caller's deadline and is canceled if the caller cancels or the
// connection dies. The returned error travels to the caller as an *Error:
// its code comes from an RPCCode() uint16 method if it has one, else
// context.Canceled → CodeCanceled, context.DeadlineExceeded →
// CodeDeadlineExceeded, anything else CodeUnknown; the message is
// err.Error().
type UnaryHandler func(ctx context.Context, req []byte) ([]byte, error)

// StreamHandler serves a bidirectional stream; returning nil ends the
// stream cleanly (the peer's Recv gets io.EOF), returning an error sends
// it as an error end (the peer's Recv gets *Error), with the same mapping
// as UnaryHandler.
type StreamHandler func(ctx context.Context, s *Stream) error

// Server serves rpc connections: it accepts them, runs the handshake (and
// TLS), and runs handlers for the calls and streams that arrive.
type Server struct {
	opts      ServerOptions
	tlsConfig *tls.Config // opts.TLS, with the foreign protocols' ALPN names
	conn      connOptions
	ctx       context.Context // parent of every handler context
	cancel    context.CancelFunc
	handles   sync.RWMutex
	unary     map[Method]UnaryHandler
	streams   map[Method]StreamHandler

	// budget bounds the frames the connections are receiving; buffers
	// lends their large read buffers (reader.go), within a budget of its
	// own (ServerOptions.ReceiveBudget).
	budget  *recvBudget
	buffers *readBuffers
	// workers runs the unary handlers (workers.go).
	workers *unaryWorkers
	// refusedLog and budgetLog keep floods of refused connections and of
	// waits for the budget out of the log.
	refusedLog, budgetLog rateLimited

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]*session // session is nil during the handshake
	wg        sync.WaitGroup        // connection goroutines
}

// NewServer returns a server with no handlers.
func NewServer(opts ServerOptions) *Server {
	s := &Server{
		opts:       opts,
		conn:       opts.conn(),
		unary:      make(map[Method]UnaryHandler),
		streams:    make(map[Method]StreamHandler),
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[net.Conn]*session),
		refusedLog: rateLimited{interval: time.Second},
		budgetLog:  rateLimited{interval: 10 * time.Second},
	}
	frames, buffers := opts.receiveBudget(s.conn.maxBody)
	s.budget = newRecvBudget(frames)
	s.buffers = &readBuffers{budget: newRecvBudget(buffers)}
	if opts.TLS != nil {
		s.tlsConfig = opts.TLS
		if opts.Foreign != nil {
			s.tlsConfig = opts.TLS.Clone()
			s.tlsConfig.NextProtos = append(s.tlsConfig.NextProtos, "h2", "http/1.1")
			s.tlsConfig.GetConfigForClient = recordOffer(s.tlsConfig.GetConfigForClient)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.WithValue(context.Background(), responseLimitKey{}, s.conn.maxBody))
	retire := retireInterval
	if opts.retireInterval != 0 {
		retire = opts.retireInterval
	}
	s.workers = newUnaryWorkers(s.ctx.Done(), retire)
	return s
}

type responseLimitKey struct{}

// ResponseLimit is the largest response body (MaxFrameSize) the server
// running the handler whose context is ctx will send, or 0 when ctx is not
// an rpc handler's. A larger response is refused with
// CodeResourceExhausted once the handler has built it: a handler whose
// answer grows with the data can stop building it there instead.
func ResponseLimit(ctx context.Context) int {
	n, _ := ctx.Value(responseLimitKey{}).(int)
	return n
}

// HandleUnary registers h for unary calls of method m, replacing any
// earlier handler. Safe to call while serving.
func (s *Server) HandleUnary(m Method, h UnaryHandler) {
	s.handles.Lock()
	defer s.handles.Unlock()
	s.unary[m] = h
}

// HandleStream registers h for streams of method m, replacing any earlier
// handler. Safe to call while serving.
func (s *Server) HandleStream(m Method, h StreamHandler) {
	s.handles.Lock()
	defer s.handles.Unlock()
	s.streams[m] = h
}

// Serve accepts connections on l until Close (then it returns
// ErrServerClosed) or until Accept fails for good. It may be called for
// several listeners at once.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// A transient failure (out of file descriptors, say):
				// back off and retry instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.conn.logger.Warn("rpc: accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("rpc: accept on %s: %w", l.Addr(), err)
		}
		backoff = 0
		switch s.track(raw) {
		case trackClosed:
			raw.Close()
			return ErrServerClosed
		case trackFull:
			s.refuseConn(raw)
			continue
		}
		go s.serveConn(raw)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// What track did with a new connection.
const (
	tracked = iota
	trackClosed
	trackFull
)

// track records a new connection, unless the server is closed or already
// has MaxConnections.
func (s *Server) track(raw net.Conn) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return trackClosed
	case len(s.conns) >= s.opts.maxConnections():
		return trackFull
	}
	s.conns[raw] = nil
	s.wg.Add(1)
	return tracked
}

// refuseConn closes a connection over MaxConnections, logging it (at
// most once a second). In plain TCP the client first gets a hello and a
// goaway saying why, so it does not mistake the server for something
// else; over TLS that would cost a handshake, and it is only closed.
func (s *Server) refuseConn(raw net.Conn) {
	limit := s.opts.maxConnections()
	if ok, more := s.refusedLog.allow(); ok {
		s.conn.logger.Warn("rpc: connection limit reached; refusing connection",
			"peer", raw.RemoteAddr().String(), "limit", limit, "also_refused_since_last_log", more)
	}
	if s.opts.TLS == nil {
		b := hello(protocolVersion)
		b = appendFrame(b, &frame{kind: kindGoAway, code: CodeResourceExhausted,
			body: fmt.Appendf(nil, "the server has too many connections (limit %d)", limit)})
		raw.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		raw.Write(b)
	}
	raw.Close()
}

// budgetSpent is called when a connection starts waiting for the receive
// budget; it logs that (at most once every 10 seconds).
func (s *Server) budgetSpent() {
	if ok, more := s.budgetLog.allow(); ok {
		s.conn.logger.Warn("rpc: receive budget spent; connections wait for room to read their frames",
			"budget", s.budget.limit, "also_waited_since_last_log", more)
	}
}

// serveConn runs one connection: handshake, then the session's reader
// loop, until the connection ends.
func (s *Server) serveConn(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	peer := raw.RemoteAddr().String()
	conn, br, offered, err := s.handshake(raw)
	if errors.Is(err, errForeign) {
		s.handOff(raw, conn, br, offered)
		return
	}
	if err != nil {
		s.conn.logger.Warn("rpc: handshake failed; closing connection", "peer", peer, "err", err)
		raw.Close()
		return
	}
	ctx := withPeerCertificate(s.ctx, conn)
	if s.opts.Authenticate != nil {
		if ctx, err = s.authenticate(ctx, raw, conn, br); err != nil {
			s.conn.logger.Warn("rpc: connection not authenticated; closing it", "peer", peer, "err", err)
			raw.Close()
			return
		}
	}
	sess := newSession(ctx, conn, br, s.conn, s, peer)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.conns[raw] = sess
	s.mu.Unlock()
	sess.start()
	sess.readLoop()
	sess.wg.Wait()
}

// handshake runs TLS (if configured) and the hello exchange, bounded by
// the handshake timeout. With TLS on, it first peeks at the client's first
// byte: a plain-text hello gets a plain-text "TLS required" answer, so the
// client can say exactly what is wrong.
func (s *Server) handshake(raw net.Conn) (conn net.Conn, br *bufio.Reader, offered []string, err error) {
	raw.SetDeadline(time.Now().Add(s.opts.handshakeTimeout()))
	conn = raw
	if s.opts.TLS != nil {
		pr := bufio.NewReaderSize(raw, 16)
		first, err := pr.Peek(1)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reading the first byte: %w", err)
		}
		switch first[0] {
		case tlsRecordHandshake:
		case magic[0]:
			raw.Write(hello(versionTLSRequired))
			return nil, nil, nil, errors.New("a plain-TCP client dialed this TLS endpoint")
		default:
			return nil, nil, nil, fmt.Errorf("not a TLS client (first byte %#x)", first[0])
		}
		pc := &peekedConn{Conn: raw, r: pr}
		tc := tls.Server(pc, s.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return nil, nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn, offered = tc, pc.offered
	}
	br = bufio.NewReaderSize(conn, handshakeBufferSize)
	if s.opts.Foreign != nil && s.foreign(br) {
		return conn, br, offered, errForeign
	}
	if _, err := conn.Write(hello(protocolVersion)); err != nil {
		return nil, nil, nil, fmt.Errorf("writing the hello: %w", err)
	}
	if err := readClientHello(br, s.opts.TLS != nil); err != nil {
		return nil, nil, nil, err
	}
	raw.SetDeadline(time.Time{})
	return conn, br, nil, nil
}

// Close stops every listener, tells every connection the server is going
// away and closes it, and cancels every handler's context. It waits for
// the connections' goroutines (not for handlers that ignore their
// context).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make(map[net.Conn]*session, len(s.conns))
	for raw, sess := range s.conns {
		conns[raw] = sess
	}
	s.mu.Unlock()

	// Goaway first, then cancel the handlers: the goaway precedes
	// anything they would send, so the clients' calls fail as Unavailable
	// rather than Canceled.
	why := errorf(CodeUnavailable, "server closed")
	for raw, sess := range conns {
		if sess == nil {
			raw.Close() // still in the handshake
		} else {
			sess.goAway(why)
		}
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// accept starts a call or stream the client opened (reader goroutine).
// Refusals (unknown method, too many streams) answer that call only; an
// error return is a protocol violation.
func (s *Server) accept(sess *session, f *frame) error {
	if sess.active.Load() >= int64(sess.opts.maxStreams) {
		return s.refuse(sess, f, errorf(CodeResourceExhausted, "too many concurrent calls on this connection (limit %d)", sess.opts.maxStreams))
	}
	s.handles.RLock()
	uh, sh := s.unary[f.method], s.streams[f.method]
	s.handles.RUnlock()
	if f.kind == kindRequest {
		if uh == nil {
			return s.refuse(sess, f, errorf(CodeUnimplemented, "no unary handler for method %d", f.method))
		}
		ctx, cancel := callContext(sess.ctx, f)
		call := &serverCall{sess: sess, id: f.stream, cancel: cancel}
		if err := sess.claimPeerID(f.stream, call); err != nil {
			cancel()
			return err
		}
		sess.active.Add(1)
		s.workers.run(s, unaryTask{sess: sess, id: f.stream, call: call, ctx: ctx, h: uh, req: f.body})
		return nil
	}
	if sh == nil {
		return s.refuse(sess, f, errorf(CodeUnimplemented, "no stream handler for method %d", f.method))
	}
	ctx, cancel := callContext(sess.ctx, f)
	st := newStream(sess, f.method, ctx, cancel, false, f.window)
	st.id = f.stream
	if err := sess.claimPeerID(f.stream, st); err != nil {
		cancel()
		return err
	}
	sess.active.Add(1)
	_ = sess.push(&frame{kind: kindWindow, stream: f.stream, window: uint64(st.window)}, false)
	go s.runStream(sess, st, sh)
	return nil
}

// refuse answers a call or stream open with an error without running
// anything (a stream also gets a cancel: the client must stop sending).
func (s *Server) refuse(sess *session, f *frame, why *Error) error {
	if err := sess.claimPeerID(f.stream, nil); err != nil {
		return err
	}
	_ = sess.push(&frame{kind: kindError, stream: f.stream, code: why.Code, body: []byte(why.Message)}, false)
	if f.kind == kindOpen {
		_ = sess.push(&frame{kind: kindCancel, stream: f.stream}, false)
	}
	return nil
}

// serverCall is a running unary handler in the session's table; a cancel
// frame from the client cancels its context.
type serverCall struct {
	sess   *session
	id     uint64
	cancel context.CancelFunc
}

func (c *serverCall) handle(f *frame) error {
	if f.kind != kindCancel {
		return fmt.Errorf("%s frame for stream %d, a unary call", f.kind, f.stream)
	}
	// Taking the entry out means runUnary will send nothing back.
	if c.sess.remove(c.id, c) {
		c.cancel()
	}
	return nil
}

func (c *serverCall) fail(*Error) { c.cancel() }

// runUnary runs a unary handler and sends its result, unless the call was
// canceled meanwhile.
func (s *Server) runUnary(sess *session, id uint64, call *serverCall, ctx context.Context, h UnaryHandler, req []byte) {
	defer sess.active.Add(-1)
	resp, err := s.callUnary(ctx, h, req, id)
	call.cancel()
	if !sess.remove(id, call) {
		return // canceled by the client, or the connection died
	}
	var out *frame
	switch {
	case err != nil:
		code, msg := wireError(err)
		out = &frame{kind: kindError, stream: id, code: code, body: []byte(truncate(msg, sess.opts.maxBody))}
	case len(resp) > sess.opts.maxBody:
		out = &frame{kind: kindError, stream: id, code: CodeResourceExhausted,
			body: fmt.Appendf(nil, "response of %d bytes exceeds the limit of %d", len(resp), sess.opts.maxBody)}
	default:
		out = &frame{kind: kindResponse, stream: id, body: resp}
	}
	_ = sess.push(out, true)
}

// callUnary calls h, turning a panic into CodeInternal.
func (s *Server) callUnary(ctx context.Context, h UnaryHandler, req []byte, id uint64) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.conn.logger.Error("rpc: unary handler panicked", "stream", id, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, errorf(CodeInternal, "handler panicked: %v", p)
		}
	}()
	return h(ctx, req)
}

// runStream runs a stream handler and finishes the stream with its result.
func (s *Server) runStream(sess *session, st *Stream, h StreamHandler) {
	defer sess.active.Add(-1)
	st.finish(s.callStream(h, st))
}

func (s *Server) callStream(h StreamHandler, st *Stream) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.conn.logger.Error("rpc: stream handler panicked", "stream", st.id, "panic", p, "stack", string(debug.Stack()))
			err = errorf(CodeInternal, "handler panicked: %v", p)
		}
	}()
	return h(st.ctx, st)
}
