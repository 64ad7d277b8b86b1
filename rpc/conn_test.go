package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestServerCloseKillsConn(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	pending := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), mWaitCtx, nil)
		pending <- err
	}()
	st, err := c.NewStream(context.Background(), mEchoStream)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the call reach the handler
	srv.Close()
	within(t, 5*time.Second, c.Done(), "Conn.Done")
	if err := within(t, 5*time.Second, pending, "the pending call"); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("pending call = %v, want Unavailable", err)
	}
	if _, err := st.Recv(); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("stream Recv = %v, want Unavailable", err)
	}
	if ErrorCode(c.Err()) != CodeUnavailable || !strings.Contains(c.Err().Error(), "server closed") {
		t.Fatalf("Err = %v", c.Err())
	}
	if _, err := c.Call(context.Background(), mEcho, nil); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("call on a dead conn = %v, want Unavailable", err)
	}
	if _, err := c.NewStream(context.Background(), mEcho); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("NewStream on a dead conn = %v, want Unavailable", err)
	}
}

// rawServer accepts connections, answers the hello, then hands each
// connection to serve (which may go silent, close it, ...).
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l := listen(t)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				var buf [helloSize]byte
				if _, err := io.ReadFull(conn, buf[:]); err != nil {
					conn.Close()
					return
				}
				conn.Write(hello(protocolVersion))
				serve(conn)
			}()
		}
	}()
	return l.Addr().String()
}

func TestPeerVanishes(t *testing.T) {
	accepted := make(chan net.Conn, 1)
	addr := rawServer(t, func(c net.Conn) { accepted <- c })
	c := dialT(t, addr, DialOptions{})
	pending := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), mEcho, nil)
		pending <- err
	}()
	server := within(t, 5*time.Second, accepted, "the connection")
	server.Close()
	within(t, 5*time.Second, c.Done(), "Conn.Done")
	if err := within(t, 5*time.Second, pending, "the pending call"); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("pending call = %v, want Unavailable", err)
	}
}

func TestKeepAliveDetectsSilentPeer(t *testing.T) {
	// The peer completes the handshake, then never sends another byte (it
	// does not answer pings).
	addr := rawServer(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
	})
	c := dialT(t, addr, DialOptions{KeepAliveInterval: 20 * time.Millisecond, KeepAliveTimeout: 150 * time.Millisecond})
	pending := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), mEcho, nil)
		pending <- err
	}()
	within(t, 5*time.Second, c.Done(), "keepalive to close the silent conn")
	if !strings.Contains(c.Err().Error(), "keepalive") {
		t.Fatalf("Err = %v, want a keepalive timeout", c.Err())
	}
	if err := within(t, 5*time.Second, pending, "the pending call"); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("pending call = %v, want Unavailable", err)
	}
}

func TestKeepAliveKeepsIdleConnAlive(t *testing.T) {
	// Both sides ping when idle and answer pings, so an idle connection
	// outlives many keepalive timeouts.
	opts := ServerOptions{KeepAliveInterval: 10 * time.Millisecond, KeepAliveTimeout: 60 * time.Millisecond}
	addr, _, _ := startServer(t, opts)
	c := dialT(t, addr, DialOptions{KeepAliveInterval: 10 * time.Millisecond, KeepAliveTimeout: 60 * time.Millisecond})
	select {
	case <-c.Done():
		t.Fatalf("idle connection died: %v", c.Err())
	case <-time.After(400 * time.Millisecond):
	}
	if _, err := c.Call(context.Background(), mEcho, nil); err != nil {
		t.Fatal(err)
	}
}

// rawDial connects to addr and exchanges hellos by hand.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.Write(hello(protocolVersion))
	var buf [helloSize]byte
	if _, err := io.ReadFull(conn, buf[:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:], hello(protocolVersion)) {
		t.Fatalf("server hello %q", buf)
	}
	return conn
}

// expectClosed fails unless the server closes conn soon.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server did not close the connection")
	}
}

func TestBadPeersLoseOnlyTheirConnection(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{MaxFrameSize: 64 << 10})
	good := dialT(t, addr, DialOptions{MaxFrameSize: 64 << 10})
	call := func() {
		t.Helper()
		if resp, err := good.Call(context.Background(), mEcho, []byte("ok")); err != nil || string(resp) != "ok" {
			t.Fatalf("good client: %q, %v", resp, err)
		}
	}
	call()
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	tests := []struct {
		name      string
		handshake bool
		send      []byte
	}{
		{"garbage instead of a hello", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"wrong protocol version", false, binary.BigEndian.AppendUint16(magic[:], 9)},
		{"oversized frame", true, binary.BigEndian.AppendUint32(nil, 0xfffffff0)},
		{"frame just over the limit", true, binary.BigEndian.AppendUint32(nil, 64<<10+FrameOverhead+1)},
		{"garbage frames", true, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 64)},
		{"unknown kind", true, rawFrame(42, 1, 0, nil)},
		{"message on a stream never opened", true, rawFrame(byte(kindMessage), 5, 0, []byte("x"))},
		{"even stream id", true, rawFrame(byte(kindRequest), 2, uint16(mEcho), uv(0))},
		{"stream id reused", true, append(rawFrame(byte(kindRequest), 7, uint16(mEcho), uv(0)), rawFrame(byte(kindRequest), 7, uint16(mEcho), uv(0))...)},
		{"response sent by a client", true, rawFrame(byte(kindResponse), 1, 0, nil)},
		{"window for a unary call", true, append(rawFrame(byte(kindRequest), 1, uint16(mWaitCtx), uv(0)), rawFrame(byte(kindWindow), 1, 0, uv(10))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conn net.Conn
			if tt.handshake {
				conn = rawDial(t, addr)
			} else {
				var err error
				if conn, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
			}
			conn.Write(tt.send)
			expectClosed(t, conn)
			call()
		})
	}
}

func TestDialErrors(t *testing.T) {
	t.Run("nothing listening", func(t *testing.T) {
		l := listen(t)
		addr := l.Addr().String()
		l.Close()
		_, err := Dial(context.Background(), addr, DialOptions{})
		if ErrorCode(err) != CodeUnavailable {
			t.Fatalf("Dial = %v, want Unavailable", err)
		}
	})
	t.Run("not a cairn endpoint", func(t *testing.T) {
		l := listen(t)
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("SSH-2.0-OpenSSH_9.0\r\n"))
				time.Sleep(time.Second)
				c.Close()
			}
		}()
		_, err := Dial(context.Background(), l.Addr().String(), DialOptions{})
		if ErrorCode(err) != CodeUnavailable || !strings.Contains(err.Error(), "not a cairn rpc endpoint") {
			t.Fatalf("Dial = %v", err)
		}
	})
	t.Run("version not supported", func(t *testing.T) {
		l := listen(t)
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write(hello(7))
				time.Sleep(time.Second)
				c.Close()
			}
		}()
		_, err := Dial(context.Background(), l.Addr().String(), DialOptions{})
		if err == nil || !strings.Contains(err.Error(), "version 7 not supported") {
			t.Fatalf("Dial = %v", err)
		}
	})
	t.Run("silent endpoint times out", func(t *testing.T) {
		l := listen(t)
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				time.Sleep(2 * time.Second)
				c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, l.Addr().String(), DialOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want DeadlineExceeded", err)
		}
	})
}

func TestPingIsAnsweredWithPong(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	conn := rawDial(t, addr)
	conn.Write(appendFrame(nil, &frame{kind: kindPing, ping: 0x1234567890}))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	fr := frameReader{r: conn, maxBody: DefaultMaxFrameSize}
	f, err := fr.read()
	if err != nil {
		t.Fatal(err)
	}
	if f.kind != kindPong || f.ping != 0x1234567890 {
		t.Fatalf("got %+v, want a pong with the ping's payload", f)
	}
}

func TestStreamWindowOverrunClosesConn(t *testing.T) {
	const limit = 64 << 10
	addr, _, _ := startServer(t, ServerOptions{MaxFrameSize: limit, StreamWindow: 128 << 10})
	conn := rawDial(t, addr)
	// mWaitCtx's stream handler never reads; ignore the server's window
	// grant and send far more than it.
	var out []byte
	out = appendFrame(out, &frame{kind: kindOpen, stream: 1, method: mWaitCtx, window: 1 << 20})
	for range 10 {
		out = appendFrame(out, &frame{kind: kindMessage, stream: 1, body: make([]byte, limit)})
	}
	go conn.Write(out)
	expectClosed(t, conn)
}

func TestPeerThatDoesNotReadIsCutOff(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{MaxFrameSize: 64 << 10})
	conn := rawDial(t, addr)
	// Send pings forever and never read the pongs.
	pings := bytes.Repeat(appendFrame(nil, &frame{kind: kindPing, ping: 1}), 4096)
	conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for written := 0; written < 1<<30; written += len(pings) {
		if _, err := conn.Write(pings); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server kept reading pings it could not answer")
			}
			return // the server closed the connection
		}
	}
	t.Fatal("server accepted 1 GiB of pings without our reading a pong")
}

func TestLateFramesForFinishedCallsAreIgnored(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	conn := rawDial(t, addr)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fr := frameReader{r: conn, maxBody: DefaultMaxFrameSize}
	conn.Write(appendFrame(nil, &frame{kind: kindRequest, stream: 1, method: mEcho, body: []byte("a")}))
	if f, err := fr.read(); err != nil || f.kind != kindResponse {
		t.Fatalf("response: %+v, %v", f, err)
	}
	// A cancel that crossed the response, and a window update for a
	// stream the server already finished, are not violations.
	var late []byte
	late = appendFrame(late, &frame{kind: kindCancel, stream: 1})
	late = appendFrame(late, &frame{kind: kindWindow, stream: 1, window: 10})
	late = appendFrame(late, &frame{kind: kindRequest, stream: 3, method: mEcho, body: []byte("b")})
	conn.Write(late)
	if f, err := fr.read(); err != nil || f.kind != kindResponse || string(f.body) != "b" {
		t.Fatalf("second response: %+v, %v", f, err)
	}
}
