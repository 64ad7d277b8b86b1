package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// mWho answers with the name Authenticate put in the handler's context.
const mWho Method = 20

type whoKey struct{}

// passwordAuth is a toy scheme: the client sends 8 bytes, the server
// answers "ok" and names the connection after them if they are the
// password, else answers "no" and refuses.
func passwordAuth(password string) ServerAuthenticate {
	return func(ctx context.Context, rw io.ReadWriter, info AuthInfo) (context.Context, error) {
		buf := make([]byte, 8)
		if _, err := io.ReadFull(rw, buf); err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		if string(buf) != password {
			_, _ = rw.Write([]byte("no"))
			return nil, errors.New("wrong password")
		}
		if _, err := rw.Write([]byte("ok")); err != nil {
			return nil, err
		}
		return context.WithValue(ctx, whoKey{}, "friend from "+info.Remote.String()), nil
	}
}

func sendPassword(password string) ClientAuthenticate {
	return func(rw io.ReadWriter, info AuthInfo) error {
		if _, err := rw.Write([]byte(password)); err != nil {
			return err
		}
		answer := make([]byte, 2)
		if _, err := io.ReadFull(rw, answer); err != nil {
			return err
		}
		if string(answer) != "ok" {
			return errors.New("the server refused the password")
		}
		return nil
	}
}

func startAuthServer(t *testing.T, opts ServerOptions) (string, chan struct{}) {
	t.Helper()
	addr, srv, _ := startServer(t, opts)
	ran := make(chan struct{}, 10)
	srv.HandleUnary(mWho, func(ctx context.Context, req []byte) ([]byte, error) {
		ran <- struct{}{}
		who, _ := ctx.Value(whoKey{}).(string)
		return []byte(who), nil
	})
	return addr, ran
}

func TestAuthenticateProvesTheConnection(t *testing.T) {
	addr, ran := startAuthServer(t, ServerOptions{Authenticate: passwordAuth("12345678")})
	c := dialT(t, addr, DialOptions{Authenticate: sendPassword("12345678")})
	who, err := c.Call(context.Background(), mWho, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "friend from " + c.s.conn.LocalAddr().String(); string(who) != want {
		t.Fatalf("handler saw %q, want %q", who, want)
	}
	within(t, time.Second, ran, "the handler")
}

func TestAuthenticateRefusal(t *testing.T) {
	addr, ran := startAuthServer(t, ServerOptions{Authenticate: passwordAuth("12345678")})
	_, err := Dial(context.Background(), addr, DialOptions{Authenticate: sendPassword("87654321")})
	var re *Error
	if !errors.As(err, &re) || re.Code != CodeUnavailable || !strings.Contains(err.Error(), "refused the password") {
		t.Fatalf("dial with a wrong password: %v", err)
	}
	// A client that does not authenticate: its frames are read as the
	// scheme's bytes, refused, and no handler runs.
	c, err := Dial(context.Background(), addr, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Call(ctx, mWho, []byte("let me in, 8 bytes and more")); err == nil {
		t.Fatal("a call on a connection that never authenticated was answered")
	}
	select {
	case <-ran:
		t.Fatal("a handler ran for an unauthenticated connection")
	default:
	}
}

// A dialer that says nothing is cut off at the handshake's time limit.
func TestAuthenticateSilentClientTimesOut(t *testing.T) {
	addr, _ := startAuthServer(t, ServerOptions{Authenticate: passwordAuth("12345678"), HandshakeTimeout: 200 * time.Millisecond})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write(hello(protocolVersion)); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(raw) // the server's hello, then the close
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if len(rest) != helloSize {
		t.Fatalf("the server sent %d bytes, want its hello only", len(rest))
	}
}
