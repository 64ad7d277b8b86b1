package rpc

import (
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// DefaultMaxFrameSize is the default limit on the body a frame may carry:
// a request, response or stream message body, or an error message. The
// frame on the wire may be up to FrameOverhead bytes longer (its header
// and varint prefixes). Larger bodies are refused with
// CodeResourceExhausted before they are sent; a peer that sends one
// anyway is violating the protocol and loses its connection. Both ends
// should use the same limit.
const DefaultMaxFrameSize = 2 << 20

// Defaults for the options below.
const (
	DefaultMaxStreams        = 1024
	DefaultStreamWindow      = 1 << 20
	DefaultKeepAliveInterval = 10 * time.Second
	DefaultKeepAliveTimeout  = 20 * time.Second
	DefaultDialTimeout       = 5 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultMaxConnections    = 4096
	DefaultReceiveBudget     = 64 << 20
)

// maxOptionBytes caps MaxFrameSize and StreamWindow so that window
// arithmetic stays far from overflow.
const maxOptionBytes = 1 << 30

// ServerOptions configures a Server. The zero value is usable.
type ServerOptions struct {
	// TLS, if set, makes the server speak TLS; nil means plain TCP.
	TLS *tls.Config
	// MaxFrameSize bounds a message body (see DefaultMaxFrameSize).
	MaxFrameSize int
	// MaxStreams bounds the calls and streams running at once on one
	// connection (default 1024); one more is refused with
	// CodeResourceExhausted.
	MaxStreams int
	// StreamWindow is the flow-control window of each stream this side
	// receives on, in bytes (default 1 MiB): the peer may have that much
	// unread before it must wait.
	StreamWindow int
	// KeepAliveInterval: ping the peer when nothing arrived for this long
	// (default 10s).
	KeepAliveInterval time.Duration
	// KeepAliveTimeout: close the connection when no whole frame arrived
	// for this long (default 20s): a peer gone silent, or one that stopped
	// in the middle of a frame.
	KeepAliveTimeout time.Duration
	// HandshakeTimeout bounds a new connection's TLS handshake and hello
	// (default 10s); a connection that has not finished them by then is
	// closed.
	HandshakeTimeout time.Duration
	// MaxConnections bounds the connections served at once, handshakes
	// included (default 4096). One more is refused: the server logs it
	// (at most once a second, with how many it refused meanwhile) and, in
	// plain TCP, tells the client why before closing it.
	MaxConnections int
	// ReceiveBudget bounds the bytes the server holds, all connections
	// together, for what they are receiving beyond a small fixed amount
	// each (default 64 MiB): three quarters (never less than one frame)
	// for the frames still arriving, past their first chunk, a quarter for
	// the large read buffers of busy connections. A frame that finds its
	// share spent waits, unread, for room — TCP holds its sender back —
	// until other frames complete, or until the keepalive timeout closes
	// its connection; a busy connection that finds no large buffer reads
	// through its small one.
	ReceiveBudget int
	// Logger receives protocol violations and connection events; nil
	// discards them.
	Logger *slog.Logger
	// Foreign, if set, takes the connections whose first bytes (after TLS,
	// if the server speaks it) are not cairn's hello: another protocol on
	// the same port, such as HTTP/2 or HTTP/1.x. It must return promptly
	// (hand the connection to the server of that protocol) and owns the
	// connection from then on;
	// its first reads replay the bytes the server looked at. With TLS the
	// server also offers the ALPN protocols "h2" and "http/1.1", tls is
	// the handshake's state (nil in plain TCP), and conn has a method
	// OfferedProtocols() []string: the protocols the client offered (a
	// gRPC client offers "h2" alone; curl offers "h2" and "http/1.1").
	Foreign func(conn net.Conn, tls *tls.ConnectionState)
	// Authenticate, if set, runs on every connection after the hellos
	// and before anything else: it talks to the dialer's
	// DialOptions.Authenticate over the connection and returns the
	// context the connection's handlers run under (derived from the one
	// it is given), or an error that closes the connection. It is bounded
	// by HandshakeTimeout, as the rest of the handshake is.
	Authenticate ServerAuthenticate

	// retireInterval replaces retireInterval (workers.go); negative: the
	// idle workers are never looked at but by the tests' own calls.
	retireInterval time.Duration
}

// DialOptions configures a client connection. The zero value is usable.
type DialOptions struct {
	// TLS, if set, makes the connection speak TLS; nil means plain TCP.
	// An empty ServerName is filled from the address.
	TLS *tls.Config
	// MaxFrameSize, StreamWindow, KeepAliveInterval, KeepAliveTimeout: as
	// in ServerOptions.
	MaxFrameSize      int
	StreamWindow      int
	KeepAliveInterval time.Duration
	KeepAliveTimeout  time.Duration
	// DialTimeout bounds the TCP connect and the handshake (default 5s).
	DialTimeout time.Duration
	// Authenticate, if set, runs after the hellos, before Dial returns:
	// it talks to the server's ServerOptions.Authenticate. Its error
	// fails the dial (as an *Error with CodeUnavailable unless it is
	// one).
	Authenticate ClientAuthenticate
}

// handshakeTimeout, maxConnections and receiveBudget are the server's
// settings, defaults applied.
func (o ServerOptions) handshakeTimeout() time.Duration {
	return withDefault(o.HandshakeTimeout, DefaultHandshakeTimeout)
}

func (o ServerOptions) maxConnections() int {
	return withDefault(o.MaxConnections, DefaultMaxConnections)
}

// receiveBudget splits ReceiveBudget: three quarters for the frames being
// received (never less than one frame), a quarter for large read buffers.
func (o ServerOptions) receiveBudget(maxBody int) (frames, buffers int64) {
	total := int64(withDefault(o.ReceiveBudget, DefaultReceiveBudget))
	return max(total-total/4, int64(maxBody)+FrameOverhead), total / 4
}

// connOptions are the settings one connection runs with, either side.
type connOptions struct {
	maxBody           int
	window            int
	maxStreams        int
	keepAliveInterval time.Duration
	keepAliveTimeout  time.Duration
	logger            *slog.Logger
}

func withDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (o ServerOptions) conn() connOptions {
	c := connOptions{
		maxBody:           min(withDefault(o.MaxFrameSize, DefaultMaxFrameSize), maxOptionBytes),
		window:            min(withDefault(o.StreamWindow, DefaultStreamWindow), maxOptionBytes),
		maxStreams:        withDefault(o.MaxStreams, DefaultMaxStreams),
		keepAliveInterval: withDefault(o.KeepAliveInterval, DefaultKeepAliveInterval),
		keepAliveTimeout:  withDefault(o.KeepAliveTimeout, DefaultKeepAliveTimeout),
		logger:            o.Logger,
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (o DialOptions) conn() connOptions {
	return connOptions{
		maxBody:           min(withDefault(o.MaxFrameSize, DefaultMaxFrameSize), maxOptionBytes),
		window:            min(withDefault(o.StreamWindow, DefaultStreamWindow), maxOptionBytes),
		keepAliveInterval: withDefault(o.KeepAliveInterval, DefaultKeepAliveInterval),
		keepAliveTimeout:  withDefault(o.KeepAliveTimeout, DefaultKeepAliveTimeout),
		logger:            slog.New(slog.DiscardHandler),
	}
}
