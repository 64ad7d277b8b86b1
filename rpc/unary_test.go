package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestUnaryEchoManyConcurrentCallers(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	callers, calls := 64, 200
	if shortMode() {
		callers, calls = 16, 50
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				req := fmt.Appendf(nil, "caller %d call %d %s", g, i, bytes.Repeat([]byte{'x'}, i))
				resp, err := c.Call(context.Background(), mEcho, req)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(resp, req) {
					errs <- fmt.Errorf("echo of %q came back as %q", req, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestUnaryEmptyAndMaxSizeBodies(t *testing.T) {
	const limit = 64 << 10
	addr, _, _ := startServer(t, ServerOptions{MaxFrameSize: limit})
	c := dialT(t, addr, DialOptions{MaxFrameSize: limit})
	for _, n := range []int{0, 1, limit} {
		req := bytes.Repeat([]byte{7}, n)
		resp, err := c.Call(context.Background(), mEcho, req)
		if err != nil || !bytes.Equal(resp, req) {
			t.Errorf("echo of %d bytes: %d bytes, %v", n, len(resp), err)
		}
	}
	_, err := c.Call(context.Background(), mEcho, make([]byte, limit+1))
	if ErrorCode(err) != CodeResourceExhausted {
		t.Errorf("request over the limit: %v, want ResourceExhausted", err)
	}
	if c.Err() != nil {
		t.Errorf("connection died: %v", c.Err())
	}
}

func TestUnaryLargeResponseIsResourceExhausted(t *testing.T) {
	const limit = 64 << 10
	addr, _, _ := startServer(t, ServerOptions{MaxFrameSize: limit})
	c := dialT(t, addr, DialOptions{MaxFrameSize: limit})
	resp, err := c.Call(context.Background(), mBig, []byte(strconv.Itoa(limit)))
	if err != nil || len(resp) != limit {
		t.Fatalf("response at the limit: %d bytes, %v", len(resp), err)
	}
	_, err = c.Call(context.Background(), mBig, []byte(strconv.Itoa(limit+1)))
	if ErrorCode(err) != CodeResourceExhausted {
		t.Fatalf("response over the limit: %v, want ResourceExhausted", err)
	}
	if _, err := c.Call(context.Background(), mEcho, []byte("still alive")); err != nil {
		t.Fatalf("connection unusable after the refused response: %v", err)
	}
}

func TestDeadlineReachesHandler(t *testing.T) {
	addr, _, handlerCtx := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, mWaitCtx, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, want DeadlineExceeded", err)
	}
	// The handler saw its context end: by the deadline that travelled, or
	// by the cancel the client sent when its own deadline passed.
	if got := within(t, 5*time.Second, handlerCtx, "the handler's ctx to end"); got == nil {
		t.Fatal("handler context ended without an error")
	}
}

func TestDeadlineTravelsToServer(t *testing.T) {
	// The handler's context has a deadline close to the caller's.
	addr, srv, _ := startServer(t, ServerOptions{})
	got := make(chan time.Duration, 1)
	srv.HandleUnary(99, func(ctx context.Context, req []byte) ([]byte, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			got <- -1
		} else {
			got <- time.Until(dl)
		}
		return nil, nil
	})
	c := dialT(t, addr, DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := c.Call(ctx, 99, nil); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d < 59*time.Minute || d > time.Hour {
		t.Fatalf("handler's deadline is %v away, want about an hour", d)
	}
	if _, err := c.Call(context.Background(), 99, nil); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d != -1 {
		t.Fatalf("handler has a deadline %v away; the caller set none", d)
	}
}

func TestCancelReachesHandler(t *testing.T) {
	addr, _, handlerCtx := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, mWaitCtx, nil)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the call reach the handler (not required for correctness)
	cancel()
	if err := within(t, 5*time.Second, done, "Call to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want context.Canceled", err)
	}
	if got := within(t, 5*time.Second, handlerCtx, "the handler's ctx"); !errors.Is(got, context.Canceled) {
		t.Fatalf("handler ctx ended with %v, want Canceled", got)
	}
	// Already-canceled contexts fail before sending.
	if _, err := c.Call(ctx, mEcho, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with a canceled ctx = %v", err)
	}
}

func TestUnknownMethod(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	_, err := c.Call(context.Background(), 777, []byte("x"))
	if ErrorCode(err) != CodeUnimplemented {
		t.Fatalf("Call = %v, want Unimplemented", err)
	}
	// A stream method called as unary is unknown too.
	if _, err := c.Call(context.Background(), mCount, nil); ErrorCode(err) != CodeUnimplemented {
		t.Fatalf("Call of a stream method = %v, want Unimplemented", err)
	}
	if _, err := c.Call(context.Background(), mEcho, []byte("x")); err != nil {
		t.Fatalf("connection hurt by the unknown method: %v", err)
	}
}

func TestHandlerErrorCodesRoundTrip(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	tests := []struct {
		req  string
		code Code
		msg  string
		is   error
	}{
		{"plain", CodeUnknown, "plain failure", nil},
		{"app", 142, "app error", nil},
		{"wrapped-app", 200, "context\napp error", nil},
		{"canceled", CodeCanceled, "context canceled", context.Canceled},
		{"deadline", CodeDeadlineExceeded, "context deadline exceeded", context.DeadlineExceeded},
		{"forward", CodeInvalidArgument, "bad key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.req, func(t *testing.T) {
			_, err := c.Call(context.Background(), mFail, []byte(tt.req))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if e.Code != tt.code || e.Message != tt.msg {
				t.Fatalf("got code %v message %q, want %v %q", e.Code, e.Message, tt.code, tt.msg)
			}
			if !errors.Is(err, &Error{Code: tt.code}) {
				t.Fatal("errors.Is does not match an *Error of the same code")
			}
			if errors.Is(err, &Error{Code: tt.code + 1}) {
				t.Fatal("errors.Is matches another code")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("errors.Is(err, %v) is false", tt.is)
			}
		})
	}
}

func TestHandlerPanicIsInternal(t *testing.T) {
	addr, _, _ := startServer(t, ServerOptions{})
	c := dialT(t, addr, DialOptions{})
	if _, err := c.Call(context.Background(), mPanic, nil); ErrorCode(err) != CodeInternal {
		t.Fatalf("Call = %v, want Internal", err)
	}
	if _, err := c.Call(context.Background(), mEcho, nil); err != nil {
		t.Fatalf("server hurt by the panic: %v", err)
	}
}

func TestMaxStreamsRefusesTheExtraCall(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{MaxStreams: 2})
	started, release := make(chan struct{}, 2), make(chan struct{})
	srv.HandleUnary(98, func(ctx context.Context, req []byte) ([]byte, error) {
		started <- struct{}{}
		<-release
		return nil, nil
	})
	c := dialT(t, addr, DialOptions{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Call(context.Background(), 98, nil); err != nil {
				t.Errorf("blocking call: %v", err)
			}
		}()
	}
	within(t, 5*time.Second, started, "first handler")
	within(t, 5*time.Second, started, "second handler")
	if _, err := c.Call(context.Background(), mEcho, nil); ErrorCode(err) != CodeResourceExhausted {
		t.Fatalf("third call = %v, want ResourceExhausted", err)
	}
	close(release)
	wg.Wait()
	// The slots free up as the handlers return (just after their
	// responses are sent, so allow a moment).
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Call(context.Background(), mEcho, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls still refused after the handlers ended: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}
