package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func countRequest(n int) []byte { return []byte{byte(n >> 8), byte(n)} }

func TestStreamServerSendsMany(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{StreamWindow: 4 << 10})
	c := dialT(t, addr, DialOptions{StreamWindow: 4 << 10})
	n := 20000
	if shortMode() {
		n = 2000
	}
	s, err := c.NewStream(context.Background(), mCount)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(countRequest(n)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		msg, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if got := int(msg[0])<<8 | int(msg[1]); got != i&0xffff {
			t.Fatalf("message %d is %d", i, got)
		}
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv after the last message = %v, want io.EOF", err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("second Recv after the end = %v, want io.EOF", err)
	}
	// The handler has returned, so sending is over too (once the server's
	// cancel arrives).
	deadline := time.Now().Add(5 * time.Second)
	for s.Send([]byte("late")) != io.EOF {
		if time.Now().After(deadline) {
			t.Fatal("Send never reported the finished stream")
		}
		time.Sleep(time.Millisecond)
	}
	within(t, 5*time.Second, s.Context().Done(), "a finished stream's context to end")
}

func TestStreamClientHalfClose(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	s, err := c.NewStream(context.Background(), mEchoStream)
	if err != nil {
		t.Fatal(err)
	}
	const k = 100
	for i := range k {
		if err := s.Send(fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("after")); !errors.Is(err, errSendClosed) {
		t.Fatalf("Send after CloseSend = %v", err)
	}
	for i := range k {
		msg, err := s.Recv()
		if err != nil || string(msg) != fmt.Sprintf("m%d", i) {
			t.Fatalf("Recv %d = %q, %v", i, msg, err)
		}
	}
	// The handler saw io.EOF (the half-close) and returned nil.
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv = %v, want io.EOF", err)
	}
}

func TestStreamHandlerErrorEnd(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	s, err := c.NewStream(context.Background(), mEchoStream)
	if err != nil {
		t.Fatal(err)
	}
	s.Send([]byte("hello"))
	s.Send([]byte("fail"))
	if msg, err := s.Recv(); err != nil || string(msg) != "hello" {
		t.Fatalf("Recv = %q, %v", msg, err)
	}
	_, err = s.Recv()
	if ErrorCode(err) != 150 {
		t.Fatalf("Recv = %v, want the handler's error with code 150", err)
	}
}

func TestStreamUnknownMethod(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	s, err := c.NewStream(context.Background(), 4321)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); ErrorCode(err) != CodeUnimplemented {
		t.Fatalf("Recv = %v, want Unimplemented", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Send([]byte("x")) }()
	if err := within(t, 5*time.Second, done, "Send on a refused stream"); err != io.EOF {
		t.Fatalf("Send = %v, want io.EOF", err)
	}
}

func TestStreamAbortByClient(t *testing.T) {
	addr, _, handlerCtx := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	s, err := c.NewStream(context.Background(), mWaitCtx)
	if err != nil {
		t.Fatal(err)
	}
	recvDone := make(chan error, 1)
	go func() {
		_, err := s.Recv()
		recvDone <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the open reach the server (not required)
	s.Close()
	if err := within(t, 5*time.Second, recvDone, "Recv to return"); ErrorCode(err) != CodeCanceled {
		t.Fatalf("Recv after Close = %v, want Canceled", err)
	}
	if err := within(t, 5*time.Second, handlerCtx, "the handler's ctx"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx = %v, want Canceled", err)
	}
	if err := s.Send(nil); ErrorCode(err) != CodeCanceled {
		t.Fatalf("Send after Close = %v", err)
	}
	s.Close() // idempotent
}

func TestStreamAbortByHandler(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{})
	srv.HandleStream(77, func(ctx context.Context, s *Stream) error {
		s.Close()
		if ctx.Err() == nil {
			return errors.New("handler context not canceled by Close")
		}
		return nil
	})
	c := dialT(t, addr, DialOptions{})
	s, err := c.NewStream(context.Background(), 77)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); ErrorCode(err) != CodeCanceled {
		t.Fatalf("Recv = %v, want Canceled (reset by peer)", err)
	}
}

func TestStreamContextEnds(t *testing.T) {
	addr, _, handlerCtx := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s, err := c.NewStream(ctx, mWaitCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv = %v, want DeadlineExceeded", err)
	}
	if err := within(t, 5*time.Second, handlerCtx, "the handler's ctx"); err == nil {
		t.Fatal("handler ctx ended without error")
	}
}

// TestStreamFlowControl checks, in both directions, that a receiver that
// does not read stops the sender after about one window, and that reading
// lets it go on.
func TestStreamFlowControl(t *testing.T) {
	const window = 16 << 10
	const msgSize = 1 << 10
	const total = 200 // messages; 200 KiB, far beyond the window
	maxInFlight := (window + messageCost(msgSize)) / messageCost(msgSize)

	t.Run("client sends, server does not read", func(t *testing.T) {
		addr, srv, _ := startServer(t, ServerOptions{StreamWindow: window})
		release := make(chan struct{})
		received := make(chan int, 1)
		srv.HandleStream(60, func(ctx context.Context, s *Stream) error {
			<-release
			n := 0
			for {
				if _, err := s.Recv(); err != nil {
					received <- n
					return nil
				}
				n++
			}
		})
		c := dialT(t, addr, DialOptions{})
		s, err := c.NewStream(context.Background(), 60)
		if err != nil {
			t.Fatal(err)
		}
		var sent atomic.Int64
		sendDone := make(chan error, 1)
		go func() {
			for range total {
				if err := s.Send(make([]byte, msgSize)); err != nil {
					sendDone <- err
					return
				}
				sent.Add(1)
			}
			sendDone <- s.CloseSend()
		}()
		stalled := waitStalled(t, &sent)
		if stalled >= total || stalled > int64(maxInFlight) {
			t.Fatalf("sender got %d messages out with no reader; the window allows %d", stalled, maxInFlight)
		}
		close(release)
		if err := within(t, 10*time.Second, sendDone, "the sender to finish"); err != nil {
			t.Fatal(err)
		}
		if n := within(t, 10*time.Second, received, "the handler to read all"); n != total {
			t.Fatalf("handler received %d messages, want %d", n, total)
		}
	})

	t.Run("server sends, client does not read", func(t *testing.T) {
		addr, srv, _ := startServer(t, ServerOptions{})
		var sent atomic.Int64
		srv.HandleStream(61, func(ctx context.Context, s *Stream) error {
			for range total {
				if err := s.Send(make([]byte, msgSize)); err != nil {
					return err
				}
				sent.Add(1)
			}
			return nil
		})
		c := dialT(t, addr, DialOptions{StreamWindow: window})
		s, err := c.NewStream(context.Background(), 61)
		if err != nil {
			t.Fatal(err)
		}
		stalled := waitStalled(t, &sent)
		if stalled >= total || stalled > int64(maxInFlight) {
			t.Fatalf("handler got %d messages out with no reader; the window allows %d", stalled, maxInFlight)
		}
		for i := range total {
			if msg, err := s.Recv(); err != nil || len(msg) != msgSize {
				t.Fatalf("Recv %d: %d bytes, %v", i, len(msg), err)
			}
		}
		if _, err := s.Recv(); err != io.EOF {
			t.Fatalf("Recv = %v, want io.EOF", err)
		}
	})
}

// waitStalled waits until *sent is positive and has not moved for a while,
// and returns it.
func waitStalled(t *testing.T, sent *atomic.Int64) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last, stable := int64(-1), 0
	for stable < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("sender never stalled (sent %d)", sent.Load())
		}
		time.Sleep(10 * time.Millisecond)
		if n := sent.Load(); n == last && n > 0 {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}

func TestStreamLargeMessages(t *testing.T) {
	// Messages larger than the window still flow (one at a time).
	addr, _, _ := startServer(t, ServerOptions{StreamWindow: 1 << 10, MaxFrameSize: 256 << 10})
	c := dialT(t, addr, DialOptions{StreamWindow: 1 << 10, MaxFrameSize: 256 << 10})
	s, err := c.NewStream(context.Background(), mEchoStream)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		msg := bytes.Repeat([]byte{byte(i)}, 200<<10)
		if err := s.Send(msg); err != nil {
			t.Fatal(err)
		}
		got, err := s.Recv()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: %d bytes, %v", i, len(got), err)
		}
	}
	if err := s.Send(make([]byte, 256<<10+1)); ErrorCode(err) != CodeResourceExhausted {
		t.Fatalf("Send over the limit = %v", err)
	}
	s.CloseSend()
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv = %v", err)
	}
}

// TestStreamDeliversEverythingInOrder is a property: whatever the windows
// and message sizes, an echo stream returns every message, in order, and
// then io.EOF.
func TestStreamDeliversEverythingInOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		srvWindow := rapid.IntRange(1, 64<<10).Draw(rt, "serverWindow")
		cliWindow := rapid.IntRange(1, 64<<10).Draw(rt, "clientWindow")
		sizes := rapid.SliceOfN(rapid.IntRange(0, 32<<10), 0, 40).Draw(rt, "sizes")
		addr, _, _ := startServer(t, ServerOptions{StreamWindow: srvWindow})
		c := dialT(t, addr, DialOptions{StreamWindow: cliWindow})
		s, err := c.NewStream(context.Background(), mEchoStream)
		if err != nil {
			rt.Fatal(err)
		}
		sendErr := make(chan error, 1)
		go func() {
			for i, n := range sizes {
				if err := s.Send(bytes.Repeat([]byte{byte(i)}, n)); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- s.CloseSend()
		}()
		for i, n := range sizes {
			msg, err := s.Recv()
			if err != nil {
				rt.Fatalf("Recv %d: %v", i, err)
			}
			if !bytes.Equal(msg, bytes.Repeat([]byte{byte(i)}, n)) {
				rt.Fatalf("message %d: %d bytes, want %d bytes of %d", i, len(msg), n, i)
			}
		}
		if _, err := s.Recv(); err != io.EOF {
			rt.Fatalf("Recv after the last = %v, want io.EOF", err)
		}
		if err := <-sendErr; err != nil {
			rt.Fatal(err)
		}
	})
}
