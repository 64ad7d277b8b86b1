package rpc

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

const (
	mWhoAmI   Method = 20 // returns the server's name
	mFollower Method = 21 // returns app code notLeader unless the server is "leader"
)

const codeNotLeader Code = 300

// namedServers starts n servers that answer mWhoAmI with their index.
func namedServers(t *testing.T, names ...string) (addrs []string, servers []*Server) {
	for _, name := range names {
		addr, srv, _ := startServer(t, ServerOptions{})
		srv.HandleUnary(mWhoAmI, func(ctx context.Context, req []byte) ([]byte, error) { return []byte(name), nil })
		srv.HandleUnary(mFollower, func(ctx context.Context, req []byte) ([]byte, error) {
			if name != "leader" {
				return nil, &Error{Code: codeNotLeader, Message: name + " is not the leader"}
			}
			return []byte(name), nil
		})
		addrs = append(addrs, addr)
		servers = append(servers, srv)
	}
	return addrs, servers
}

// whoAmI is a read: it may run twice, so it lets the client retry a call
// whose server went away after it was sent (a write must not).
func whoAmI(t *testing.T, c *Client) string {
	t.Helper()
	resp, err := c.Call(context.Background(), mWhoAmI, nil, func(err error) bool { return ErrorCode(err) == CodeUnavailable })
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	return string(resp)
}

func TestClientFailsOverWhenAServerStops(t *testing.T) {
	addrs, servers := namedServers(t, "a", "b", "c")
	c, err := NewClient(addrs, ClientOptions{ConnsPerEndpoint: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := whoAmI(t, c); got != "a" {
		t.Fatalf("first call went to %s, want the first endpoint a", got)
	}
	servers[0].Close()
	for range 20 {
		if got := whoAmI(t, c); got == "a" {
			t.Fatal("call answered by a stopped server")
		}
	}
	servers[1].Close()
	if got := whoAmI(t, c); got != "c" {
		t.Fatalf("with a and b down, answered by %s", got)
	}
	servers[2].Close()
	_, err = c.Call(context.Background(), mWhoAmI, nil, nil)
	if ErrorCode(err) != CodeUnavailable {
		t.Fatalf("with every server down: %v, want Unavailable", err)
	}
}

func TestClientRetryPredicateMovesOn(t *testing.T) {
	addrs, _ := namedServers(t, "f1", "f2", "leader")
	c, err := NewClient(addrs, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Without a predicate the application error is returned as is.
	if _, err := c.Call(context.Background(), mFollower, nil, nil); ErrorCode(err) != codeNotLeader {
		t.Fatalf("Call without retry = %v, want notLeader", err)
	}
	notLeader := func(err error) bool { return errors.Is(err, &Error{Code: codeNotLeader}) }
	resp, err := c.Call(context.Background(), mFollower, nil, notLeader)
	if err != nil || string(resp) != "leader" {
		t.Fatalf("Call with retry = %q, %v", resp, err)
	}
	// The client stays on the endpoint that worked.
	if got := whoAmI(t, c); got != "leader" {
		t.Fatalf("after failover, answered by %s", got)
	}
	// A predicate that is never satisfied gives up after one pass with
	// the last error.
	calls := 0
	_, err = c.Call(context.Background(), mWhoAmI, nil, func(error) bool { calls++; return true })
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), mFail, []byte("app"), func(error) bool { calls++; return true })
	if ErrorCode(err) != 142 || calls != 3 {
		t.Fatalf("Call = %v after %d retries; want code 142 after 3", err, calls)
	}
}

func TestClientPinAndEndpoints(t *testing.T) {
	addrs, _ := namedServers(t, "a", "b")
	c, err := NewClient(addrs[:1], ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Pin(addrs[1])
	if got := c.Endpoints(); len(got) != 2 || got[1] != addrs[1] {
		t.Fatalf("Endpoints = %v", got)
	}
	if got := whoAmI(t, c); got != "b" {
		t.Fatalf("after Pin(b), answered by %s", got)
	}
	c.Pin(addrs[0])
	if got := whoAmI(t, c); got != "a" {
		t.Fatalf("after Pin(a), answered by %s", got)
	}
}

func TestClientRedialsAfterRestart(t *testing.T) {
	addr, srv, _ := startServer(t, ServerOptions{})
	c, err := NewClient([]string{addr}, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call(context.Background(), mEcho, nil, nil); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := c.Call(context.Background(), mEcho, nil, nil); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("Call with the server down = %v", err)
	}
	// Restart on the same address; the client redials after its backoff.
	srv2 := NewServer(ServerOptions{})
	registerTestHandlers(srv2, make(chan error, 10))
	l, err := listenOn(addr)
	if err != nil {
		t.Skipf("cannot reuse %s: %v", addr, err)
	}
	go srv2.Serve(l)
	defer srv2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Call(context.Background(), mEcho, nil, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reconnected: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientStreamFailsOver(t *testing.T) {
	addrs, servers := namedServers(t, "a", "b")
	c, err := NewClient(addrs, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	servers[0].Close()
	s, err := c.NewStream(context.Background(), mEchoStream)
	if err != nil {
		t.Fatal(err)
	}
	s.Send([]byte("hi"))
	s.CloseSend()
	if msg, err := s.Recv(); err != nil || string(msg) != "hi" {
		t.Fatalf("Recv = %q, %v", msg, err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv = %v", err)
	}
}

func TestClientClosed(t *testing.T) {
	addrs, _ := namedServers(t, "a")
	c, _ := NewClient(addrs, ClientOptions{})
	whoAmI(t, c)
	c.Close()
	if _, err := c.Call(context.Background(), mWhoAmI, nil, nil); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Call after Close = %v", err)
	}
	if _, err := NewClient(nil, ClientOptions{}); err == nil {
		t.Fatal("NewClient with no endpoints succeeded")
	}
}
