// Package lazydeadline bounds a context by a deadline without starting a
// timer until something waits on it.
//
// context.WithTimeout starts a runtime timer for every call it bounds,
// and most calls a member serves never wait on their context (a
// serializable read answers from the local store at once): the timer,
// its channel and four allocations were a measurable part of every call,
// made twice when both the RPC layer and the member bounded it. A
// Context reports its deadline from the start and enforces it from the
// first Done on.
package lazydeadline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Context is a parent context bounded by a deadline. It looks like
// context.WithDeadline from outside: it ends at the deadline or when the
// parent ends, whichever is first, with the errors and causes
// context.WithDeadline gives; but the timer that enforces the deadline
// starts only when something waits on it (the first Done, or Err once the
// deadline has passed). From then on an ordinary timer context, made from
// the parent, answers.
type Context struct {
	parent   context.Context // has no deadline of its own
	deadline time.Time
	mark     any // a Value key answered true (nil: none)

	armed    atomic.Bool // timer is set (under mu) and fixed from then on
	mu       sync.Mutex
	timer    context.Context // the context that enforces deadline, once armed
	stop     context.CancelFunc
	released atomic.Bool // Release was called (set under mu)
}

// New returns parent bounded by deadline. mark, if not nil, is a Value
// key the context answers true to (a way to tell these deadlines from
// those callers set). parent must have no deadline of its own.
func New(parent context.Context, deadline time.Time, mark any) *Context {
	return &Context{parent: parent, deadline: deadline, mark: mark}
}

// Deadline is when the context ends.
func (c *Context) Deadline() (time.Time, bool) { return c.deadline, true }

// Done starts the timer, if it has not started, and returns its channel.
func (c *Context) Done() <-chan struct{} { return c.arm().Done() }

// Err is the parent's error, or context.DeadlineExceeded once the
// deadline has passed (context.Canceled once released), as the timer's
// context would report them.
func (c *Context) Err() error {
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

// Value answers true for the mark and looks every other key up in the
// timer's context once armed (so that the context package finds the
// cancelable context behind Done), in the parent before.
func (c *Context) Value(key any) any {
	if c.mark != nil && key == c.mark {
		return true
	}
	if c.armed.Load() {
		return c.timer.Value(key)
	}
	return c.parent.Value(key)
}

// arm starts the timer once and returns its context. After Release it is
// already canceled, as a context.WithDeadline is once its cancel is
// called.
func (c *Context) arm() context.Context {
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

// Release ends the context (its cancel): it stops the timer if it
// started. It does nothing on a nil Context.
func (c *Context) Release() {
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

// A Watch is what a goroutine selects on to learn that a context ended
// while it waits for something else, without making a Context start its
// timer: for a Context not yet armed it is one plain timer for the
// deadline and the parent's Done; for any other context, its Done. It
// may bound the wait further (NewWatch's limit). A member's proposal
// waits on one: with Done it made a timer context, and registered it
// with the parent, for every write.
type Watch struct {
	// Expired fires once the deadline (the context's or the limit,
	// whichever is first) has passed; nil if there is none to watch.
	Expired <-chan time.Time
	// Ended is closed when the context ends for another reason (for a
	// Context, when its parent ends); nil if it never does.
	Ended <-chan struct{}

	ctx   context.Context
	timer *time.Timer
}

// NewWatch returns a Watch of ctx, bounded also by limit unless it is
// zero. Stop it when done waiting.
func NewWatch(ctx context.Context, limit time.Time) Watch {
	w := Watch{ctx: ctx}
	deadline := limit
	if c, ok := ctx.(*Context); ok && !c.armed.Load() && !c.released.Load() {
		w.Ended = c.parent.Done()
		if deadline.IsZero() || c.deadline.Before(deadline) {
			deadline = c.deadline
		}
	} else {
		// ctx.Done covers ctx's own deadline, if it has one.
		w.Ended = ctx.Done()
	}
	if !deadline.IsZero() {
		w.timer = time.NewTimer(time.Until(deadline))
		w.Expired = w.timer.C
	}
	return w
}

// Err is why the wait ended, once Expired or Ended fired: the context's
// error, or context.DeadlineExceeded if only the limit passed.
func (w *Watch) Err() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// Stop releases the Watch's timer.
func (w *Watch) Stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}
