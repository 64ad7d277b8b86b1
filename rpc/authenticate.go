package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"
)

// An application can prove who is at the other end of a connection before
// any call runs on it: ServerOptions.Authenticate and
// DialOptions.Authenticate exchange messages of the application's own
// over the connection, right after the hellos (and TLS), within the
// handshake's time limit. The server's function decides: an error closes
// the connection before a single frame is read, a context is what the
// connection's handlers run under (Authenticate puts what it proved
// there). Nothing else of the connection is served before it returns.

// AuthInfo is what an Authenticate function knows of its connection
// besides what it reads from it.
type AuthInfo struct {
	// Remote is the other end's address.
	Remote net.Addr
	// TLS is the TLS handshake's state, nil in plain TCP.
	TLS *tls.ConnectionState
}

// ServerAuthenticate proves who dialed, over rw (see ServerOptions).
type ServerAuthenticate func(ctx context.Context, rw io.ReadWriter, info AuthInfo) (context.Context, error)

// ClientAuthenticate proves the dialer, and the server, over rw (see
// DialOptions).
type ClientAuthenticate func(rw io.ReadWriter, info AuthInfo) error

// bufferedRW reads through the connection's buffered reader (which may
// hold bytes already read) and writes to the connection.
type bufferedRW struct {
	r *bufio.Reader
	w io.Writer
}

func (b bufferedRW) Read(p []byte) (int, error)  { return b.r.Read(p) }
func (b bufferedRW) Write(p []byte) (int, error) { return b.w.Write(p) }

// authInfo describes conn, whose TLS layer, if any, is the one on top.
func authInfo(conn net.Conn) AuthInfo {
	info := AuthInfo{Remote: conn.RemoteAddr()}
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		info.TLS = &st
	}
	return info
}

// authenticate runs ServerOptions.Authenticate on a connection past its
// hello, bounded by the handshake's time limit.
func (s *Server) authenticate(ctx context.Context, raw, conn net.Conn, br *bufio.Reader) (context.Context, error) {
	raw.SetDeadline(time.Now().Add(s.opts.handshakeTimeout()))
	out, err := s.opts.Authenticate(ctx, bufferedRW{r: br, w: conn}, authInfo(conn))
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return out, nil
}

// authenticateClient runs DialOptions.Authenticate on a dialed connection
// past its hello, bounded by ctx.
func authenticateClient(ctx context.Context, auth ClientAuthenticate, raw, conn net.Conn, br *bufio.Reader, addr string) error {
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	err := auth(bufferedRW{r: br, w: conn}, authInfo(conn))
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if _, ok := err.(*Error); ok {
			return err
		}
		return unavailable(err, "authenticating to %s", addr)
	}
	raw.SetDeadline(time.Time{})
	return nil
}
