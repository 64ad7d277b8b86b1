// Package rpc is cairn's binary RPC over TCP: framing, multiplexed calls
// and streams, deadlines and cancellation, flow control, keepalive and
// TLS. Servers register handlers per Method; clients use a Conn (one
// connection) or a Client (several endpoints with failover).
//
// # Wire format
//
// A connection starts with a hello from each side: the 8 bytes
// "CAIRNRPC" and a big-endian u16 protocol version (2). A peer that sends
// anything else is not a cairn endpoint, or speaks another version, and
// the connection is closed with an error saying which. With TLS the hello
// is sent inside TLS; a TLS server that receives a plain-text hello
// answers, in plain text, with version 0 ("speak TLS to me") and closes,
// so the client can say exactly what is wrong.
//
// An application may then prove who is at each end before any frame:
// ServerOptions.Authenticate and DialOptions.Authenticate exchange bytes
// of its own over the connection (see AuthInfo); a server whose function
// fails closes the connection unread.
//
// After the hello, both sides exchange frames:
//
//	u32 length   of what follows (kind through payload), big-endian
//	u8  kind
//	u64 stream   the call or stream the frame belongs to; 0 = the connection
//	u16 method   request and open only, else 0
//	    payload  depends on kind
//
// The kinds, and their payloads:
//
//	1  request   client→server  a unary call: uvarint timeout (µs, 0 = none), token, body
//	2  response  server→client  the call's result: body
//	3  open      client→server  open a stream: uvarint timeout, token, uvarint window
//	4  message   both ways      one stream message: body
//	5  end       both ways      clean end of the sender's direction of a stream
//	6  error     server→client  error end of a call or stream: u16 code, message
//	7  cancel    both ways      abort a call or stream in both directions
//	8  window    both ways      grant the sender more stream credit: uvarint bytes
//	9  ping      both ways      keepalive probe: 8 opaque bytes (stream 0)
//	10 pong      both ways      the same 8 bytes back (stream 0)
//	11 goaway    server→client  the connection is closing: u16 code, message (stream 0)
//
// A token is a uvarint length (at most MaxTokenSize) and that many bytes:
// the caller's credential (WithToken), handed to the handler (Token). The
// verified TLS client certificate of the connection reaches handlers too
// (PeerCertificate).
//
// Streams are numbered by the client: odd ids, increasing (on the wire,
// not just when allocated). Servers never open streams. A body may hold
// up to MaxFrameSize bytes, so the length field is at most MaxFrameSize +
// FrameOverhead; it is checked before anything is allocated, and the
// payload is then allocated as its bytes arrive (see Memory). An oversized
// or malformed frame, an unknown kind, a frame for a stream that was never
// opened, or a reused id is a protocol violation: the server logs it and
// closes that connection (and only that one). Frames for a stream that
// has finished on the receiving side are dropped: they may cross a cancel
// on the wire.
//
// # Calls
//
// A unary call is a request answered by one response or error frame. The
// timeout is the time left before the caller's deadline; the handler's
// context gets the same deadline. If the caller gives up first it sends a
// cancel, which cancels the handler's context; nothing is sent back. An
// unknown method gets CodeUnimplemented, a call beyond MaxStreams gets
// CodeResourceExhausted, a response too large for a frame gets
// CodeResourceExhausted: all for that call only.
//
// # Streams
//
// The client sends open (with its own receive window); the server
// answers with a window frame granting its window, then both sides send
// messages. Each direction ends on its own with end (clean: the
// receiver's Recv returns io.EOF) or, from the server, error. When the
// server's handler returns, the server ends its direction (end if the
// handler returned nil, error otherwise) and, if the client is still
// sending, follows with a cancel meaning "nobody is listening any more".
// A cancel at any other time aborts the stream both ways.
//
// Flow control is per stream and counted in bytes: a message costs its
// length plus 16. A sender may send while its credit (the window the
// receiver granted, minus what it has sent since) is positive, so at most
// one window plus one message is ever unread at the receiver; the
// receiver grants credit back (window frames) as the application takes
// messages with Recv, once half a window has been taken. A slow reader
// therefore blocks the sender rather than growing a buffer. Unary bodies
// are not flow-controlled; MaxStreams bounds them.
//
// # Connections
//
// Each connection has one reader goroutine, which decodes frames and
// dispatches them without ever blocking on the application (unary
// handlers and stream handlers run in their own goroutines), and one
// writer goroutine: senders encode frames into a shared buffer and the
// writer hands the whole buffer to the connection in one Write, so under
// load many frames share a system call. A keepalive goroutine sends a
// ping when nothing has arrived for KeepAliveInterval and closes the
// connection when no whole frame has arrived for KeepAliveTimeout: a peer
// gone silent (or gone, a half-open connection) or one that stopped in
// the middle of a frame lives that long at most, while an idle peer that
// answers pings lives on. When a connection dies every pending call and
// stream on it fails with CodeUnavailable, and Conn.Done is closed.
//
// A server closes a connection that has not finished its TLS handshake
// and hello within HandshakeTimeout, and serves at most MaxConnections at
// once, handshakes included: one more is refused (logged, at most once a
// second; in plain TCP the client gets a hello and a goaway naming the
// limit, so it reports that rather than a broken endpoint). Connections
// handed to ServerOptions.Foreign leave the count when handed over.
//
// # Memory
//
// What a peer can make a server hold, by what it sends:
//
//   - A connection: about 9 KiB of heap (its session and a 4 KiB read
//     buffer of its own) and three goroutines (about 8 KiB of stack),
//     for as long as it lives; at most MaxConnections of them. A
//     handshake reads through 16 bytes (TLS keeps its own record
//     buffers) and lasts at most HandshakeTimeout.
//   - A busy connection (a read brought 4 KiB or more) borrows a 64 KiB
//     read buffer until a read brings less; the server lends those from a
//     quarter of ReceiveBudget, and past it busy connections read through
//     their small buffers.
//   - A frame being received: its payload is first given what the read
//     buffer holds already (at least 512 bytes), never its declared
//     length, so a connection that declares a frame and sends nothing
//     more holds that little. Past its first chunk, the rest of the
//     payload is taken from the other three quarters of ReceiveBudget (at
//     least one frame), and only then allocated, whole, and read into
//     directly (one copy of the first chunk, none of the rest); it is
//     given back when the frame is complete. A frame that finds the
//     budget spent waits, unread, while TCP holds its sender back. A
//     frame stalled in the middle lives at most KeepAliveTimeout. So
//     frames in flight cost at most about 9 KiB a connection plus
//     ReceiveBudget. (A client, which has no budget, grows a payload
//     twice as large each time it is still incomplete: it holds at most
//     about twice what has arrived.)
//   - A unary request, once complete, belongs to its handler until the
//     handler returns: at most MaxStreams of them per connection, each up
//     to MaxFrameSize. They are not counted in the budget.
//   - A unary response is the handler's: one over MaxFrameSize is refused
//     with CodeResourceExhausted, but only after the handler built it. A
//     handler whose answer can grow with the data (a range over a store)
//     should stop at ResponseLimit itself, as cairn's node does.
//   - A stream: at most its StreamWindow plus one message unread on the
//     receiving side, for at most MaxStreams streams per connection.
//   - The write side: data frames wait while a connection's queue holds
//     1 MiB; control frames the peer provokes (pongs, refusals) beyond
//     2 MiB + MaxFrameSize mean it does not read, and it is cut off. A
//     connection keeps the buffers of its largest batches (up to 4 MiB)
//     while it writes, and drops them after a keepalive tick without
//     writing.
//
// TestIdleConnectionsDeclaringLargeFramesHoldLittle measures the first
// and third: 3,000 connections that each declare a frame of 2 MiB and
// send nothing more grow the heap by about 27 MiB, and the goroutine
// stacks by about 24 MiB (before, about 6 GiB: each frame's declared
// length and a 64 KiB read buffer were allocated up front).
//
// # Errors
//
// Errors crossing the wire are *Error: a Code and a message. Codes 1..99
// are this package's (CodeUnavailable and so on); codes from 100 belong to
// applications and pass through untouched: a handler error with a method
// RPCCode() uint16 travels with that code. Context errors map to
// CodeCanceled and CodeDeadlineExceeded, and errors.Is matches them
// against context.Canceled and context.DeadlineExceeded.
//
// # Performance
//
// BenchmarkUnary (256-byte echo calls over loopback TCP, all callers
// sharing one connection) against the same calls through the standard
// library's net/rpc (BenchmarkNetRPCUnary), on a shared 2-core VM:
//
//	callers   rpc calls/s   net/rpc calls/s
//	      1       ~42,000           ~43,000
//	     16      ~190,000           ~50,000
//	    256      ~340,000           ~68,000
//
// One caller is bound by the round trip (a write and a read system call
// each way), where the two are equal; with many callers rpc batches frames
// into shared writes. Run: go test -run XXX -bench Unary ./rpc
package rpc
