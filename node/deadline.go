package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// withDeadline bounds a call whose caller gave no deadline by the
// request timeout, and marks the deadline as the member's own
// (memberDeadlineKey). The caller releases the bound when the call ends
// (nil when ctx had a deadline already; release is nil-safe).
func (s *Server) withDeadline(ctx context.Context) (context.Context, *memberDeadline) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, nil
	}
	bound := newMemberDeadline(ctx, s.requestTimeout())
	return bound, bound
}

// memberDeadline is a caller's context bounded by the member's request
// timeout (withDeadline) for a call whose caller gave no deadline.
//
// It reports its deadline from the start, but starts the timer that
// enforces it only when something waits on the call: the first Done, or
// Err once the deadline has passed. Most calls never wait (a serializable
// read answers from the local store), and context.WithTimeout on every
// call cost a timer and four allocations more than this one, which was a
// measurable part of a read through either face. A call that waits gets
// an ordinary timer context, made from the caller's, from then on: it
// ends at the deadline or when the caller's ends, whichever is first,
// with the same errors and causes context.WithDeadline gives.
type memberDeadline struct {
	parent   context.Context // the caller's, without a deadline
	deadline time.Time

	armed    atomic.Bool // timer is set (under mu) and fixed from then on
	mu       sync.Mutex
	timer    context.Context // the context that enforces deadline, once armed
	stop     context.CancelFunc
	released atomic.Bool // release was called (set under mu)
}

func newMemberDeadline(parent context.Context, timeout time.Duration) *memberDeadline {
	return &memberDeadline{parent: parent, deadline: time.Now().Add(timeout)}
}

// Deadline is when the member gives up on the call.
func (c *memberDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// Done starts the timer, if it has not started, and returns its channel.
func (c *memberDeadline) Done() <-chan struct{} { return c.arm().Done() }

// Err is the caller's context's error, or context.DeadlineExceeded once
// the deadline has passed (context.Canceled once released), as the
// timer's context would report them.
func (c *memberDeadline) Err() error {
	if c.armed.Load() || c.released.Load() {
		return c.arm().Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return c.arm().Err() // expired: from now on the timer's context answers
	}
	return nil
}

// Value marks the deadline as the member's own (memberDeadlineKey) and
// looks every other key up in the timer's context once armed (so that
// the context package finds the cancelable context behind Done), in the
// caller's before.
func (c *memberDeadline) Value(key any) any {
	if key == (memberDeadlineKey{}) {
		return true
	}
	if c.armed.Load() {
		return c.timer.Value(key)
	}
	return c.parent.Value(key)
}

// arm starts the timer once and returns its context. After release it is
// already canceled, as a context.WithTimeout is once its cancel is
// called.
func (c *memberDeadline) arm() context.Context {
	if c.armed.Load() {
		return c.timer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed.Load() {
		c.timer, c.stop = context.WithDeadline(c.parent, c.deadline)
		if c.released.Load() {
			c.stop()
		}
		c.armed.Store(true)
	}
	return c.timer
}

// release ends the call: it stops the timer if it started. It does
// nothing on a nil memberDeadline (withDeadline bounds only calls
// without a deadline).
func (c *memberDeadline) release() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released.Store(true)
	if c.armed.Load() {
		c.stop()
	}
}
