package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// Conn is a client connection to one server. Calls and streams are
// multiplexed on it; it is safe for concurrent use.
type Conn struct {
	s    *session
	addr string
}

// Dial connects to addr (host:port), runs TLS if opts.TLS is set, and
// exchanges hellos. ctx and opts.DialTimeout bound the whole of it; ctx
// does not outlive Dial (the connection lives until Close or death).
// Failures are *Error with CodeUnavailable, saying what went wrong — in
// particular a TLS/plain mismatch between the two sides — or the ctx
// error if ctx ended.
func Dial(ctx context.Context, addr string, opts DialOptions) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, withDefault(opts.DialTimeout, DefaultDialTimeout))
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		if cerr := ctxEnded(ctx); cerr != nil {
			return nil, fmt.Errorf("rpc: dial %s: %w", addr, cerr)
		}
		return nil, unavailable(err, "dial %s", addr)
	}
	conn, br, err := clientHandshake(dctx, raw, addr, opts.TLS)
	if err != nil {
		raw.Close()
		if cerr := ctxEnded(ctx); cerr != nil {
			return nil, fmt.Errorf("rpc: dial %s: %w", addr, cerr)
		}
		return nil, err
	}
	if opts.Authenticate != nil {
		if err := authenticateClient(dctx, opts.Authenticate, raw, conn, br, addr); err != nil {
			raw.Close()
			if cerr := ctxEnded(ctx); cerr != nil {
				return nil, fmt.Errorf("rpc: dial %s: %w", addr, cerr)
			}
			return nil, err
		}
	}
	s := newSession(context.Background(), conn, br, opts.conn(), nil, addr)
	s.start()
	go s.readLoop()
	return &Conn{s: s, addr: addr}, nil
}

// ctxEnded is ctx.Err(), also counting a deadline that has passed but
// whose timer has not fired yet (the connection's own deadline, set from
// it, may fire first).
func ctxEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// clientHandshake runs TLS (if tlsConf is set) and the hello exchange on
// raw, bounded by ctx.
func clientHandshake(ctx context.Context, raw net.Conn, addr string, tlsConf *tls.Config) (net.Conn, *bufio.Reader, error) {
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	conn, br, err := clientHello(ctx, raw, addr, tlsConf)
	if !stop() && err == nil {
		// ctx ended just as we finished; the deadline may be set already.
		err = fmt.Errorf("rpc: dial %s: %w", addr, ctx.Err())
	}
	if err != nil {
		return nil, nil, err
	}
	raw.SetDeadline(time.Time{})
	return conn, br, nil
}

func clientHello(ctx context.Context, raw net.Conn, addr string, tlsConf *tls.Config) (net.Conn, *bufio.Reader, error) {
	conn := raw
	if tlsConf != nil {
		if tlsConf.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, nil, errorf(CodeInvalidArgument, "address %q: %v", addr, err)
			}
			tlsConf = tlsConf.Clone()
			tlsConf.ServerName = host
		}
		tc := tls.Client(raw, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) {
				return nil, nil, unavailable(err, "endpoint %s does not speak TLS (it answered in plain text); connect without TLS (http://, no --cacert)", addr)
			}
			return nil, nil, unavailable(err, "TLS handshake with %s", addr)
		}
		conn = tc
	}
	if _, err := conn.Write(hello(protocolVersion)); err != nil {
		return nil, nil, unavailable(err, "handshake with %s", addr)
	}
	br := bufio.NewReaderSize(conn, handshakeBufferSize)
	if err := readServerHello(br, addr, tlsConf != nil); err != nil {
		return nil, nil, err
	}
	return conn, br, nil
}

// Addr returns the address the connection was dialed to.
func (c *Conn) Addr() string { return c.addr }

// Done is closed when the connection is dead: closed, lost, or silent
// past the keepalive timeout.
func (c *Conn) Done() <-chan struct{} { return c.s.done }

// Err says why the connection died (an *Error with CodeUnavailable), or
// returns nil while it is alive.
func (c *Conn) Err() error {
	if err := c.s.err(); err != nil {
		return err
	}
	return nil
}

// Close closes the connection; pending calls and streams fail with
// CodeUnavailable.
func (c *Conn) Close() error {
	c.s.close(errorf(CodeUnavailable, "connection to %s closed by Close", c.addr))
	c.s.wg.Wait()
	return nil
}

// clientCall is a pending unary call in the session's table.
type clientCall struct {
	s    *session
	id   uint64
	done chan callResult // buffered: the completer never blocks
}

type callResult struct {
	body []byte
	err  error
}

func (c *clientCall) handle(f *frame) error {
	var r callResult
	switch f.kind {
	case kindResponse:
		r.body = f.body
	case kindError:
		r.err = &Error{Code: f.code, Message: string(f.body)}
	case kindWindow:
		return fmt.Errorf("window frame for stream %d, a unary call", f.stream)
	default:
		return fmt.Errorf("%s frame for stream %d, a unary call", f.kind, f.stream)
	}
	if c.s.remove(c.id, c) {
		c.done <- r
	}
	return nil
}

func (c *clientCall) fail(err *Error) { c.done <- callResult{err: err} }

// markUnsent flags a transport error as happening before the request was
// queued.
func markUnsent(err error) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.unsent = true
		return &c
	}
	return err
}

// Call makes a unary call. ctx's deadline travels to the server (the
// handler's context gets it); if ctx ends first, a cancel is sent and
// ctx's error returned. Remote errors are *Error; a dead connection gives
// CodeUnavailable; a request over MaxFrameSize gives CodeResourceExhausted
// without sending anything. The response belongs to the caller.
func (c *Conn) Call(ctx context.Context, m Method, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	token := Token(ctx)
	if len(token) > MaxTokenSize {
		return nil, errorf(CodeInvalidArgument, "token of %d bytes exceeds the limit of %d", len(token), MaxTokenSize)
	}
	if len(req) > c.s.opts.maxBody {
		return nil, errorf(CodeResourceExhausted, "request of %d bytes exceeds the limit of %d", len(req), c.s.opts.maxBody)
	}
	timeout, err := remaining(ctx)
	if err != nil {
		return nil, err
	}
	call := &clientCall{s: c.s, done: make(chan callResult, 1)}
	if err := c.s.pushOpen(call, &call.id, &frame{kind: kindRequest, method: m, timeout: timeout, token: token, body: req}); err != nil {
		return nil, markUnsent(err)
	}
	id := call.id
	select {
	case r := <-call.done:
		return r.body, r.err
	case <-ctx.Done():
		if c.s.remove(id, call) {
			_ = c.s.push(&frame{kind: kindCancel, stream: id}, false)
		}
		return nil, ctx.Err()
	}
}

// remaining is the time left before ctx's deadline (0 if none), or
// DeadlineExceeded if it has passed.
func remaining(ctx context.Context) (time.Duration, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return 0, context.DeadlineExceeded
	}
	return d, nil
}

// NewStream opens a stream for method m. ctx governs the whole stream: its
// deadline travels to the handler, and when it ends the stream is aborted
// (a cancel is sent; Send and Recv return ctx's error). An unknown method
// or a refusal shows up as the *Error from the first Recv.
func (c *Conn) NewStream(ctx context.Context, m Method) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout, err := remaining(ctx)
	if err != nil {
		return nil, err
	}
	token := Token(ctx)
	if len(token) > MaxTokenSize {
		return nil, errorf(CodeInvalidArgument, "token of %d bytes exceeds the limit of %d", len(token), MaxTokenSize)
	}
	sctx, cancel := context.WithCancel(ctx)
	st := newStream(c.s, m, sctx, cancel, true, 0)
	if err := c.s.pushOpen(st, &st.id, &frame{kind: kindOpen, method: m, timeout: timeout, token: token, window: uint64(st.window)}); err != nil {
		cancel()
		return nil, err
	}
	context.AfterFunc(sctx, func() { st.abort(sctx.Err(), true) })
	return st, nil
}
