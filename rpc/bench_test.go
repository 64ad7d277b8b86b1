package rpc

import (
	"context"
	"fmt"
	"net"
	netrpc "net/rpc"
	"sync"
	"testing"
	"time"
)

// The benchmarks compare unary calls with the standard library's net/rpc
// (gob over one TCP connection) as the floor: 256-byte echo calls over
// loopback from 1, 16 and 256 concurrent callers sharing one connection.
// Each reports calls/s.

var benchCallers = []int{1, 16, 256}

const benchPayload = 256

// runCallers spreads b.N calls over n goroutines and reports calls/s.
func runCallers(b *testing.B, n int, call func() error) {
	b.Helper()
	var wg sync.WaitGroup
	var failed sync.Once
	per, extra := b.N/n, b.N%n
	b.ResetTimer()
	start := time.Now()
	for g := range n {
		calls := per
		if g < extra {
			calls++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if err := call(); err != nil {
					failed.Do(func() { b.Error(err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// echoConn serves h as mEcho on a loopback port and returns a connection
// to it; both close when the benchmark ends.
func echoConn(b *testing.B, h UnaryHandler) *Conn {
	b.Helper()
	srv := NewServer(ServerOptions{})
	srv.HandleUnary(mEcho, h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	c, err := Dial(context.Background(), l.Addr().String(), DialOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkUnary(b *testing.B) {
	c := echoConn(b, func(ctx context.Context, req []byte) ([]byte, error) { return req, nil })
	req := make([]byte, benchPayload)
	for _, n := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			runCallers(b, n, func() error {
				resp, err := c.Call(context.Background(), mEcho, req)
				if err == nil && len(resp) != benchPayload {
					err = fmt.Errorf("echo of %d bytes", len(resp))
				}
				return err
			})
		})
	}
}

// EchoService is the net/rpc counterpart of the echo handler.
type EchoService struct{}

// Echo returns its argument.
func (EchoService) Echo(req []byte, resp *[]byte) error {
	*resp = req
	return nil
}

func BenchmarkNetRPCUnary(b *testing.B) {
	srv := netrpc.NewServer()
	if err := srv.Register(EchoService{}); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go srv.Accept(l)
	c, err := netrpc.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := make([]byte, benchPayload)
	for _, n := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			runCallers(b, n, func() error {
				var resp []byte
				err := c.Call("EchoService.Echo", req, &resp)
				if err == nil && len(resp) != benchPayload {
					err = fmt.Errorf("echo of %d bytes", len(resp))
				}
				return err
			})
		})
	}
}

// BenchmarkUnaryDeepStack calls a handler that needs about 16 KiB of
// stack, as the server's services do (a request's decoding, the store's
// tree walk, the log's formatting): what a goroutine per call pays to grow
// its stack, and a worker keeps grown.
func BenchmarkUnaryDeepStack(b *testing.B) {
	c := echoConn(b, func(ctx context.Context, req []byte) ([]byte, error) {
		return req[:deepStack(req, 16)], nil
	})
	req := make([]byte, benchPayload)
	for _, n := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			runCallers(b, n, func() error {
				_, err := c.Call(context.Background(), mEcho, req)
				return err
			})
		})
	}
}

// deepStack uses about depth KiB of stack and returns len(p).
//
//go:noinline
func deepStack(p []byte, depth int) int {
	var frame [1024]byte
	copy(frame[:], p)
	if depth <= 1 {
		return int(frame[0]) - int(p[0]) + len(p)
	}
	return deepStack(frame[:len(p)], depth-1)
}
