package rpc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A frame the server reads after its connection died (a write failed: the
// client went away with calls in flight, its frames still buffered) is
// dropped with the connection; it is no protocol violation, and nothing
// says it was. Before, a member logged "protocol violation" for every
// client that disconnected under load.
func TestFrameAfterAFailedWriteIsNoViolation(t *testing.T) {
	logs := &warnings{}
	srv := NewServer(ServerOptions{Logger: slog.New(logs)})
	srv.HandleUnary(mEcho, func(ctx context.Context, req []byte) ([]byte, error) { return req, nil })
	first := appendFrame(hello(protocolVersion), &frame{kind: kindRequest, stream: 1, method: mEcho, body: []byte("a")})
	late := appendFrame(nil, &frame{kind: kindRequest, stream: 3, method: mEcho, body: []byte("b")})
	conn := newDyingConn(first, late)
	go srv.Serve(newOneConnListener(conn))
	defer srv.Close()

	select {
	case <-conn.lateRead:
	case <-time.After(10 * time.Second):
		t.Fatal("the server never read the frame that follows the failed write")
	}
	time.Sleep(100 * time.Millisecond) // let the reader dispatch it
	if w := logs.containing("protocol violation"); len(w) > 0 {
		t.Fatalf("a frame read after the connection died was logged as a protocol violation: %q", w)
	}
}

// dyingConn is a client connection whose first read brings the hello and
// a call, whose writes fail after the hello (the client is gone), and
// whose second read brings one more frame only once the server has closed
// it: a frame that was already buffered when the connection died.
type dyingConn struct {
	reads    [][]byte
	closed   chan struct{}
	lateRead chan struct{}
	mu       sync.Mutex
	writes   int
	once     sync.Once
}

func newDyingConn(first, late []byte) *dyingConn {
	return &dyingConn{reads: [][]byte{first, late}, closed: make(chan struct{}), lateRead: make(chan struct{})}
}

func (c *dyingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.reads) == 0 {
		c.mu.Unlock()
		<-c.closed
		return 0, io.EOF
	}
	next := c.reads[0]
	late := len(c.reads) == 1
	c.mu.Unlock()
	if late {
		<-c.closed
	}
	n := copy(p, next)
	c.mu.Lock()
	if n == len(next) {
		c.reads = c.reads[1:]
	} else {
		c.reads[0] = next[n:]
	}
	c.mu.Unlock()
	if late {
		defer close(c.lateRead)
	}
	return n, nil
}

func (c *dyingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes++; c.writes == 1 {
		return len(p), nil // the hello
	}
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
}

func (c *dyingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *dyingConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *dyingConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *dyingConn) SetDeadline(time.Time) error      { return nil }
func (c *dyingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *dyingConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener hands out one connection, then waits until closed.
type oneConnListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newOneConnListener(conn net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.conns <- conn
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// warnings is a slog handler that keeps the messages of warnings.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) containing(s string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.msgs {
		if strings.Contains(m, s) {
			out = append(out, m)
		}
	}
	return out
}
