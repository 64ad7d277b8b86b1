package rpc

import (
	"io"
	"sync"
)

// The read side of a connection buffers what it reads in two sizes. A
// connection waiting for its peer — most of them, most of the time — has
// only a small buffer of its own, so that thousands of idle connections
// cost little. When a read brings a small buffer's worth or more, the
// peer is busy: the connection borrows a large buffer and reads many
// frames per system call, until a read brings less and the buffer goes
// back. Reads of a large payload go straight into it. A server lends large
// buffers from a quarter of its receive budget: when that is spent, busy
// connections read in small chunks instead, more slowly but in bounded
// memory, and never at the expense of frames (which have the rest).
const (
	smallReadBuffer = 4 << 10
	largeReadBuffer = 64 << 10
)

// handshakeBufferSize is the buffered reader of the handshake, which only
// looks at the first bytes (the hello, or a foreign protocol's): the
// smallest bufio allows, so that connections that never finish their
// handshake cost little; later reads of its size or more bypass it.
const handshakeBufferSize = 16

// readBuffers lends large read buffers, within a budget (nil: no bound).
type readBuffers struct {
	pool   sync.Pool // of *[]byte of largeReadBuffer bytes
	budget *recvBudget
}

// get lends a large buffer, or returns nil when the budget has no room.
func (rb *readBuffers) get() *[]byte {
	if !rb.budget.tryTake(largeReadBuffer) {
		return nil
	}
	if b, ok := rb.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, largeReadBuffer)
	return &b
}

// put takes a buffer back.
func (rb *readBuffers) put(b *[]byte) {
	rb.pool.Put(b)
	rb.budget.give(largeReadBuffer)
}

// connReader is the buffered reader in front of a connection (see the top
// of this file). Only the session's reader goroutine uses it.
type connReader struct {
	src     io.Reader // the handshake's reader: its leftover bytes, then the connection
	buffers *readBuffers
	buf     []byte  // small[:] or *large
	large   *[]byte // borrowed, or nil
	r, w    int     // buf[r:w] is read but not yet taken
	busy    bool    // the last read brought at least a small buffer's worth
	small   [smallReadBuffer]byte
}

func newConnReader(src io.Reader, buffers *readBuffers) *connReader {
	c := &connReader{src: src, buffers: buffers}
	c.buf = c.small[:]
	return c
}

// Read reads into p what is buffered, or else from the connection: a read
// of at least a small buffer's size straight into p, a smaller one through
// the buffer.
func (c *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.r == c.w {
		if len(p) >= smallReadBuffer {
			// The rest of a large payload: once it is in, the peer may
			// have nothing more, so the next read starts small.
			c.release()
			c.busy = false
			return c.src.Read(p)
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	return n, nil
}

// Buffered is how many bytes have been read from the connection and not
// yet taken.
func (c *connReader) Buffered() int { return c.w - c.r }

// fill reads from the connection into the empty buffer: a large one while
// the peer is busy, the small one otherwise.
func (c *connReader) fill() error {
	c.r, c.w = 0, 0
	if c.busy && c.large == nil {
		c.large = c.buffers.get()
	} else if !c.busy {
		c.release()
	}
	c.buf = c.small[:]
	if c.large != nil {
		c.buf = *c.large
	}
	for range 100 {
		n, err := c.src.Read(c.buf)
		if n > 0 {
			c.w = n
			c.busy = n >= smallReadBuffer
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// release gives the large buffer back, if the reader has one; the buffer
// must be empty.
func (c *connReader) release() {
	if c.large != nil {
		c.buffers.put(c.large)
		c.large = nil
		c.buf = c.small[:]
	}
}
