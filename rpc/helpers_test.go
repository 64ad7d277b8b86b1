package rpc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// shortMode shortens loops (CAIRN_SHORT=1, for -race runs).
func shortMode() bool { return os.Getenv("CAIRN_SHORT") != "" || testing.Short() }

// Methods of the test services.
const (
	mEcho       Method = 1 // returns the request
	mWaitCtx    Method = 2 // blocks until its context ends, reports it on a channel
	mFail       Method = 3 // returns the error named by the request
	mBig        Method = 4 // returns a response of the size the request asks for
	mPanic      Method = 5
	mCount      Method = 10 // stream: sends the number of messages asked for, then ends
	mEchoStream Method = 11 // stream: echoes every message until the client's end
	mSink       Method = 12 // stream: reads nothing until told to, via a channel
)

// appError is an application error with its own code (>= 100).
type appError struct{ code uint16 }

func (e appError) Error() string   { return "app error" }
func (e appError) RPCCode() uint16 { return e.code }

// testLogger discards unless -v; protocol violations are expected in some tests.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// listen returns a loopback listener.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startServer serves a Server with the test handlers on a fresh port;
// handlerCtxDone receives the error of each mWaitCtx handler's context.
func startServer(t *testing.T, opts ServerOptions) (addr string, srv *Server, handlerCtxDone chan error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv = NewServer(opts)
	handlerCtxDone = make(chan error, 100)
	registerTestHandlers(srv, handlerCtxDone)
	l := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String(), srv, handlerCtxDone
}

func registerTestHandlers(srv *Server, ctxDone chan error) {
	srv.HandleUnary(mEcho, func(ctx context.Context, req []byte) ([]byte, error) { return req, nil })
	srv.HandleUnary(mWaitCtx, func(ctx context.Context, req []byte) ([]byte, error) {
		<-ctx.Done()
		ctxDone <- ctx.Err()
		return nil, ctx.Err()
	})
	srv.HandleUnary(mFail, func(ctx context.Context, req []byte) ([]byte, error) {
		switch string(req) {
		case "app":
			return nil, appError{code: 142}
		case "wrapped-app":
			return nil, errors.Join(errors.New("context"), appError{code: 200})
		case "canceled":
			return nil, context.Canceled
		case "deadline":
			return nil, context.DeadlineExceeded
		case "forward":
			return nil, &Error{Code: CodeInvalidArgument, Message: "bad key"}
		}
		return nil, errors.New("plain failure")
	})
	srv.HandleUnary(mBig, func(ctx context.Context, req []byte) ([]byte, error) {
		n := 0
		for _, c := range req {
			n = n*10 + int(c-'0')
		}
		return make([]byte, n), nil
	})
	srv.HandleUnary(mPanic, func(ctx context.Context, req []byte) ([]byte, error) { panic("boom") })
	srv.HandleStream(mCount, func(ctx context.Context, s *Stream) error {
		req, err := s.Recv()
		if err != nil {
			return err
		}
		n := int(req[0])<<8 | int(req[1])
		for i := range n {
			if err := s.Send([]byte{byte(i >> 8), byte(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	srv.HandleStream(mEchoStream, func(ctx context.Context, s *Stream) error {
		for {
			msg, err := s.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if string(msg) == "fail" {
				return appError{code: 150}
			}
			if err := s.Send(msg); err != nil {
				return err
			}
		}
	})
	srv.HandleStream(mWaitCtx, func(ctx context.Context, s *Stream) error {
		<-ctx.Done()
		ctxDone <- ctx.Err()
		return ctx.Err()
	})
}

func dialT(t *testing.T, addr string, opts DialOptions) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// within fails the test if ch does not yield within d.
func within[T any](t *testing.T, d time.Duration, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

func listenOn(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
