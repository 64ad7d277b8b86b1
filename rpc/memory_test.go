package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// frameHeader is the start of a request frame on stream id that declares
// a payload of n bytes, without the payload.
func frameHeader(id uint64, n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(headerSize+n))
	b = append(b, byte(kindRequest))
	b = binary.BigEndian.AppendUint64(b, id)
	return binary.BigEndian.AppendUint16(b, uint16(mEcho))
}

// memAfterGC is the live heap and the goroutine stacks, after a
// collection.
func memAfterGC() (heap, stacks uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// Connections that declare a frame of 2 MiB and send nothing more hold
// next to nothing: the payload is allocated as its bytes arrive, and an
// idle connection reads through a small buffer. 3,000 of them (300 with
// CAIRN_SHORT) grow the heap by well under 64 MiB; before, each held the
// whole declared frame and a 64 KiB read buffer.
func TestIdleConnectionsDeclaringLargeFramesHoldLittle(t *testing.T) {
	n := 3000
	if shortMode() {
		n = 300
	}
	addr, srv, _ := startServer(t, ServerOptions{})
	before, stacksBefore := memAfterGC()
	header := append(hello(protocolVersion), frameHeader(1, DefaultMaxFrameSize)...)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := c.Write(header); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until every connection has a session and has had time to read
	// its frame's header.
	deadline := time.Now().Add(20 * time.Second)
	for sessions(srv) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of %d after 20s", sessions(srv), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	heap, stacks := memAfterGC()
	growth := int64(heap) - int64(before)
	stackGrowth := int64(stacks) - int64(stacksBefore)
	t.Logf("%d idle connections, each declaring a frame of %d bytes: heap grew by %.1f MiB (%d bytes a connection), goroutine stacks by %.1f MiB (%d bytes a connection)",
		n, DefaultMaxFrameSize, float64(growth)/(1<<20), growth/int64(n), float64(stackGrowth)/(1<<20), stackGrowth/int64(n))
	if limit := int64(64<<20) * int64(n) / 3000; growth > limit {
		t.Fatalf("heap grew by %d bytes, more than %d", growth, limit)
	}
	if used := srv.budget.inUse(); used != 0 {
		t.Fatalf("idle connections hold %d bytes of the receive budget", used)
	}
}

func sessions(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	n := 0
	for _, s := range srv.conns {
		if s != nil {
			n++
		}
	}
	return n
}

// readPayload holds no more than about twice what has arrived of a
// payload (or the first chunk), whatever its declared length, so that in
// all it allocates no more than about four times that.
func TestFramePayloadIsAllocatedAsItArrives(t *testing.T) {
	for _, arrived := range []int{0, 100, 600, 5000, 100_000, 1 << 20} {
		wire := append(frameHeader(1, DefaultMaxFrameSize), make([]byte, arrived)...)
		fr := frameReader{r: bytes.NewReader(wire), maxBody: DefaultMaxFrameSize}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := fr.read()
		runtime.ReadMemStats(&after)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d bytes of %d: %v, want ErrUnexpectedEOF", arrived, DefaultMaxFrameSize, err)
		}
		used := after.TotalAlloc - before.TotalAlloc
		if most := uint64(4*arrived + 2*firstChunk + 1024); used > most {
			t.Errorf("%d bytes of a declared %d arrived: allocated %d bytes, more than %d", arrived, DefaultMaxFrameSize, used, most)
		}
	}
}

// chunkedReader returns its bytes in the chunk sizes it is given, in turn.
type chunkedReader struct {
	data   []byte
	chunks []int
	i      int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), r.chunks[r.i%len(r.chunks)])
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// Frames of every size come out whole whatever pieces their bytes arrive
// in, through the connection reader (which switches between its small
// and large buffers as the pieces grow and shrink) and the growing
// payload.
func TestFramesSurviveAnyArrivalPattern(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var wire []byte
		var bodies [][]byte
		for i := range rapid.IntRange(1, 6).Draw(t, "frames") {
			size := rapid.OneOf(rapid.IntRange(0, 700), rapid.IntRange(0, 70_000), rapid.IntRange(0, 300_000)).Draw(t, "size")
			body := make([]byte, size)
			for j := range body {
				body[j] = byte(j*7 + i)
			}
			bodies = append(bodies, body)
			wire = appendFrame(wire, &frame{kind: kindResponse, stream: uint64(2*i + 1), body: body})
		}
		chunks := rapid.SliceOfN(rapid.OneOf(rapid.IntRange(1, 20), rapid.IntRange(1, 10_000), rapid.IntRange(60_000, 200_000)), 1, 8).Draw(t, "chunks")
		budget := newRecvBudget(1 << 30)
		rd := newConnReader(&chunkedReader{data: wire, chunks: chunks}, &readBuffers{budget: budget})
		fr := frameReader{r: rd, maxBody: DefaultMaxFrameSize, budget: budget}
		for i, want := range bodies {
			f, err := fr.read()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !bytes.Equal(f.body, want) {
				t.Fatalf("frame %d: body of %d bytes differs from the %d sent", i, len(f.body), len(want))
			}
		}
		if _, err := fr.read(); err != io.EOF {
			t.Fatalf("after the last frame: %v, want EOF", err)
		}
		rd.release()
		if used := budget.inUse(); used != 0 {
			t.Fatalf("%d bytes of the budget still taken", used)
		}
	})
}

// A frame that finds the receive budget spent waits, unread, until a
// frame holding it completes; small frames pass meanwhile; and the server
// says, once, that connections wait.
func TestReceiveBudgetHoldsBackLargeFrames(t *testing.T) {
	const maxBody = 64 << 10
	var logged syncBuffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	// The frames' share of the budget is raised to one frame,
	// MaxFrameSize + FrameOverhead.
	addr, srv, _ := startServer(t, ServerOptions{MaxFrameSize: maxBody, ReceiveBudget: 1, Logger: logger})
	// A sends the first part of a frame of maxBody bytes and stops: it
	// holds the budget for the rest.
	a := rawDial(t, addr)
	first := append(frameHeader(1, maxBody), make([]byte, 2*firstChunk)...)
	if _, err := a.Write(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.budget.inUse() > 0 }, "A to take the budget")
	// B's frame of the same size must wait for A's.
	b := dialT(t, addr, DialOptions{MaxFrameSize: maxBody})
	bDone := make(chan error, 1)
	go func() {
		_, err := b.Call(context.Background(), mEcho, make([]byte, maxBody-100))
		bDone <- err
	}()
	select {
	case err := <-bDone:
		t.Fatalf("B's large frame went through while A held the budget: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// Small frames do not need the budget.
	c := dialT(t, addr, DialOptions{})
	if _, err := c.Call(context.Background(), mEcho, []byte("small")); err != nil {
		t.Fatalf("a small call while the budget is spent: %v", err)
	}
	// A finishes its frame (and gets its answer): B goes through.
	if _, err := a.Write(make([]byte, maxBody-len(first)+len(frameHeader(1, 0)))); err != nil {
		t.Fatal(err)
	}
	if err := within(t, 5*time.Second, bDone, "B's call"); err != nil {
		t.Fatalf("B's call: %v", err)
	}
	if !strings.Contains(logged.String(), "receive budget spent") {
		t.Fatalf("no log line about the spent budget; log:\n%s", logged.String())
	}
	waitFor(t, func() bool { return srv.budget.inUse() == 0 }, "the budget to be given back")
	// Idle again, the connections have given back their large buffers.
	waitFor(t, func() bool { return srv.buffers.budget.inUse() == 0 }, "the large read buffers to be given back")
}

// A connection whose peer falls silent after the handshake — before a
// frame, inside a frame's header, or inside its payload — is closed after
// the keepalive timeout, and a frame it left unfinished gives back the
// budget it held.
func TestSilentConnectionIsClosed(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{KeepAliveInterval: 50 * time.Millisecond, KeepAliveTimeout: 200 * time.Millisecond})
	for _, tc := range []struct {
		name string
		sent []byte
	}{
		{"nothing", nil},
		{"part of a header", frameHeader(1, 1<<20)[:6]},
		{"part of a payload", append(frameHeader(1, 1<<20), make([]byte, 10_000)...)},
	} {
		conn := rawDial(t, addr)
		conn.Write(tc.sent)
		start := time.Now()
		expectClosed(t, conn)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("after %s: closed after %v", tc.name, took)
		}
		waitFor(t, func() bool { return srv.budget.inUse() == 0 }, "the budget to be given back")
	}
}

// A connection that never finishes its handshake is closed after the
// handshake timeout: one that sends nothing, and one that stops in the
// middle of its hello.
func TestHandshakeTimesOut(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{HandshakeTimeout: 200 * time.Millisecond})
	for _, sent := range [][]byte{nil, hello(protocolVersion)[:5]} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write(sent)
		start := time.Now()
		expectClosed(t, conn)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("after %q: closed after %v", sent, took)
		}
	}
}

// Past MaxConnections a connection is refused: the client hears why, the
// server logs it, and once a connection ends a new one is served.
func TestMaxConnectionsRefusesTheExtraConnection(t *testing.T) {
	var logged syncBuffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	addr, srv, _ := startServer(t, ServerOptions{MaxConnections: 2, Logger: logger})
	first := dialT(t, addr, DialOptions{})
	dialT(t, addr, DialOptions{})
	extra, err := Dial(context.Background(), addr, DialOptions{})
	if err == nil {
		within(t, 5*time.Second, extra.Done(), "the refused connection to end")
		err = extra.Err()
		extra.Close()
	}
	if ErrorCode(err) != CodeUnavailable || !strings.Contains(err.Error(), "too many connections (limit 2)") {
		t.Fatalf("the third connection: %v, want Unavailable naming the limit", err)
	}
	if !strings.Contains(logged.String(), "connection limit reached") || !strings.Contains(logged.String(), "limit=2") {
		t.Fatalf("no log line about the refusal; log:\n%s", logged.String())
	}
	first.Close()
	waitFor(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) < 2
	}, "the first connection to end")
	again := dialT(t, addr, DialOptions{})
	if _, err := again.Call(context.Background(), mEcho, nil); err != nil {
		t.Fatalf("a connection after one ended: %v", err)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A connection keeps the write buffers of a large response only while it
// is busy: at the first keepalive tick after it, they stay (it wrote
// since the last), at the next, without writing, they go. (The test makes
// the ticks itself.)
func TestIdleConnectionDropsLargeWriteBuffers(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{KeepAliveInterval: time.Hour, KeepAliveTimeout: time.Hour})
	c := dialT(t, addr, DialOptions{})
	resp, err := c.Call(context.Background(), mBig, []byte("1000000"))
	if err != nil || len(resp) != 1_000_000 {
		t.Fatalf("large response: %d bytes, %v", len(resp), err)
	}
	var sess *session
	srv.mu.Lock()
	for _, s := range srv.conns {
		sess = s
	}
	srv.mu.Unlock()
	held := func() int {
		sess.out.mu.Lock()
		defer sess.out.mu.Unlock()
		return cap(sess.out.buf) + cap(sess.out.spare)
	}
	// The writer keeps the batch it wrote once its Write returns, which
	// may be after the client has the response.
	waitFor(t, func() bool { return held() >= 1_000_000 }, "the writer to keep the response's buffer")
	sess.out.trimIdle()
	if n := held(); n < 1_000_000 {
		t.Fatalf("at the tick right after the response the connection holds %d bytes of write buffers, want the large one kept", n)
	}
	sess.out.trimIdle()
	if n := held(); n > 2*idleBufferMax {
		t.Fatalf("a tick later, without writing, the connection still holds %d bytes of write buffers", n)
	}
}

// A handler learns the largest response its server will send.
func TestResponseLimitReachesHandlers(t *testing.T) {
	const limit = 123_456
	srv := NewServer(ServerOptions{MaxFrameSize: limit})
	got := make(chan int, 1)
	srv.HandleUnary(mEcho, func(ctx context.Context, req []byte) ([]byte, error) {
		got <- ResponseLimit(ctx)
		return nil, nil
	})
	l := listen(t)
	go srv.Serve(l)
	defer srv.Close()
	c := dialT(t, l.Addr().String(), DialOptions{})
	if _, err := c.Call(context.Background(), mEcho, nil); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != limit {
		t.Fatalf("ResponseLimit in a handler = %d, want %d", n, limit)
	}
	if n := ResponseLimit(context.Background()); n != 0 {
		t.Fatalf("ResponseLimit outside a handler = %d, want 0", n)
	}
}
