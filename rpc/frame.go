package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/cairndb/cairn/internal/wire"
)

// Method names a procedure; services choose the numbers, rpc routes on them.
type Method uint16

// frameKind is the one-byte kind of a frame. The values are part of the
// wire format: never renumber.
type frameKind uint8

const (
	kindRequest  frameKind = 1  // client → server: unary call (timeout, token, body)
	kindResponse frameKind = 2  // server → client: unary result (body)
	kindOpen     frameKind = 3  // client → server: open a stream (timeout, token, window)
	kindMessage  frameKind = 4  // either way: one stream message (body)
	kindEnd      frameKind = 5  // either way: clean end of the sender's direction
	kindError    frameKind = 6  // server → client: error end of a call or stream (code, message)
	kindCancel   frameKind = 7  // either way: abort the call or stream in both directions
	kindWindow   frameKind = 8  // either way: grant the peer more stream credit (bytes)
	kindPing     frameKind = 9  // either way: keepalive probe (8 opaque bytes)
	kindPong     frameKind = 10 // either way: answer to a ping (the same 8 bytes)
	kindGoAway   frameKind = 11 // server → client: closing the connection (code, message)
	lastKind               = kindGoAway
)

var kindNames = [...]string{
	kindRequest: "request", kindResponse: "response", kindOpen: "open",
	kindMessage: "message", kindEnd: "end", kindError: "error",
	kindCancel: "cancel", kindWindow: "window", kindPing: "ping",
	kindPong: "pong", kindGoAway: "goaway",
}

func (k frameKind) String() string {
	if k >= 1 && k <= lastKind {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	// lengthSize is the u32 length prefix; the length counts what follows.
	lengthSize = 4
	// headerSize is kind (u8) + stream id (u64) + method (u16).
	headerSize = 1 + 8 + 2
	// MaxTokenSize bounds the credential a request or stream open carries
	// (see WithToken).
	MaxTokenSize = 4096
	// maxPrefix is the most a kind puts in the payload before its body:
	// an open frame's three uvarints and its token.
	maxPrefix = 3*wire.MaxVarintLen + MaxTokenSize
	// FrameOverhead is how far a frame's length field may exceed its body:
	// a frame carrying a body of n bytes has length ≤ n + FrameOverhead.
	FrameOverhead = headerSize + maxPrefix
	// maxWindowGrant bounds one window update (and an open frame's window).
	maxWindowGrant = 1 << 32
)

// errMalformed is wrapped by every error about a frame's contents (as
// opposed to I/O errors while reading it).
var errMalformed = errors.New("rpc: malformed frame")

// frame is one decoded frame. Which fields are meaningful depends on kind;
// the others are zero.
type frame struct {
	kind    frameKind
	stream  uint64        // 0 for connection frames (ping, pong, goaway)
	method  Method        // request and open only
	timeout time.Duration // request, open: time the caller will wait; 0 = no deadline
	token   string        // request, open: the caller's credential (see WithToken); "" = none
	window  uint64        // window: credit granted; open: the opener's receive window
	code    Code          // error, goaway
	ping    uint64        // ping, pong: opaque value echoed back
	body    []byte        // request, response, message: the body; error, goaway: the message
}

// appendFrame appends the encoding of f to b.
func appendFrame(b []byte, f *frame) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(f.kind))
	b = binary.BigEndian.AppendUint64(b, f.stream)
	b = binary.BigEndian.AppendUint16(b, uint16(f.method))
	switch f.kind {
	case kindRequest:
		b = wire.AppendUvarint(b, timeoutMicros(f.timeout))
		b = appendToken(b, f.token)
		b = append(b, f.body...)
	case kindOpen:
		b = wire.AppendUvarint(b, timeoutMicros(f.timeout))
		b = appendToken(b, f.token)
		b = wire.AppendUvarint(b, f.window)
	case kindResponse, kindMessage:
		b = append(b, f.body...)
	case kindError, kindGoAway:
		b = binary.BigEndian.AppendUint16(b, uint16(f.code))
		b = append(b, f.body...)
	case kindWindow:
		b = wire.AppendUvarint(b, f.window)
	case kindPing, kindPong:
		b = binary.BigEndian.AppendUint64(b, f.ping)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-lengthSize))
	return b
}

// timeoutMicros is a timeout on the wire: microseconds rounded up, so a
// tiny positive timeout never becomes "none".
func timeoutMicros(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Microsecond - 1) / time.Microsecond)
}

// firstChunk is the least a frame's payload is first given, before its
// bytes arrive: the declared length is trusted no further (see
// readPayload).
const firstChunk = 512

// frameReader decodes frames from a byte stream.
type frameReader struct {
	r       io.Reader
	maxBody int
	hdr     [lengthSize + headerSize]byte
	// budget, if set, lends what a payload needs beyond its first chunk;
	// a wait for it ends when done is closed, and calls waiting first.
	budget  *recvBudget
	done    <-chan struct{}
	waiting func()
}

// errBudgetWait ends a read that was waiting for the receive budget when
// the connection closed.
var errBudgetWait = errors.New("rpc: connection closed while waiting for the receive budget")

// read decodes the next frame. The length is checked against the limit
// before anything is allocated, and the payload is then allocated only as
// its bytes arrive (readPayload), so a hostile length costs nothing; the
// frame's body aliases the payload (the caller owns it). Errors wrapping
// errMalformed are protocol violations; others come from the reader
// (io.EOF between frames is a clean end).
func (fr *frameReader) read() (frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:lengthSize]); err != nil {
		return frame{}, err
	}
	length := uint64(binary.BigEndian.Uint32(fr.hdr[:lengthSize]))
	if length < headerSize {
		return frame{}, fmt.Errorf("%w: length %d is shorter than the %d-byte header", errMalformed, length, headerSize)
	}
	if limit := uint64(fr.maxBody) + FrameOverhead; length > limit {
		return frame{}, fmt.Errorf("%w: frame of %d bytes exceeds limit %d", errMalformed, length, limit)
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[lengthSize:]); err != nil {
		return frame{}, noEOF(err)
	}
	f := frame{
		kind:   frameKind(fr.hdr[lengthSize]),
		stream: binary.BigEndian.Uint64(fr.hdr[lengthSize+1:]),
		method: Method(binary.BigEndian.Uint16(fr.hdr[lengthSize+9:])),
	}
	if f.kind < 1 || f.kind > lastKind {
		return frame{}, fmt.Errorf("%w: unknown kind %d", errMalformed, uint8(f.kind))
	}
	payload, err := fr.readPayload(int(length - headerSize))
	if err != nil {
		return frame{}, err
	}
	if err := f.decodePayload(payload, fr.maxBody); err != nil {
		return frame{}, fmt.Errorf("%w: %s frame on stream %d: %v", errMalformed, f.kind, f.stream, err)
	}
	return f, nil
}

// readPayload reads a payload of n bytes, allocating it only as its bytes
// arrive: first what the reader has buffered already (at least
// firstChunk). Past the first chunk, the rest of the payload is taken from
// the budget at once, and given back when the payload is complete (the
// caller then owns it): a frame waits for the budget at most once, so
// frames that wait cannot hold each other up. With a budget, which
// bounds what all frames being received may hold, the whole payload is
// then allocated at once and the rest read straight into it: one copy of
// the first chunk, where growing it would copy and clear the payload
// about twice over (a 64 KiB value cost a third of a member's CPU in
// memmove and memclr). Without one (nothing bounds the frames), the
// payload grows twice as large each time it is still incomplete, so it
// holds at most about twice what has arrived.
func (fr *frameReader) readPayload(n int) ([]byte, error) {
	first := firstChunk
	if b, ok := fr.r.(interface{ Buffered() int }); ok {
		first = max(first, b.Buffered())
	}
	buf := make([]byte, min(n, first))
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return nil, noEOF(err)
	}
	if len(buf) == n {
		return buf, nil
	}
	rest := int64(n - len(buf))
	if !fr.budget.take(rest, fr.done, fr.waiting) {
		return nil, errBudgetWait
	}
	defer fr.budget.give(rest)
	if fr.budget != nil {
		whole := make([]byte, n)
		copy(whole, buf)
		if _, err := io.ReadFull(fr.r, whole[len(buf):]); err != nil {
			return nil, noEOF(err)
		}
		return whole, nil
	}
	for len(buf) < n {
		grown := make([]byte, min(n, 2*len(buf)))
		copy(grown, buf)
		if _, err := io.ReadFull(fr.r, grown[len(buf):]); err != nil {
			return nil, noEOF(err)
		}
		buf = grown
	}
	return buf, nil
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF: only an EOF
// between frames is a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodePayload checks the header fields against the kind and fills the
// kind's fields from the payload.
func (f *frame) decodePayload(p []byte, maxBody int) error {
	connLevel := f.kind == kindPing || f.kind == kindPong || f.kind == kindGoAway
	switch {
	case connLevel && f.stream != 0:
		return errors.New("connection frame must use stream 0")
	case !connLevel && f.stream == 0:
		return errors.New("stream 0 is reserved for connection frames")
	case f.kind != kindRequest && f.kind != kindOpen && f.method != 0:
		return fmt.Errorf("method %d set on a frame that carries none", f.method)
	}
	var err error
	switch f.kind {
	case kindRequest:
		if f.timeout, p, err = readTimeout(p); err != nil {
			return err
		}
		if f.token, p, err = readToken(p); err != nil {
			return err
		}
		f.body = p
	case kindOpen:
		if f.timeout, p, err = readTimeout(p); err != nil {
			return err
		}
		if f.token, p, err = readToken(p); err != nil {
			return err
		}
		if f.window, p, err = readWindow(p); err != nil {
			return err
		}
		if len(p) != 0 {
			return fmt.Errorf("%d trailing bytes", len(p))
		}
	case kindResponse, kindMessage:
		f.body = p
	case kindEnd, kindCancel:
		if len(p) != 0 {
			return fmt.Errorf("%d bytes of payload, want none", len(p))
		}
	case kindError, kindGoAway:
		if len(p) < 2 {
			return fmt.Errorf("%d bytes of payload, want at least a 2-byte code", len(p))
		}
		f.code = Code(binary.BigEndian.Uint16(p))
		f.body = p[2:]
	case kindWindow:
		if f.window, p, err = readWindow(p); err != nil {
			return err
		}
		if len(p) != 0 {
			return fmt.Errorf("%d trailing bytes", len(p))
		}
	case kindPing, kindPong:
		if len(p) != 8 {
			return fmt.Errorf("%d bytes of payload, want 8", len(p))
		}
		f.ping = binary.BigEndian.Uint64(p)
	}
	if len(f.body) > maxBody {
		return fmt.Errorf("body of %d bytes exceeds limit %d", len(f.body), maxBody)
	}
	return nil
}

func readTimeout(p []byte) (time.Duration, []byte, error) {
	us, n, err := wire.Uvarint(p)
	if err != nil {
		return 0, nil, fmt.Errorf("timeout: %w", err)
	}
	if us > math.MaxInt64/uint64(time.Microsecond) {
		return math.MaxInt64, p[n:], nil // longer than anyone will wait: clamp
	}
	return time.Duration(us) * time.Microsecond, p[n:], nil
}

// appendToken appends a token as a uvarint length and its bytes.
func appendToken(b []byte, token string) []byte {
	b = wire.AppendUvarint(b, uint64(len(token)))
	return append(b, token...)
}

func readToken(p []byte) (string, []byte, error) {
	n, k, err := wire.Uvarint(p)
	switch {
	case err != nil:
		return "", nil, fmt.Errorf("token length: %w", err)
	case n > MaxTokenSize:
		return "", nil, fmt.Errorf("token of %d bytes exceeds limit %d", n, MaxTokenSize)
	case n > uint64(len(p)-k):
		return "", nil, fmt.Errorf("token of %d bytes but only %d bytes follow", n, len(p)-k)
	}
	return string(p[k : k+int(n)]), p[k+int(n):], nil
}

func readWindow(p []byte) (uint64, []byte, error) {
	w, n, err := wire.Uvarint(p)
	if err != nil {
		return 0, nil, fmt.Errorf("window: %w", err)
	}
	if w == 0 || w > maxWindowGrant {
		return 0, nil, fmt.Errorf("window %d outside 1..%d", w, uint64(maxWindowGrant))
	}
	return w, p[n:], nil
}
