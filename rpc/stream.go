package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// messageOverhead is added to each message's length when counting it
// against a flow-control window, so that even empty messages use credit
// and a peer cannot queue unboundedly many of them.
const messageOverhead = 16

func messageCost(n int) int { return n + messageOverhead }

// maxCredit bounds a stream's send credit; more means the peer is
// granting windows it never had (protocol violation).
const maxCredit = 1 << 50

// errSendClosed is what Send returns after CloseSend.
var errSendClosed = errors.New("rpc: send on a stream after CloseSend")

// errHandlerDone marks a server stream whose handler has returned.
var errHandlerDone = errors.New("rpc: stream handler has returned")

// Stream is a bidirectional stream of messages. Each direction ends on
// its own: the sender's CloseSend (or a handler returning nil) is a clean
// end and the receiver's Recv returns io.EOF after the last message; a
// handler returning an error ends the server's direction with that error
// (the client's Recv returns it as *Error). Close aborts both directions
// at once.
//
// Flow control: each side may have at most the receiver's StreamWindow
// bytes (plus one message) sent but not yet taken by Recv; Send blocks
// beyond that until the receiver reads. A client stream lives until both
// directions have ended, or until Close or its context ends: always do one
// of these, or the stream stays in the connection's table.
//
// One goroutine may Send (and CloseSend) while another Recv's; Close may
// be called from any goroutine at any time.
type Stream struct {
	sess   *session
	id     uint64
	method Method
	client bool
	ctx    context.Context
	cancel context.CancelFunc
	window int // this side's receive window

	mu sync.Mutex
	// receive direction
	recvQ     [][]byte
	recvBuf   int   // window bytes queued in recvQ
	unacked   int   // window bytes taken by Recv and not yet granted back
	recvErr   error // set when the peer's direction is over (io.EOF, *Error) or the stream aborted
	peerEnded bool  // the peer sent its end (or error end)
	recvWake  chan struct{}
	// send direction
	credit   int64 // bytes the peer will still accept
	sendErr  error // set when this side's direction is over (CloseSend, handler done, abort)
	sendWake chan struct{}
}

func newStream(s *session, m Method, ctx context.Context, cancel context.CancelFunc, client bool, credit uint64) *Stream {
	return &Stream{
		sess:     s,
		method:   m,
		client:   client,
		ctx:      ctx,
		cancel:   cancel,
		window:   s.opts.window,
		credit:   int64(credit),
		recvWake: make(chan struct{}, 1),
		sendWake: make(chan struct{}, 1),
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Context returns the stream's context: on the client, the context given
// to NewStream (canceled when the stream ends); in a handler, the
// handler's context (canceled when the client cancels, the connection
// dies, the deadline passes or the handler returns).
func (s *Stream) Context() context.Context { return s.ctx }

// Send sends one message. It blocks while the peer's window is exhausted,
// until the peer reads (window update), the context ends, or the stream or
// connection ends. msg may be reused once Send returns. A message larger
// than MaxFrameSize is refused with CodeResourceExhausted (nothing sent).
// After the server has finished the stream, the client's Send returns
// io.EOF; Recv tells how it finished.
func (s *Stream) Send(msg []byte) error {
	if len(msg) > s.sess.opts.maxBody {
		return errorf(CodeResourceExhausted, "stream message of %d bytes exceeds the limit of %d", len(msg), s.sess.opts.maxBody)
	}
	for {
		s.mu.Lock()
		if s.sendErr != nil {
			err := s.sendErr
			s.mu.Unlock()
			return err
		}
		if s.credit > 0 {
			s.credit -= int64(messageCost(len(msg)))
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		select {
		case <-s.sendWake:
		case <-s.ctx.Done():
			s.mu.Lock()
			err := s.sendErr
			s.mu.Unlock()
			if err == nil {
				err = s.ctx.Err()
			}
			return err
		}
	}
	return s.sess.push(&frame{kind: kindMessage, stream: s.id, body: msg}, true)
}

// Recv returns the next message, io.EOF after the peer's clean end, an
// *Error after its error end, or why the stream aborted (the context's
// error, CodeCanceled for Close or a reset, CodeUnavailable for a dead
// connection). The returned slice belongs to the caller.
func (s *Stream) Recv() ([]byte, error) {
	for {
		s.mu.Lock()
		if len(s.recvQ) > 0 {
			msg := s.recvQ[0]
			s.recvQ[0] = nil
			s.recvQ = s.recvQ[1:]
			cost := messageCost(len(msg))
			s.recvBuf -= cost
			grant := 0
			if s.recvErr == nil {
				s.unacked += cost
				if s.unacked >= s.window/2 {
					grant, s.unacked = s.unacked, 0
				}
			}
			s.mu.Unlock()
			if grant > 0 {
				_ = s.sess.push(&frame{kind: kindWindow, stream: s.id, window: uint64(grant)}, false)
			}
			return msg, nil
		}
		if s.recvErr != nil {
			err := s.recvErr
			s.mu.Unlock()
			return nil, err
		}
		s.mu.Unlock()
		select {
		case <-s.recvWake:
		case <-s.ctx.Done():
			s.mu.Lock()
			ready := len(s.recvQ) > 0 || s.recvErr != nil
			s.mu.Unlock()
			if !ready {
				return nil, s.ctx.Err()
			}
		}
	}
}

// CloseSend ends this side's direction cleanly: the peer's Recv returns
// io.EOF after the messages already sent. Recv keeps working.
func (s *Stream) CloseSend() error {
	s.mu.Lock()
	if s.sendErr != nil {
		err := s.sendErr
		s.mu.Unlock()
		if err == errSendClosed {
			return nil
		}
		return err
	}
	s.sendErr = errSendClosed
	finished := s.client && s.recvErr != nil
	s.mu.Unlock()
	err := s.sess.push(&frame{kind: kindEnd, stream: s.id}, true)
	if finished {
		s.retire()
	}
	return err
}

// Close aborts the stream in both directions: the peer is sent a cancel,
// pending and later Send and Recv calls here return CodeCanceled, and the
// handler's context (on either side) is canceled. Closing a finished
// stream does nothing.
func (s *Stream) Close() {
	s.abort(errorf(CodeCanceled, "stream closed"), true)
}

// abort ends both directions with err; tellPeer sends a cancel frame.
func (s *Stream) abort(err error, tellPeer bool) {
	s.mu.Lock()
	if s.recvErr != nil && s.sendErr != nil {
		s.mu.Unlock()
		return
	}
	s.abortLocked(err)
	s.mu.Unlock()
	wake(s.recvWake)
	wake(s.sendWake)
	if tellPeer {
		_ = s.sess.push(&frame{kind: kindCancel, stream: s.id}, false)
	}
	s.retire()
}

// abortLocked ends whatever direction is still open with err; messages
// not yet received are dropped.
func (s *Stream) abortLocked(err error) {
	if s.recvErr == nil {
		s.recvErr = err
		s.recvQ = nil
		s.recvBuf = 0
	}
	if s.sendErr == nil {
		s.sendErr = err
	}
}

// retire takes the stream out of the connection's table and cancels its
// context.
func (s *Stream) retire() {
	s.sess.remove(s.id, s)
	s.cancel()
}

// handle processes a frame for the stream on the reader goroutine.
func (s *Stream) handle(f *frame) error {
	switch f.kind {
	case kindMessage:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.peerEnded {
			return fmt.Errorf("message on stream %d after its end", s.id)
		}
		if s.recvErr != nil {
			return nil // aborted here; the peer will hear of it
		}
		cost := messageCost(len(f.body))
		if s.recvBuf+cost > s.window+messageCost(s.sess.opts.maxBody) {
			return fmt.Errorf("stream %d: peer sent %d bytes beyond the %d-byte window", s.id, s.recvBuf+cost-s.window, s.window)
		}
		s.recvQ = append(s.recvQ, f.body)
		s.recvBuf += cost
		wake(s.recvWake)
		return nil
	case kindEnd, kindError:
		s.mu.Lock()
		if s.peerEnded {
			s.mu.Unlock()
			return fmt.Errorf("second end on stream %d", s.id)
		}
		s.peerEnded = true
		if s.recvErr == nil {
			s.recvErr = io.EOF
			if f.kind == kindError {
				s.recvErr = &Error{Code: f.code, Message: string(f.body)}
			}
		}
		finished := s.client && s.sendErr != nil
		s.mu.Unlock()
		wake(s.recvWake)
		if finished {
			s.retire()
		}
		return nil
	case kindCancel:
		s.mu.Lock()
		if s.client && s.peerEnded {
			// The server finished its direction earlier; this cancel says
			// its handler has returned, so there is no one left to send to.
			if s.sendErr == nil {
				s.sendErr = io.EOF
			}
		} else {
			s.abortLocked(errorf(CodeCanceled, "stream reset by the peer"))
		}
		s.mu.Unlock()
		wake(s.recvWake)
		wake(s.sendWake)
		s.retire()
		return nil
	case kindWindow:
		s.mu.Lock()
		s.credit += int64(f.window)
		over := s.credit > maxCredit
		s.mu.Unlock()
		if over {
			return fmt.Errorf("stream %d: peer granted more than %d bytes of window", s.id, int64(maxCredit))
		}
		wake(s.sendWake)
		return nil
	}
	return fmt.Errorf("%s frame on stream %d", f.kind, s.id)
}

// fail ends the stream because the connection died.
func (s *Stream) fail(err *Error) {
	s.mu.Lock()
	s.abortLocked(err)
	s.mu.Unlock()
	wake(s.recvWake)
	wake(s.sendWake)
	s.cancel()
}

// finish ends a server stream when its handler returns: the server's
// direction ends with err (clean if nil) unless it ended already, and if
// the client's direction is still open a cancel tells the client to stop
// sending. Nothing is sent if the stream was aborted.
func (s *Stream) finish(err error) {
	s.mu.Lock()
	var end *frame
	if s.sendErr == nil {
		end = &frame{kind: kindEnd, stream: s.id}
		if err != nil {
			code, msg := wireError(err)
			end = &frame{kind: kindError, stream: s.id, code: code, body: []byte(truncate(msg, s.sess.opts.maxBody))}
		}
		s.sendErr = errHandlerDone
	}
	clientSending := s.recvErr == nil
	if clientSending {
		s.recvErr = errHandlerDone
		s.recvQ = nil
	}
	s.mu.Unlock()
	if end != nil {
		_ = s.sess.push(end, true)
	}
	if clientSending {
		_ = s.sess.push(&frame{kind: kindCancel, stream: s.id}, false)
	}
	s.retire()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
