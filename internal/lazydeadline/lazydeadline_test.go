package lazydeadline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type testKey struct{}

type markKey struct{}

// A Context looks like context.WithTimeout from outside, but
// starts no timer for a call that never waits.
func TestStartsNoTimerUntilWaitedOn(t *testing.T) {
	parent := context.WithValue(context.Background(), testKey{}, "v")
	before := time.Now()
	c := New(parent, time.Now().Add(time.Hour), markKey{})
	defer c.Release()
	dl, ok := c.Deadline()
	if !ok || dl.Before(before.Add(time.Hour)) || dl.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Deadline() = %v, %v; want about an hour from now", dl, ok)
	}
	if c.Err() != nil || c.Value(markKey{}) != true || c.Value(testKey{}) != "v" {
		t.Fatalf("Err %v, member mark %v, caller's value %v", c.Err(), c.Value(markKey{}), c.Value(testKey{}))
	}
	if c.armed.Load() {
		t.Fatal("the timer started without a Done")
	}
	done := c.Done()
	if !c.armed.Load() || c.Done() != done {
		t.Fatal("Done did not start the timer once")
	}
	if c.Value(testKey{}) != "v" || c.Value(markKey{}) != true {
		t.Fatal("values lost once the timer started")
	}
}

// Every way a Context ends, against what context.WithTimeout
// gives in the same case.
func TestEndsAsWithTimeout(t *testing.T) {
	cause := errors.New("the caller went away")
	cases := []struct {
		name    string
		timeout time.Duration
		// end ends the context: by the caller's context, the deadline, or
		// the release.
		end func(cancelParent context.CancelCauseFunc, release func())
		// waitFirst calls Done before the end (the timer running).
		waitFirst bool
	}{
		{"deadline, waited on", 20 * time.Millisecond, func(context.CancelCauseFunc, func()) { time.Sleep(30 * time.Millisecond) }, true},
		{"deadline, never waited on", 20 * time.Millisecond, func(context.CancelCauseFunc, func()) { time.Sleep(30 * time.Millisecond) }, false},
		{"caller canceled, waited on", time.Hour, func(cancel context.CancelCauseFunc, _ func()) { cancel(cause) }, true},
		{"caller canceled, never waited on", time.Hour, func(cancel context.CancelCauseFunc, _ func()) { cancel(cause) }, false},
		{"released, waited on", time.Hour, func(_ context.CancelCauseFunc, release func()) { release() }, true},
		{"released, never waited on", time.Hour, func(_ context.CancelCauseFunc, release func()) { release() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(make func(context.Context) (context.Context, func())) (error, error) {
				parent, cancelParent := context.WithCancelCause(context.Background())
				defer cancelParent(nil)
				ctx, release := make(parent)
				defer release()
				ends := []context.Context{ctx}
				if tc.waitFirst {
					// A child context waits on it too (the context
					// package looks for the timer behind Done).
					child, cancelChild := context.WithCancel(ctx)
					defer cancelChild()
					ends = append(ends, child)
					select {
					case <-ctx.Done():
						t.Fatal("done before it ended")
					default:
					}
				}
				tc.end(cancelParent, release)
				for _, c := range ends {
					select {
					case <-c.Done():
					case <-time.After(5 * time.Second):
						t.Fatal("not done after it ended")
					}
				}
				for _, c := range ends[1:] {
					if c.Err() != ctx.Err() {
						t.Errorf("a child context ended with %v, its parent with %v", c.Err(), ctx.Err())
					}
				}
				return ctx.Err(), context.Cause(ctx)
			}
			wantErr, wantCause := run(func(p context.Context) (context.Context, func()) {
				return context.WithTimeout(p, tc.timeout)
			})
			gotErr, gotCause := run(func(p context.Context) (context.Context, func()) {
				c := New(p, time.Now().Add(tc.timeout), nil)
				return c, c.Release
			})
			if gotErr != wantErr || gotCause != wantCause {
				t.Errorf("ended with %v (cause %v), context.WithTimeout with %v (cause %v)", gotErr, gotCause, wantErr, wantCause)
			}
		})
	}
}

// Err finds an expired deadline without a Done, and the timer's context
// answers from then on.
func TestErrSeesExpiry(t *testing.T) {
	c := New(context.Background(), time.Now().Add(time.Millisecond), nil)
	defer c.Release()
	time.Sleep(5 * time.Millisecond)
	if err := c.Err(); err != context.DeadlineExceeded {
		t.Fatalf("Err() = %v after the deadline, want %v", err, context.DeadlineExceeded)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Err reported the deadline but Done is open")
	}
	if cause := context.Cause(c); cause != context.DeadlineExceeded {
		t.Fatalf("Cause = %v, want %v", cause, context.DeadlineExceeded)
	}
}

// Many goroutines waiting at once start one timer and see one channel
// (run with -race).
func TestConcurrentWaiters(t *testing.T) {
	c := New(context.Background(), time.Now().Add(20*time.Millisecond), nil)
	defer c.Release()
	var wg sync.WaitGroup
	chans := make([]<-chan struct{}, 16)
	for i := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Err()
			chans[i] = c.Done()
			<-chans[i]
		}()
	}
	wg.Wait()
	for _, ch := range chans {
		if ch != chans[0] {
			t.Fatal("waiters saw different Done channels")
		}
	}
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("Err() = %v, want %v", c.Err(), context.DeadlineExceeded)
	}
}

// A Watch ends a wait as the context would (its deadline, its parent's
// end) or at its own limit, without arming a Context.
func TestWatch(t *testing.T) {
	const soon, late = 20 * time.Millisecond, time.Hour
	cases := []struct {
		name     string
		deadline time.Duration // of the Context (0: a plain cancelable context)
		limit    time.Duration // 0: none
		cancel   bool          // the parent is canceled
		want     error         // from Err; nil: the wait must not end
	}{
		{"the context's deadline", soon, 0, false, context.DeadlineExceeded},
		{"the limit first", late, soon, false, context.DeadlineExceeded},
		{"the deadline before the limit", soon, late, false, context.DeadlineExceeded},
		{"the parent ends", late, late, true, context.Canceled},
		{"neither", late, late, false, nil},
		{"a plain context canceled", 0, late, true, context.Canceled},
		{"a plain context and a limit", 0, soon, false, context.DeadlineExceeded},
		{"a plain context, no limit", 0, 0, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			var ctx context.Context = parent
			var lazy *Context
			if tc.deadline > 0 {
				lazy = New(parent, time.Now().Add(tc.deadline), nil)
				defer lazy.Release()
				ctx = lazy
			}
			var limit time.Time
			if tc.limit > 0 {
				limit = time.Now().Add(tc.limit)
			}
			w := NewWatch(ctx, limit)
			defer w.Stop()
			if tc.cancel {
				cancel()
			}
			var err error
			select {
			case <-w.Expired:
				err = w.Err()
			case <-w.Ended:
				err = w.Err()
			case <-time.After(soon + 200*time.Millisecond):
			}
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("the wait ended with %v, want %v", err, tc.want)
			}
			if lazy != nil && tc.want == nil && lazy.armed.Load() {
				t.Fatal("the Watch started the Context's timer")
			}
			if lazy != nil && tc.limit == soon && tc.deadline == late && ctx.Err() != nil {
				t.Fatalf("the limit ended the context itself: %v", ctx.Err())
			}
		})
	}
}
