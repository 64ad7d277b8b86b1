package rpc

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"
)

// Every connection starts with a hello each way: the 8 bytes "CAIRNRPC"
// and a u16 protocol version. Version 0 is never spoken: a TLS server that
// sees a plain-text hello answers with it, in plain text, to say "speak
// TLS to me" before closing, so the client can report exactly that.
var magic = [8]byte{'C', 'A', 'I', 'R', 'N', 'R', 'P', 'C'}

const (
	protocolVersion    = 2
	versionTLSRequired = 0
	helloSize          = len(magic) + 2
)

// TLS record types a plain-text peer may see first from a TLS speaker.
const (
	tlsRecordAlert     = 0x15
	tlsRecordHandshake = 0x16
)

// tlsHint is the advice a plain client gets when the endpoint speaks TLS.
const tlsHint = "use https:// or --cacert"

func hello(version uint16) []byte {
	return binary.BigEndian.AppendUint16(magic[:], version)
}

// readServerHello reads and checks the server's hello on the client side.
func readServerHello(r io.Reader, addr string, usingTLS bool) error {
	var buf [helloSize]byte
	n, err := io.ReadFull(r, buf[:])
	if n > 0 && !usingTLS && (buf[0] == tlsRecordAlert || buf[0] == tlsRecordHandshake) {
		return errorf(CodeUnavailable, "endpoint %s expects TLS (it answered with a TLS record); %s", addr, tlsHint)
	}
	if err != nil {
		if n == 0 && !usingTLS && closedByPeer(err) {
			return unavailable(err, "connection to %s closed during the handshake: not a cairn rpc endpoint, or it expects TLS (%s)", addr, tlsHint)
		}
		if usingTLS {
			return unavailable(err, "handshake with %s failed (if the TLS error names a certificate, the server may reject our client certificate)", addr)
		}
		return unavailable(err, "handshake with %s", addr)
	}
	if !bytes.Equal(buf[:len(magic)], magic[:]) {
		return errorf(CodeUnavailable, "%s is not a cairn rpc endpoint (it answered %q)", addr, buf[:n])
	}
	switch v := binary.BigEndian.Uint16(buf[len(magic):]); v {
	case protocolVersion:
		return nil
	case versionTLSRequired:
		return errorf(CodeUnavailable, "endpoint %s expects TLS; %s", addr, tlsHint)
	default:
		return errorf(CodeUnavailable, "endpoint %s speaks rpc version %d: version %d not supported (this side speaks %d)", addr, v, v, protocolVersion)
	}
}

// readClientHello reads and checks the client's hello on the server side.
func readClientHello(r io.Reader, usingTLS bool) error {
	var buf [helloSize]byte
	n, err := io.ReadFull(r, buf[:])
	if n > 0 && !usingTLS && buf[0] == tlsRecordHandshake {
		return errors.New("a TLS client dialed this plain-TCP endpoint")
	}
	if err != nil {
		return fmt.Errorf("reading the client hello: %w", err)
	}
	if !bytes.Equal(buf[:len(magic)], magic[:]) {
		return fmt.Errorf("not a cairn rpc client (it sent %q)", buf[:n])
	}
	if v := binary.BigEndian.Uint16(buf[len(magic):]); v != protocolVersion {
		return fmt.Errorf("client speaks rpc version %d: version %d not supported", v, v)
	}
	return nil
}

// closedByPeer reports whether err means the peer closed or reset the
// connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// peekedConn is a net.Conn whose first reads come from a bufio.Reader that
// already peeked at the stream (the TLS server sniffs the first byte).
type peekedConn struct {
	net.Conn
	r *bufio.Reader
	// offered are the ALPN protocols the client offered in its TLS
	// handshake (recordOffer), for ServerOptions.Foreign.
	offered []string
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// OfferedProtocols returns the ALPN protocols the client offered, in its
// order of preference (nil in plain TCP): see ServerOptions.Foreign.
func (c *peekedConn) OfferedProtocols() []string { return c.offered }

// recordOffer wraps a TLS config's GetConfigForClient (if any) to keep
// the protocols each client offers on its connection, a *peekedConn.
func recordOffer(next func(*tls.ClientHelloInfo) (*tls.Config, error)) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if pc, ok := hello.Conn.(*peekedConn); ok {
			pc.offered = slices.Clone(hello.SupportedProtos)
		}
		if next != nil {
			return next(hello)
		}
		return nil, nil
	}
}

// errForeign says a connection speaks another protocol (handOff).
var errForeign = errors.New("rpc: not a cairn rpc connection")

// foreign reports whether the client's first bytes are not cairn's hello,
// looking no further than it must: a first byte other than the magic's, or
// the magic's length of bytes that differ from it. A TLS record in plain
// TCP is not foreign: readClientHello explains it.
func (s *Server) foreign(br *bufio.Reader) bool {
	first, err := br.Peek(1)
	if err != nil {
		return false // readClientHello reports the failure
	}
	switch first[0] {
	case magic[0]:
		head, err := br.Peek(len(magic))
		return err == nil && !bytes.Equal(head, magic[:])
	case tlsRecordHandshake:
		return false
	}
	return true
}

// handOff gives a connection of another protocol to ServerOptions.Foreign,
// with the bytes already read in front of it. The server forgets it.
func (s *Server) handOff(raw, conn net.Conn, br *bufio.Reader, offered []string) {
	raw.SetDeadline(time.Time{})
	var state *tls.ConnectionState
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		state = &st
	}
	s.mu.Lock()
	delete(s.conns, raw)
	s.mu.Unlock()
	s.opts.Foreign(&peekedConn{Conn: conn, r: br, offered: offered}, state)
}
